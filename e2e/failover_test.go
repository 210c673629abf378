package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"
)

const vip = "198.18.0.10"

// haCluster is the seed's scenario: two nodes sharing a VIP and a web
// server that says which node serves, and a client on the same segment.
type haCluster struct {
	t      *testing.T
	l      *lab.Lab
	nodes  map[string]*node
	client *lab.Host
	probed
	watch *vipWatch
}

// probed is a cluster whose client polls the VIP (lubdub probe).
type probed struct{ probe *lab.Proc }

// haSetup builds the cluster; extra files go into node1's configuration
// directory before it starts, extra lines into both nodes' lubdub.cf.
func haSetup(t *testing.T, autoFailback string, node1Files map[string]string, lubdubCf ...string) *haCluster {
	t.Helper()
	return haSetupEach(t, autoFailback, node1Files, nil, lubdubCf...)
}

// haSetupEach is haSetup with prepare (if not nil) called for each node
// once its configuration directory is written, before any node starts.
func haSetupEach(t *testing.T, autoFailback string, node1Files map[string]string, prepare func(*node), lubdubCf ...string) *haCluster {
	t.Helper()
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	c := &haCluster{t: t, l: l, nodes: map[string]*node{}}
	hacf := fastTimings + "bcast eth0\nauto_failback " + autoFailback + "\nnode node1 node2\n"
	script, err := os.ReadFile("testdata/websrv")
	must(t, err)
	for i, name := range []string{"node1", "node2"} {
		n := setupNode(t, l, addHost(t, l, name, i+1, "br0"), name, hacf, sha256Keys)
		must(t, os.WriteFile(filepath.Join(n.dir, "haresources"), []byte("node1 IPaddr2::"+vip+"/24/eth0 websrv\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(n.dir, "lubdub.cf"), []byte("monitor_interval 500ms\nstart_timeout 5s\nstop_timeout 5s\n"+strings.Join(lubdubCf, "")), 0o644))
		must(t, os.MkdirAll(filepath.Join(n.dir, "resource.d"), 0o755))
		must(t, os.WriteFile(filepath.Join(n.dir, "resource.d", "websrv"), script, 0o755))
		if name == "node1" {
			for f, body := range node1Files {
				must(t, os.WriteFile(filepath.Join(n.dir, f), []byte(body), 0o644))
			}
		}
		if prepare != nil {
			prepare(n)
		}
		c.nodes[name] = n
	}
	c.client = addHost(t, l, "client", 100, "br0")
	hosts := map[string]*lab.Host{}
	for name, n := range c.nodes {
		hosts[name] = n.host
	}
	c.watch = startVIPWatch(t, hosts, c.client)
	for _, n := range c.nodes {
		n.start(t)
	}
	p, err := c.client.Start("probe.log", lubdubBin, "probe", "--interval", "20ms", "--timeout", "300ms", "http://"+vip+"/")
	must(t, err)
	c.probe = p
	return c
}

// served waits until the client is served by the given node.
func (c *probed) served(by string, timeout time.Duration) bool {
	return waitFor(timeout, func() bool { return probe.ServedBy(c.probe.Output(), by) })
}

// lastOutage is the outage the probe reported when service came back.
func (c *probed) lastOutage() time.Duration {
	o := probe.Outages(c.probe.Output())
	if len(o) == 0 {
		return 0
	}
	return o[len(o)-1]
}

func (c *haCluster) owner(on string) string {
	s, err := c.nodes[on].status()
	if err != nil || len(s.Groups) == 0 {
		return ""
	}
	return s.Groups[0].Owner
}

// vipWatch checks, every 20ms for the whole test, that at most one node
// whose link is up holds the VIP, and that the client's ARP entry for the
// VIP names a node that held it (allowing a moment after a move for the
// gratuitous ARP to land).
type vipWatch struct {
	mu       sync.Mutex
	cut      map[string]bool
	holder   string
	changed  time.Time
	problems []string
	stop     chan struct{}
	done     chan struct{}
}

func startVIPWatch(t *testing.T, hosts map[string]*lab.Host, client *lab.Host) *vipWatch {
	w := &vipWatch{cut: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	macs := map[string]string{}
	go func() {
		defer close(w.done)
		for i := 0; i < 15000; i++ { // bounded: 5 minutes at most
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			// Reading node1, node2, node1, node2: node1 held the VIP across the
			// first node2 read if both node1 reads saw it (and the same for
			// node2), so an overlap is certain, not an artifact of the
			// reads' order.
			var seen [2][2]bool
			for round := 0; round < 2; round++ {
				for i, name := range []string{"node1", "node2"} {
					h := hosts[name]
					out, _, _ := h.Output(2*time.Second, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
					w.mu.Lock()
					cut := w.cut[name]
					w.mu.Unlock()
					seen[round][i] = strings.Contains(out, " "+vip+"/") && !cut
					if macs[name] == "" {
						l, _, _ := h.Output(2*time.Second, "cat", "/sys/class/net/eth0/address")
						macs[name] = strings.TrimSpace(l)
					}
				}
			}
			overlap := (seen[0][0] && seen[0][1] && seen[1][0]) || (seen[0][1] && seen[1][0] && seen[1][1])
			var holders []string
			for i, name := range []string{"node1", "node2"} {
				if seen[1][i] {
					holders = append(holders, name)
				}
			}
			neigh, _, _ := client.Output(2*time.Second, "ip", "neigh", "show", vip, "dev", "eth0")
			w.mu.Lock()
			if overlap {
				w.problems = append(w.problems, fmt.Sprintf("%s: VIP held by node1 and node2 at once (reads %v)", time.Now().Format("15:04:05.000"), seen))
			}
			h := strings.Join(holders, ",")
			if h != w.holder {
				w.holder, w.changed = h, time.Now()
			}
			if f := strings.Fields(neigh); len(f) >= 4 && f[2] == "lladdr" && w.holder != "" && time.Since(w.changed) > 1500*time.Millisecond {
				if f[3] != macs[w.holder] && !strings.Contains(neigh, "STALE") && !strings.Contains(neigh, "FAILED") {
					w.problems = append(w.problems, fmt.Sprintf("%s: client's ARP entry for the VIP is %s, but %s (%s) holds it", time.Now().Format("15:04:05.000"), f[3], w.holder, macs[w.holder]))
				}
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(w.stop)
		<-w.done
		for _, p := range w.problems {
			t.Error(p)
		}
	})
	return w
}

func (w *vipWatch) setCut(name string, cut bool) {
	w.mu.Lock()
	w.cut[name] = cut
	w.mu.Unlock()
}

// crash kills node's daemon and cuts its link, as a machine that died.
func (c *haCluster) crash(name string) {
	c.watch.setCut(name, true)
	must(c.t, c.nodes[name].host.Cut("eth0"))
	must(c.t, c.nodes[name].proc.Signal(syscall.SIGKILL))
	c.nodes[name].proc.Wait(5 * time.Second)
}

// reboot brings a crashed node back: its daemon starts (and clears what
// the dead one left) while its link is still down, then the link returns.
func (c *haCluster) reboot(name string) {
	n := c.nodes[name]
	n.start(c.t)
	if !waitFor(10*time.Second, func() bool { _, err := n.status(); return err == nil }) {
		c.t.Fatalf("%s's daemon did not come up", name)
	}
	must(c.t, n.host.Heal("eth0"))
	c.watch.setCut(name, false)
}

// crashOver waits for node1 to serve, crashes it and waits for node2 to
// take the service over.
func (c *haCluster) crashOver(t *testing.T) {
	t.Helper()
	if !c.served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.probe.Output())
	}
	c.crash("node1")
	if !c.served("node2", 10*time.Second) {
		t.Fatalf("no takeover by node2:\n%s", c.probe.Output())
	}
}

func TestCrashFailoverAndFailbackOn(t *testing.T) {
	c := haSetup(t, "on", nil)
	c.crashOver(t)
	t.Logf("crash: client-visible outage %v", c.lastOutage())
	if !waitFor(5*time.Second, func() bool { return c.owner("node2") == "node2" }) {
		t.Errorf("node2 reports owner %q", c.owner("node2"))
	}
	c.reboot("node1")
	if !c.served("node1", 15*time.Second) {
		t.Fatalf("no failback to node1:\n%s", c.probe.Output())
	}
	t.Logf("failback: client-visible outage %v", c.lastOutage())
	// After the failback each node answers for its own groups, as
	// Heartbeat 3.0.6 says: local on both (issue 12 case 7).
	for _, n := range []string{"node1", "node2"} {
		if !waitFor(5*time.Second, func() bool {
			out, code := c.nodes[n].clStatus("rscstatus")
			return strings.TrimSpace(out) == "local" && code == 0
		}) {
			out, _ := c.nodes[n].clStatus("rscstatus")
			t.Errorf("rscstatus on %s = %q, want local", n, out)
		}
	}
}

func TestFailbackOffStaysThenTakeover(t *testing.T) {
	c := haSetup(t, "off", nil)
	c.crashOver(t)
	c.reboot("node1")
	if !waitFor(10*time.Second, func() bool { v, _ := c.nodes["node2"].view("node1"); return v.Status == "active" }) {
		t.Fatal("node1 did not rejoin")
	}
	time.Sleep(2 * time.Second)
	if !c.served("node2", time.Second) || c.owner("node1") != "node2" {
		t.Fatalf("with auto_failback off the group left node2:\n%s", c.probe.Output())
	}
	// hb_takeover, through a link named like Heartbeat's command.
	link := filepath.Join(c.l.Dir, "hb_takeover")
	must(t, os.Symlink(lubdubBin, link))
	out, errOut, code := c.nodes["node1"].host.Output(10*time.Second, link, "--socket", c.nodes["node1"].sock, "all")
	if code != 0 {
		t.Fatalf("hb_takeover all: %s %s exit %d", out, errOut, code)
	}
	if !c.served("node1", 10*time.Second) {
		t.Fatalf("takeover did not bring the service to node1:\n%s", c.probe.Output())
	}
	t.Logf("takeover: client-visible outage %v", c.lastOutage())
}

func TestStandbyAndSigtermHandOver(t *testing.T) {
	c := haSetup(t, "on", nil)
	if !c.served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.probe.Output())
	}
	if !waitFor(5*time.Second, func() bool {
		out, _ := c.nodes["node1"].clStatus("rscstatus")
		return strings.TrimSpace(out) == "local"
	}) {
		t.Error("rscstatus on node1 is not local (Heartbeat's answer on a healthy pair)")
	}
	o, e, code := c.nodes["node1"].host.Output(10*time.Second, lubdubBin, "standby", "--socket", c.nodes["node1"].sock)
	if code != 0 {
		t.Fatalf("standby: %s %s", o, e)
	}
	if !c.served("node2", 10*time.Second) {
		t.Fatalf("standby did not move the service:\n%s", c.probe.Output())
	}
	t.Logf("standby: client-visible outage %v", c.lastOutage())
	o, e, code = c.nodes["node1"].host.Output(10*time.Second, lubdubBin, "takeover", "--socket", c.nodes["node1"].sock)
	if code != 0 {
		t.Fatalf("takeover: %s %s", o, e)
	}
	if !c.served("node1", 10*time.Second) {
		t.Fatalf("takeover did not move the service back:\n%s", c.probe.Output())
	}
	// A clean stop hands over without waiting for deadtime.
	stopped := time.Now()
	must(t, c.nodes["node1"].proc.Signal(syscall.SIGTERM))
	if !c.served("node2", 10*time.Second) {
		t.Fatalf("SIGTERM did not hand over:\n%s", c.probe.Output())
	}
	t.Logf("SIGTERM: served by node2 %v after the signal, client-visible outage %v", time.Since(stopped).Round(time.Millisecond), c.lastOutage())
	if exited, err := c.nodes["node1"].proc.Wait(10 * time.Second); !exited || err != nil {
		t.Fatalf("node1 did not exit cleanly: %v %v", exited, err)
	}
	if o, _, _ := c.nodes["node1"].host.Output(time.Second, "ip", "-4", "-o", "addr", "show", "dev", "eth0"); strings.Contains(o, vip) {
		t.Error("node1 left the VIP behind")
	}
}

// A resource that fails to start on node1 runs on node2; one that hangs
// is cut off by its timeout and also ends up on node2.
func TestFailingAndHangingStart(t *testing.T) {
	for _, tc := range []struct{ name, file string }{{"fails", "websrv.fail"}, {"hangs", "websrv.hang"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := haSetup(t, "on", map[string]string{tc.file: ""})
			if !c.served("node2", 20*time.Second) {
				t.Fatalf("the service did not end up on node2:\n%s", c.probe.Output())
			}
			s, err := c.nodes["node1"].status()
			must(t, err)
			if s.Groups[0].Local != "failed" {
				t.Errorf("node1's state for the group is %q, want failed", s.Groups[0].Local)
			}
			if tc.name == "hangs" && !strings.Contains(c.nodes["node1"].proc.Output(), "timed out after") {
				t.Error("node1 did not log the timeout")
			}
		})
	}
}

// A web server killed behind lubdub's back is restarted in place by the
// monitor.
func TestMonitorRestartsDeadService(t *testing.T) {
	c := haSetup(t, "on", nil)
	if !c.served("node1", 15*time.Second) || !waitFor(5*time.Second, func() bool { return c.owner("node1") == "node1" }) {
		t.Fatalf("the client is not served by node1:\n%s", c.probe.Output())
	}
	pid, err := os.ReadFile(filepath.Join(c.nodes["node1"].dir, "websrv.pid"))
	must(t, err)
	var p int
	fmt.Sscan(string(pid), &p)
	must(t, syscall.Kill(p, syscall.SIGKILL))
	if !waitFor(10*time.Second, func() bool {
		return strings.Contains(c.nodes["node1"].proc.Output(), "failed its monitor: restarting it here")
	}) {
		t.Fatal("the monitor did not notice the dead web server")
	}
	if !c.served("node1", 10*time.Second) {
		t.Fatalf("the web server was not restarted on node1:\n%s", c.probe.Output())
	}
}
