// Package e2e runs the real lubdub binary in network namespaces, as an
// operator would: several nodes on bridged segments, killed, restarted,
// cut off, misconfigured, and mixed with Debian's Heartbeat 3.0.6.
package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
)

// cluster builds one segment (198.18.0.0/24, bcast on eth0) with the named
// nodes and starts them.
func cluster(t *testing.T, names []string, extraHacf string) (*lab.Lab, map[string]*node) {
	t.Helper()
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	nodes := map[string]*node{}
	hacf := fastTimings + "udpport 694\nbcast eth0\nnode " + strings.Join(names, " ") + "\n" + extraHacf
	for i, name := range names {
		nodes[name] = setupNode(t, l, addHost(t, l, name, i+1, "br0"), name, hacf, sha256Keys)
	}
	for _, name := range names {
		nodes[name].Start(t)
	}
	return l, nodes
}

// activeCluster is cluster, waited on until every node lists every other
// as active.
func activeCluster(t *testing.T, names []string) map[string]*node {
	t.Helper()
	_, nodes := cluster(t, names, "")
	if !waitFor(10*time.Second, func() bool { return allActive(nodes, names) }) {
		t.Fatal("cluster did not come up")
	}
	return nodes
}

func TestNodesComeUpActive(t *testing.T) {
	for _, names := range [][]string{{"node1", "node2"}, {"node1", "node2", "node3"}} {
		t.Run(fmt.Sprintf("%d-nodes", len(names)), func(t *testing.T) {
			_, nodes := cluster(t, names, "")
			if !waitFor(10*time.Second, func() bool { return allActive(nodes, names) }) {
				t.Fatal("nodes did not all list each other as active")
			}
			// cl_status answers as Heartbeat's does.
			n1 := nodes["node1"]
			// Last first, as Heartbeat's client library prepends each node.
			want := slices.Clone(names)
			slices.Reverse(want)
			out, code := n1.ClStatus("listnodes")
			if code != 0 || strings.Join(strings.Fields(out), " ") != strings.Join(want, " ") {
				t.Errorf("listnodes = %q (exit %d), want the nodes last first", out, code)
			}
			out, code = n1.ClStatus("nodestatus", "node2")
			if code != 0 || strings.TrimSpace(out) != "active" {
				t.Errorf("nodestatus node2 = %q (exit %d)", out, code)
			}
			out, code = n1.ClStatus("hbstatus")
			if code != 0 || strings.TrimSpace(out) != "Heartbeat is running on this machine." {
				t.Errorf("hbstatus = %q (exit %d)", out, code)
			}
			out, code = n1.ClStatus("hblinkstatus", "node2", "eth0")
			if code != 0 || strings.TrimSpace(out) != "up" {
				t.Errorf("hblinkstatus = %q (exit %d)", out, code)
			}
			out, code = n1.ClStatus("hbparameter", "-p", "deadtime")
			if code != 0 || strings.TrimSpace(out) != "400ms" {
				t.Errorf("hbparameter -p deadtime = %q (exit %d)", out, code)
			}
			out, code = n1.ClStatus("nodestatus", "nosuchnode")
			if code != 11 {
				t.Errorf("nodestatus of an unknown node: exit %d (%q), want 11", code, out)
			}
			for _, n := range nodes {
				s, err := n.Status()
				must(t, err)
				if len(s.Drops) != 0 {
					t.Errorf("%s dropped packets: %v", n.Name, s.Drops)
				}
			}
		})
	}
}

// A node killed with SIGKILL is reported dead by the others within
// deadtime plus one keepalive; restarted, it is back with a new generation.
func TestKilledNodeDeadThenBack(t *testing.T) {
	names := []string{"node1", "node2", "node3"}
	nodes := activeCluster(t, names)
	v, _ := nodes["node1"].View("node3")
	oldGen := v.Generation
	const bound = 400*time.Millisecond + 100*time.Millisecond // deadtime + keepalive

	killed := time.Now()
	must(t, nodes["node3"].Proc.Signal(syscall.SIGKILL))
	seen := map[string]time.Duration{}
	waitFor(3*time.Second, func() bool {
		for _, on := range []string{"node1", "node2"} {
			if _, done := seen[on]; done {
				continue
			}
			if v, ok := nodes[on].View("node3"); ok && v.Status == "dead" {
				seen[on] = time.Since(killed)
			}
		}
		return len(seen) == 2
	})
	for _, on := range []string{"node1", "node2"} {
		took, ok := seen[on]
		switch {
		case !ok:
			t.Errorf("%s never reported node3 dead", on)
		case took > bound:
			t.Errorf("%s reported node3 dead %v after SIGKILL; want within deadtime + keepalive (%v)", on, took, bound)
		default:
			t.Logf("%s: node3 dead %v after SIGKILL", on, took.Round(time.Millisecond))
		}
	}
	if !strings.Contains(nodes["node1"].Proc.Output(), "WARN: node node3: is dead") {
		t.Error("node1 did not log 'node node3: is dead'")
	}
	if v, _ := nodes["node1"].View("node2"); v.Status != "active" {
		t.Errorf("node2 is %s after node3's death", v.Status)
	}
	out, code := nodes["node1"].ClStatus("nodestatus", "node3")
	if strings.TrimSpace(out) != "dead" || code != 1 {
		t.Errorf("cl_status nodestatus node3 = %q exit %d, want dead exit 1", out, code)
	}

	nodes["node3"].Start(t)
	if !waitFor(10*time.Second, func() bool { return allActive(nodes, names) }) {
		t.Fatal("restarted node3 did not come back active")
	}
	v, _ = nodes["node1"].View("node3")
	if v.Generation <= oldGen {
		t.Errorf("node3 came back with generation %d, not above %d", v.Generation, oldGen)
	}
	if !strings.Contains(nodes["node1"].Proc.Output(), "Heartbeat restart on node node3") {
		t.Error("node1 did not log the restart")
	}
}

