package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
)

// routerAddr is the ping node: a router on the nodes' segment.
const routerAddr = "198.18.0.200"

// cutPing drops node's ICMP to and from the router (or lets it through
// again), as a node whose uplink failed.
func cutPing(t *testing.T, n *node, cut bool) {
	t.Helper()
	n.Filter(t, "ldbping", cut, map[string]string{"input": "ip saddr " + routerAddr + " drop", "output": "ip daddr " + routerAddr + " drop"})
}

// Issue 8, ping nodes: Heartbeat's ping line makes the router a ping node
// (cl_status shows it as Heartbeat does), and ipfail's rule is built in:
// the node that reaches fewer ping nodes gives the group to its peer and
// gets it back when it reaches as many again; two live nodes cut apart
// while both reach the router leave the group where it is (the silent
// node's VIP still answers ARP); a crashed node's group moves at once.
func TestPingNodeTieBreaker(t *testing.T) {
	c := haSetupEach(t, "on", nil, func(n *node) {
		f := filepath.Join(n.Dir, "ha.cf")
		hacf, err := os.ReadFile(f)
		must(t, err)
		must(t, os.WriteFile(f, append(hacf, []byte("ping "+routerAddr+"\nrespawn hacluster /usr/lib/heartbeat/ipfail\n")...), 0o644))
	})
	addHost(t, c.Lab, "router", 200, "br0")
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	n1, n2 := c.Nodes["node1"], c.Nodes["node2"]
	for _, n := range []*node{n1, n2} {
		if !waitFor(5*time.Second, func() bool { out, _ := n.ClStatus("nodestatus", routerAddr); return strings.TrimSpace(out) == "ping" }) {
			out, code := n.ClStatus("nodestatus", routerAddr)
			t.Fatalf("cl_status nodestatus %s on %s: %q exit %d, want ping", routerAddr, n.Name, out, code)
		}
		if out, code := n.ClStatus("nodetype", routerAddr); strings.TrimSpace(out) != "ping" || code != 0 {
			t.Errorf("cl_status nodetype %s: %q exit %d", routerAddr, out, code)
		}
		if out, _ := n.ClStatus("listnodes", "-p"); strings.TrimSpace(out) != routerAddr {
			t.Errorf("cl_status listnodes -p: %q, want the ping node only", out)
		}
		if out, _ := n.ClStatus("listnodes", "-n"); strings.Fields(out) == nil || strings.Contains(out, routerAddr) {
			t.Errorf("cl_status listnodes -n: %q, want the cluster nodes only", out)
		}
		if out, _ := n.ClStatus("listnodes"); !strings.Contains(out, routerAddr) || !strings.Contains(out, "node1") {
			t.Errorf("cl_status listnodes: %q", out)
		}
	}
	if out, errOut, code := n1.Host.Output(10*time.Second, e2ekit.CLI, "check", "-c", n1.Dir, "--node", "node1"); code != 0 ||
		!strings.Contains(out+errOut, "ipfail's rule is built into lubdub") || !strings.Contains(out+errOut, "ping "+routerAddr) {
		t.Errorf("lubdub check: exit %d, want the ping node listed and the ipfail line noted:\n%s%s", code, out, errOut)
	}

	// node1's uplink fails: it reaches no ping node, node2 reaches one.
	cutPing(t, n1, true)
	cut := time.Now()
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("node1 reaches fewer ping nodes, but node2 did not take the group:\n%s", c.Probe.Output())
	}
	t.Logf("group on node2 %v after node1's uplink failed (deadping 400 ms)", time.Since(cut).Round(time.Millisecond))
	if s, err := n1.Status(); err != nil || !strings.Contains(s.Ping, "reaches 0 of 1 ping nodes; node2 reaches 1") {
		t.Errorf("node1's status: %v %+v", err, s)
	}
	if !strings.Contains(n1.Proc.Output(), "node "+routerAddr+": is dead") {
		t.Error("node1 did not log the ping node's death as Heartbeat does")
	}
	cutPing(t, n1, false)
	if !c.Served("node1", 10*time.Second) {
		t.Fatalf("node1 reaches the router again, but the group did not come back (auto_failback on):\n%s", c.Probe.Output())
	}

	// The nodes stop hearing each other; both reach the router: nothing
	// moves, and the client is served throughout.
	before := len(strings.Split(c.Probe.Output(), "\n"))
	dropHeartbeats(t, n1, true)
	if !waitFor(5*time.Second, func() bool {
		s, err := n2.Status()
		return err == nil && strings.Contains(s.AddrChecks["node1"], "still answers")
	}) {
		s, _ := n2.Status()
		t.Fatalf("node2 does not say that node1's VIP still answers: %+v\n%s", s, n2.Proc.Output())
	}
	time.Sleep(2 * time.Second)
	dropHeartbeats(t, n1, false)
	if !waitFor(5*time.Second, func() bool { v, ok := n2.View("node1"); return ok && v.Status == "active" }) {
		t.Fatal("node2 does not hear node1 again after the partition")
	}
	time.Sleep(time.Second)
	if after := strings.Split(c.Probe.Output(), "\n")[before-1:]; strings.Contains(strings.Join(after, "\n"), "fail") || !c.Served("node1", 0) {
		t.Errorf("the client saw a change during the partition:\n%s", strings.Join(after, "\n"))
	}
	if o, _, _ := n2.Host.Output(time.Second, "ip", "-4", "-o", "addr", "show", "dev", "eth0"); strings.Contains(o, " "+vip+"/") {
		t.Error("node2 took the VIP during the partition")
	}

	// node1 crashes (its link goes with it): nothing answers for the VIP,
	// and node2 takes over.
	crashed := time.Now()
	c.Crash("node1")
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("no takeover after node1's crash:\n%s\n%s", c.Probe.Output(), n2.Proc.Output())
	}
	t.Logf("crash to served by node2: %v", time.Since(crashed).Round(time.Millisecond))
	if !strings.Contains(n2.Proc.Output(), "none of its groups' addresses answers") {
		t.Error("node2 did not say why it took over")
	}
}