// A clean stop (SIGTERM) tells the peers, which do not wait for deadtime.
func TestSigtermTellsPeers(t *testing.T) {
	nodes := activeCluster(t, []string{"node1", "node2"})
	stopped := time.Now()
	must(t, nodes["node2"].Proc.Signal(syscall.SIGTERM))
	if !waitFor(time.Second, func() bool { v, _ := nodes["node1"].View("node2"); return v.Status == "dead" }) {
		t.Fatal("node1 did not see node2 stop")
	}
	if took := time.Since(stopped); took >= 400*time.Millisecond {
		t.Errorf("node1 took %v to see a clean stop: it waited for deadtime", took)
	}
	if exited, err := nodes["node2"].Proc.Wait(5 * time.Second); !exited || err != nil {
		t.Fatalf("node2 did not exit cleanly on SIGTERM: exited=%v err=%v", exited, err)
	}
	if _, err := os.Stat(nodes["node2"].Sock); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
}

// With two media, cutting one shows that link dead; the node stays alive.
func TestOneMediumCut(t *testing.T) {
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	must(t, l.Segment("br1", 1))
	hacf := fastTimings + "bcast eth0\nmcast eth1 239.1.2.3 694 1 0\nnode node1 node2\n"
	nodes := map[string]*node{}
	for i, name := range []string{"node1", "node2"} {
		nodes[name] = setupNode(t, l, addHost(t, l, name, i+1, "br0", "br1"), name, hacf, sha256Keys)
		nodes[name].Start(t)
	}
	names := []string{"node1", "node2"}
	linkIs := func(want string) func() bool {
		return func() bool {
			v, ok := nodes["node1"].View("node2")
			return ok && len(v.Links) == 2 && v.Links[1].Status == want && v.Links[0].Status == "up"
		}
	}
	if !waitFor(10*time.Second, func() bool { return allActive(nodes, names) && linkIs("up")() }) {
		t.Fatal("cluster with two media did not come up")
	}
	must(t, nodes["node2"].Host.Cut("eth1"))
	if !waitFor(3*time.Second, linkIs("dead")) {
		v, _ := nodes["node1"].View("node2")
		t.Fatalf("link node2:eth1 not dead after the cut: %+v", v.Links)
	}
	if v, _ := nodes["node1"].View("node2"); v.Status != "active" {
		t.Fatalf("node2 is %s with one medium left", v.Status)
	}
	out, code := nodes["node1"].ClStatus("hblinkstatus", "node2", "eth1")
	if strings.TrimSpace(out) != "dead" || code != 1 {
		t.Errorf("hblinkstatus node2 eth1 = %q exit %d", out, code)
	}
	if !strings.Contains(nodes["node1"].Proc.Output(), "Link node2:eth1 dead.") {
		t.Error("link death not logged")
	}
	must(t, nodes["node2"].Host.Heal("eth1"))
	if !waitFor(3*time.Second, linkIs("up")) {
		t.Fatal("link node2:eth1 did not come back")
	}
}

// A node with the wrong key is never counted alive; the others say why.
func TestWrongKeyNeverAlive(t *testing.T) {
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	hacf := fastTimings + "bcast eth0\nnode node1 node2 node3\n"
	nodes := map[string]*node{}
	for i, name := range []string{"node1", "node2", "node3"} {
		h := addHost(t, l, name, i+1, "br0")
		keys := sha256Keys
		if name == "node3" {
			keys = "auth 1\n1 sha256 not-the-cluster-secret\n"
		}
		nodes[name] = setupNode(t, l, h, name, hacf, keys)
		nodes[name].Start(t)
	}
	if !waitFor(10*time.Second, func() bool { return allActive(nodes, []string{"node1", "node2"}) }) {
		t.Fatal("node1 and node2 did not come up")
	}
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		for _, on := range []string{"node1", "node2"} {
			if v, _ := nodes[on].View("node3"); v.Status == "active" || v.Status == "up" {
				t.Fatalf("%s counts node3, which has the wrong key, as %s", on, v.Status)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s, err := nodes["node1"].Status()
	must(t, err)
	if s.Drops["bad-digest"] == 0 {
		t.Errorf("no bad-digest drops counted: %v", s.Drops)
	}
	if out := nodes["node1"].Proc.Output(); !strings.Contains(out, "dropped packet from node3 (198.18.0.3") || !strings.Contains(out, "bad-digest") {
		t.Errorf("node1 did not log why node3's packets were dropped:\n%s", out)
	}
	if v, _ := nodes["node1"].View("node3"); v.Status != "dead" {
		t.Errorf("node3 is %s after initdead, want dead", v.Status)
	}
}
