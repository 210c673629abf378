package e2e

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"
)

// Groups shared with Heartbeat 3.0.6 nodes (issue 10): a two-node cluster
// whose nodes each run lubdub or Debian's Heartbeat, with one group (the
// VIP and a web server that names its node) preferring node1, a client
// polling the VIP every 20 ms and a watch that no two connected nodes hold
// the VIP. The timings were keepalive 500ms and deadtime 3 s; the
// tests use shorter ones to keep the suite's time.

const mixedHacf = "keepalive 250ms\ndeadtime 2000ms\nwarntime 1000ms\ninitdead 6000ms\nudpport 694\nbcast eth0\nnode node1 node2\n"
const mixedKeys = "auth 1\n1 sha1 mixed-cluster-secret\n"
const mixedHaresources = "node1 IPaddr2::" + vip + "/24/eth0 websrv\n"

// mixedCluster is two nodes, each lubdub ("lub") or Heartbeat ("hb").
type mixedCluster struct {
	t      *testing.T
	l      *lab.Lab
	kind   map[string]string
	hosts  map[string]*lab.Host
	lub    map[string]*node
	hb     map[string]*lab.Heartbeat
	client *lab.Host
	probed
	watch *e2ekit.Oracle
	hacf  string
}

func needHeartbeatPkg(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(lab.HeartbeatBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Heartbeat is not installed (%v): .ci/run must install Debian's heartbeat package", err)
		}
		t.Skipf("Heartbeat is not installed (apt-get install heartbeat): %v", err)
	}
}

// newMixed builds the cluster with node kinds kinds["node1"], kinds["node2"]
// and starts nothing but the client's probe.
func newMixed(t *testing.T, autoFailback string, kinds map[string]string) *mixedCluster {
	t.Helper()
	needHeartbeatPkg(t)
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	c := &mixedCluster{t: t, l: l, kind: kinds, hosts: map[string]*lab.Host{}, lub: map[string]*node{}, hb: map[string]*lab.Heartbeat{},
		hacf: mixedHacf + "auto_failback " + autoFailback + "\n"}
	for i, name := range []string{"node1", "node2"} {
		c.hosts[name] = addHost(t, l, name, i+1, "br0")
		c.prepare(name, kinds[name])
	}
	c.client = addHost(t, l, "client", 100, "br0")
	c.watch = e2ekit.WatchVIP(t, []*lab.Host{c.hosts["node1"], c.hosts["node2"]}, c.client, vip)
	// A 1 s timeout: these tests count moves, and a request slowed by
	// Heartbeat's scripts on a busy machine is not one.
	p, err := c.client.Start("probe.log", e2ekit.Bin, "probe", "--interval", "20ms", "--timeout", "1s", "http://"+vip+"/")
	must(t, err)
	c.Probe = p
	return c
}

// prepare writes a node's /etc/ha.d for its kind (the same files for both).
func (c *mixedCluster) prepare(name, kind string) {
	t := c.t
	script := e2ekit.Websrv
	c.kind[name] = kind
	switch kind {
	case "lub":
		n := setupNode(t, c.l, c.hosts[name], name, c.hacf, mixedKeys)
		must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"), []byte(mixedHaresources), 0o644))
		// wait_for_all off: a node that starts alone takes the groups
		// after initdead, as Heartbeat does (lubdub's default waits to see
		// every node once; migrate-check says so).
		must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte("start_timeout 10s\nstop_timeout 10s\nwait_for_all off\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(n.Dir, "nodeinfo"), []byte(name+"\n"), 0o644))
		must(t, os.MkdirAll(filepath.Join(n.Dir, "resource.d"), 0o755))
		must(t, os.WriteFile(filepath.Join(n.Dir, "resource.d", "websrv"), script, 0o755))
		c.lub[name] = n
	case "hb":
		hb, err := c.hosts[name].PrepareHeartbeat(name, map[string]string{"ha.cf": c.hacf, "authkeys": mixedKeys, "haresources": mixedHaresources})
		must(t, err)
		must(t, os.WriteFile(filepath.Join(hb.Work, "etc", "resource.d", "websrv"), script, 0o755))
		c.hb[name] = hb
		t.Cleanup(func() { hb.Stop(20 * time.Second) })
	}
}

func (c *mixedCluster) start(name string) {
	switch c.kind[name] {
	case "lub":
		c.lub[name].Start(c.t)
	case "hb":
		must(c.t, c.hb[name].Start(name+"-heartbeat.log"))
	}
}

// standby and takeover are each kind's command for all groups.
func (c *mixedCluster) standby(name string) error  { return c.move(name, "standby") }
func (c *mixedCluster) takeover(name string) error { return c.move(name, "takeover") }
func (c *mixedCluster) move(name, what string) error {
	if c.kind[name] == "hb" {
		if out, code := c.hb[name].Exec("/usr/share/heartbeat/hb_"+what, "all"); code != 0 {
			return fmt.Errorf("hb_%s all on %s: %s (exit %d)", what, name, out, code)
		}
		return nil
	}
	n := c.lub[name]
	if out, errOut, code := n.Host.Output(10*time.Second, e2ekit.CLI, what, "--socket", n.Sock, "all"); code != 0 {
		return fmt.Errorf("lubdub %s all on %s: %s%s (exit %d)", what, name, out, errOut, code)
	}
	return nil
}

// crash kills a node's daemon and cuts its link, as a machine that died.
func (c *mixedCluster) crash(name string) {
	c.watch.SetCut(name, true)
	must(c.t, c.hosts[name].Cut("eth0"))
	switch c.kind[name] {
	case "lub":
		must(c.t, c.lub[name].Proc.Signal(syscall.SIGKILL))
		c.lub[name].Proc.Wait(5 * time.Second)
	case "hb":
		c.hb[name].Proc.KillGroup(syscall.SIGKILL)
		c.hosts[name].KillByName("heartbeat")
		c.hb[name].Proc.Wait(5 * time.Second)
	}
}

// reboot brings a crashed node back without what the dead daemon held (a
// rebooted machine): lubdub clears it itself at start; for Heartbeat the
// address and the web server are removed by hand. The link returns after
// the daemon has started.
func (c *mixedCluster) reboot(name string) {
	if c.kind[name] == "hb" {
		c.hosts[name].Output(5*time.Second, "ip", "addr", "del", vip+"/24", "dev", "eth0")
		pid := filepath.Join(c.hb[name].Work, "etc", "websrv.pid")
		if b, err := os.ReadFile(pid); err == nil {
			c.hosts[name].Output(5*time.Second, "kill", strings.TrimSpace(string(b)))
			os.Remove(pid)
		}
	}
	c.start(name)
	if c.kind[name] == "lub" {
		// lubdub answers on its socket once it has stopped what the dead
		// daemon left running.
		n := c.lub[name]
		if !waitFor(20*time.Second, func() bool { _, err := n.Status(); return err == nil }) {
			c.t.Fatalf("%s's daemon did not come up", name)
		}
	} else {
		time.Sleep(time.Second)
	}
	must(c.t, c.hosts[name].Heal("eth0"))
	c.watch.SetCut(name, false)
}

// stop ends a node's daemon cleanly (SIGTERM) and waits for it to exit.
func (c *mixedCluster) stop(name string) {
	switch c.kind[name] {
	case "lub":
		p := c.lub[name].Proc
		must(c.t, p.Signal(syscall.SIGTERM))
		if exited, _ := p.Wait(60 * time.Second); !exited {
			c.t.Fatalf("lubdub on %s did not stop within 60s of SIGTERM", name)
		}
	case "hb":
		// The daemon only, as its init script's killproc does: SIGTERM to
		// the whole process group would kill its resource child too, and
		// Heartbeat would exit before giving its groups up.
		must(c.t, c.hb[name].Proc.Signal(syscall.SIGTERM))
		if exited, _ := c.hb[name].Proc.Wait(90 * time.Second); !exited {
			c.t.Fatalf("Heartbeat on %s did not stop within 90s of SIGTERM:\n%s", name, c.hb[name].Log())
		}
	}
}

// settle waits until no running node is in a resource transition
// (cl_status rscstatus), so that a step starts from a stable cluster: a
// Heartbeat node stopped while its resource child runs exits without
// giving its groups up.
func (c *mixedCluster) settle() {
	waitFor(60*time.Second, func() bool {
		for _, name := range []string{"node1", "node2"} {
			var out string
			switch c.kind[name] {
			case "hb":
				if c.hb[name].Proc == nil || !c.hb[name].Proc.Running() {
					continue
				}
				out, _ = c.hb[name].Exec("cl_status", "rscstatus")
			case "lub":
				n := c.lub[name]
				if n.Proc == nil || !n.Proc.Running() {
					continue
				}
				out, _ = n.ClStatus("rscstatus")
			}
			if strings.TrimSpace(out) == "transition" || out == "" {
				return false
			}
		}
		return true
	})
}

// heartbeatComplaints fails the test for every error Heartbeat logged
// (but the memory lock a namespace does not allow): a peer that speaks its
// protocol as it expects leaves it nothing to complain about.
func (c *mixedCluster) heartbeatComplaints() {
	for name, hb := range c.hb {
		for _, line := range strings.Split(hb.Log(), "\n") {
			// Two Heartbeat nodes log "Ignored standby message 'done'"
			// themselves when a takeover child outlives the peer that
			// stopped (seen in a pure Heartbeat pair under load).
			if strings.Contains(line, "ERROR:") && !strings.Contains(line, "lock ourselves into memory") && !strings.Contains(line, "Ignored standby message 'done'") {
				c.t.Errorf("Heartbeat on %s complains: %s", name, line)
			}
		}
	}
}

// logs is every daemon's log, for a failure.
func (c *mixedCluster) logs() string {
	var b strings.Builder
	for _, name := range []string{"node1", "node2"} {
		switch c.kind[name] {
		case "hb":
			fmt.Fprintf(&b, "--- %s (Heartbeat) ---\n%s\n", name, c.hb[name].Log())
		case "lub":
			out, _ := os.ReadFile(filepath.Join(c.l.Dir, name+".log"))
			fmt.Fprintf(&b, "--- %s (lubdub) ---\n%s\n", name, out)
		}
	}
	return b.String()
}

// mixedStep is one step of the story: what is done, who serves after it.
type mixedStep struct {
	name  string
	do    func(c *mixedCluster) error
	by    string        // who serves afterwards
	moves bool          // the step moves the group: one outage allowed
	wait  time.Duration // how long the step may take
}

// runMixed runs steps, checking after each that the right node serves and
// that the client saw at most one outage (none when the group stays), and
// returns each step's outage.
func runMixed(t *testing.T, c *mixedCluster, steps []mixedStep) map[string]time.Duration {
	t.Helper()
	outage := map[string]time.Duration{}
	for _, s := range steps {
		c.settle()
		seen := len(c.Probe.Output())
		began := time.Now()
		if s.do != nil {
			if err := s.do(c); err != nil {
				t.Fatalf("%s: %v\n%s", s.name, err, c.logs())
			}
		}
		if !waitFor(s.wait, func() bool { return probe.ServedBy(c.Probe.Output(), s.by) }) {
			t.Fatalf("%s: not served by %s within %s\nprobe:\n%s\n%s", s.name, s.by, s.wait, c.Probe.Output(), c.logs())
		}
		// Served again: let the probe see a while of service before the
		// next step, so that an outage right after the move counts here.
		time.Sleep(1500 * time.Millisecond)
		n, slow := c.stepOutages(c.Probe.Output()[:seen], c.Probe.Output()[seen:])
		for _, d := range slow {
			// The client's only failures were requests over its 1 s
			// timeout while the node that answered before and after kept
			// the address and the client's ARP entry: a slow answer on a
			// busy machine (these tests run beside the rest of the suite),
			// not a move.
			t.Logf("%s: the client waited %v over its timeout while the serving node kept the address: slow, not moved", s.name, d.Round(time.Millisecond))
		}
		switch {
		case !s.moves && n > 0:
			t.Errorf("%s: the client saw %d outage(s) (last %v); the group should not have moved\n%s", s.name, n, c.LastOutage(), c.Probe.Output()[seen:])
		case s.moves && n > 1:
			t.Errorf("%s: the client saw %d outages; one move allows one\n%s", s.name, n, c.Probe.Output()[seen:])
		}
		if n > 0 {
			outage[s.name] = c.LastOutage()
		}
		t.Logf("%-40s served by %s after %v, outage %v", s.name, s.by, time.Since(began).Round(time.Millisecond), outage[s.name].Round(time.Millisecond))
	}
	return outage
}

// stepOutages reads the probe's output of a step (after, with what came
// before it) and counts its outages, leaving out the slow ones: those whose
// failures were all time-outs while the node that answered before and
// after held the address throughout (the watch outside the cluster saw it
// there and nowhere else in every sample) and the client's neighbour entry
// never named another node. A move shows as refused or reset connections,
// no route, another node's answer, the address elsewhere or nowhere, or
// the client sent elsewhere. slow lists the outages left out.
func (c *mixedCluster) stepOutages(before, after string) (n int, slow []time.Duration) {
	last := ""
	if a := probe.Answers(before); len(a) > 0 {
		last = a[len(a)-1]
	}
	now := time.Now()
	for _, o := range probe.ReadTimeline(after, now, now).Outages {
		if o.After == "" {
			continue // still open: the step waited until it was served
		}
		by := cmp.Or(o.Before, last)
		if onlyTimeouts(o.Failures) && o.After == by && c.heldThroughout(by, o.From, o.To) {
			slow = append(slow, o.Len())
		} else {
			n++
		}
	}
	return n, slow
}

// onlyTimeouts reports whether every failure was a request over the
// client's timeout (while connecting, or reading the answer's body).
func onlyTimeouts(failures []string) bool {
	for _, f := range failures {
		switch strings.TrimPrefix(f, "body: ") {
		case "Client.Timeout", "i/o timeout":
		default:
			return false
		}
	}
	return true
}

// heldThroughout reports whether node alone held the address in every
// sample of the watch from from to to, with the client's neighbour entry
// naming it or nothing.
func (c *mixedCluster) heldThroughout(node string, from, to time.Time) bool {
	samples := c.watch.Since(from)
	seen := false
	for _, smp := range samples {
		if smp.At.After(to) {
			break
		}
		seen = true
		if len(smp.Holders) != 1 || smp.Holders[0] != node || (smp.ARP != node && smp.ARP != "") {
			return false
		}
	}
	return seen
}

// failbackOnStory is the story with auto_failback on: start-up,
// each side's standby and takeover, a crash and return of each, a clean
// stop of each.
var failbackOnStory = []mixedStep{
	{"start both", startBoth, "node1", true, 60 * time.Second},
	{"standby node1", func(c *mixedCluster) error { return c.standby("node1") }, "node2", true, 60 * time.Second},
	{"takeover node1", func(c *mixedCluster) error { return c.takeover("node1") }, "node1", true, 60 * time.Second},
	{"takeover node2", func(c *mixedCluster) error { return c.takeover("node2") }, "node2", true, 60 * time.Second},
	{"standby node2", func(c *mixedCluster) error { return c.standby("node2") }, "node1", true, 60 * time.Second},
	{"crash node1", func(c *mixedCluster) error { c.crash("node1"); return nil }, "node2", true, 45 * time.Second},
	{"node1 returns (failback)", func(c *mixedCluster) error { c.reboot("node1"); return nil }, "node1", true, 40 * time.Second},
	{"crash node2", func(c *mixedCluster) error { c.crash("node2"); return nil }, "node1", false, 10 * time.Second},
	{"node2 returns", func(c *mixedCluster) error { c.reboot("node2"); time.Sleep(5 * time.Second); return nil }, "node1", false, 30 * time.Second},
	{"SIGTERM node2", func(c *mixedCluster) error { c.stop("node2"); return nil }, "node1", false, 10 * time.Second},
	{"node2 starts", func(c *mixedCluster) error { c.start("node2"); time.Sleep(5 * time.Second); return nil }, "node1", false, 30 * time.Second},
	{"SIGTERM node1", func(c *mixedCluster) error { c.stop("node1"); return nil }, "node2", true, 60 * time.Second},
}

// The whole story with Heartbeat on one node and lubdub on the other, in
// both placements.
func TestMixedResourcesFailbackOn(t *testing.T) {
	forBoth(t, "on", "", failbackOnStory)
}

// The figures of the README: each step's outage in a mixed pair next to a
// pure Heartbeat pair and a pure lubdub pair, one after the other (set
// LUBDUB_MIXED_FIGURES=1; about 7 minutes; run on a quiet machine).
func TestMixedFigures(t *testing.T) {
	if os.Getenv("LUBDUB_MIXED_FIGURES") == "" {
		t.Skip("set LUBDUB_MIXED_FIGURES=1 for the figures")
	}
	pairs := [][2]string{{"hb", "hb"}, {"hb", "lub"}, {"lub", "hb"}, {"lub", "lub"}}
	res := map[[2]string]map[string]time.Duration{}
	for _, p := range pairs {
		t.Run(p[0]+"-"+p[1], func(t *testing.T) {
			c := newMixed(t, "on", map[string]string{"node1": p[0], "node2": p[1]})
			res[p] = runMixed(t, c, failbackOnStory)
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| step | Heartbeat pair | Heartbeat node1, lubdub node2 | lubdub node1, Heartbeat node2 | lubdub pair |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range failbackOnStory {
		fmt.Fprintf(&b, "| %s |", s.name)
		for _, p := range pairs {
			fmt.Fprintf(&b, " %.2f s |", res[p][s.name].Seconds())
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
}

// forBoth runs a mixed story with Heartbeat on node1 (lubdub on node2) and
// the other way round, in parallel with the other mixed tests. only, if
// not "", is the one placement CI runs for this story (LUBDUB_MIXED=full
// runs both).
func forBoth(t *testing.T, autoFailback, only string, steps []mixedStep) {
	t.Parallel()
	for _, hbNode := range []string{"node1", "node2"} {
		if only != "" && hbNode != only && os.Getenv("LUBDUB_MIXED") != "full" {
			continue
		}
		t.Run("heartbeat-"+hbNode, func(t *testing.T) {
			t.Parallel()
			kinds := map[string]string{"node1": "lub", "node2": "lub"}
			kinds[hbNode] = "hb"
			c := newMixed(t, autoFailback, kinds)
			t.Logf("outages: %v", runMixed(t, c, steps))
			c.heartbeatComplaints()
		})
	}
}

func startBoth(c *mixedCluster) error { c.start("node1"); c.start("node2"); return nil }

// auto_failback off: groups stay where they run, also when their preferred
// node returns. The non-preferred node starts first, alone.
func TestMixedResourcesFailbackOff(t *testing.T) {
	forBoth(t, "off", "node1", []mixedStep{
		{"start node2 alone", func(c *mixedCluster) error { c.start("node2"); return nil }, "node2", true, 40 * time.Second},
		{"start node1 (no failback)", func(c *mixedCluster) error { c.start("node1"); time.Sleep(5 * time.Second); return nil }, "node2", false, 30 * time.Second},
		{"standby node2", func(c *mixedCluster) error { return c.standby("node2") }, "node1", true, 60 * time.Second},
		{"standby node1", func(c *mixedCluster) error { return c.standby("node1") }, "node2", true, 60 * time.Second},
		{"crash node2", func(c *mixedCluster) error { c.crash("node2"); return nil }, "node1", true, 45 * time.Second},
		{"node2 returns (no failback)", func(c *mixedCluster) error { c.reboot("node2"); time.Sleep(5 * time.Second); return nil }, "node1", false, 30 * time.Second},
		{"crash node1", func(c *mixedCluster) error { c.crash("node1"); return nil }, "node2", true, 45 * time.Second},
		{"node1 returns (no failback)", func(c *mixedCluster) error { c.reboot("node1"); time.Sleep(5 * time.Second); return nil }, "node2", false, 30 * time.Second},
		{"takeover node1", func(c *mixedCluster) error { return c.takeover("node1") }, "node1", true, 60 * time.Second},
	})
}

// auto_failback legacy (Heartbeat's default): ip-request; each node always
// takes its own groups back when it starts; no standby. The preferred node
// starts first, alone.
func TestMixedResourcesLegacy(t *testing.T) {
	forBoth(t, "legacy", "node2", []mixedStep{
		{"start node1 alone", func(c *mixedCluster) error { c.start("node1"); return nil }, "node1", true, 40 * time.Second},
		{"start node2", func(c *mixedCluster) error { c.start("node2"); time.Sleep(5 * time.Second); return nil }, "node1", false, 30 * time.Second},
		{"standby is refused", func(c *mixedCluster) error {
			for _, name := range []string{"node1", "node2"} {
				if c.kind[name] != "lub" {
					continue
				}
				err := c.standby(name)
				if err == nil || !strings.Contains(err.Error(), "nice_failback") {
					return fmt.Errorf("lubdub standby with auto_failback legacy: %v; want a refusal naming nice_failback", err)
				}
			}
			return nil
		}, "node1", false, 5 * time.Second},
		{"crash node1", func(c *mixedCluster) error { c.crash("node1"); return nil }, "node2", true, 45 * time.Second},
		{"node1 returns (ip-request)", func(c *mixedCluster) error { c.reboot("node1"); return nil }, "node1", true, 40 * time.Second},
		{"crash node2", func(c *mixedCluster) error { c.crash("node2"); return nil }, "node1", false, 10 * time.Second},
		{"node2 returns", func(c *mixedCluster) error { c.reboot("node2"); time.Sleep(5 * time.Second); return nil }, "node1", false, 30 * time.Second},
		{"SIGTERM node1", func(c *mixedCluster) error { c.stop("node1"); return nil }, "node2", true, 60 * time.Second},
		{"node1 starts (ip-request)", func(c *mixedCluster) error { c.start("node1"); return nil }, "node1", true, 40 * time.Second},
	})
}

// The rolling migration of a Heartbeat pair to a lubdub pair, one node at
// a time, each lubdub reading the /etc/ha.d its Heartbeat read: replace
// node2, move the group to it, replace node1, move it back. The client sees
// the two planned moves and nothing else.
func TestRollingMigrationFromHeartbeat(t *testing.T) {
	t.Parallel()
	c := newMixed(t, "on", map[string]string{"node1": "hb", "node2": "hb"})
	// lubdubOn replaces Heartbeat by lubdub on a node, with the same
	// configuration directory.
	lubdubOn := func(name string) error {
		etc := filepath.Join(c.hb[name].Work, "etc")
		if out, errOut, code := c.hosts[name].Output(20*time.Second, e2ekit.CLI, "migrate-check", "-c", etc, "--node", name); code != 0 {
			return fmt.Errorf("lubdub migrate-check on %s's /etc/ha.d: exit %d\n%s%s", name, code, out, errOut)
		}
		c.kind[name] = "lub"
		c.lub[name] = &node{Name: name, Host: c.hosts[name], Lab: c.l, Dir: etc,
			State: filepath.Join(c.l.Dir, name+"-state"), Sock: filepath.Join(c.l.Dir, name+".sock")}
		c.start(name)
		return nil
	}
	dialect := func(name, want string) error {
		ok := waitFor(20*time.Second, func() bool {
			s, err := c.lub[name].Status()
			return err == nil && s.Dialect == want
		})
		if !ok {
			s, err := c.lub[name].Status()
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			return fmt.Errorf("%s speaks %s (%s), want %s", name, s.Dialect, s.DialectWhy, want)
		}
		return nil
	}
	began := time.Now()
	out := runMixed(t, c, []mixedStep{
		{"Heartbeat pair starts", startBoth, "node1", true, 60 * time.Second},
		{"stop Heartbeat on node2", func(c *mixedCluster) error { c.stop("node2"); return nil }, "node1", false, 10 * time.Second},
		{"lubdub on node2 joins Heartbeat's node1", func(c *mixedCluster) error {
			if err := lubdubOn("node2"); err != nil {
				return err
			}
			return dialect("node2", "heartbeat")
		}, "node1", false, 30 * time.Second},
		{"move the group to node2", func(c *mixedCluster) error { return c.takeover("node2") }, "node2", true, 60 * time.Second},
		{"stop Heartbeat on node1", func(c *mixedCluster) error { c.stop("node1"); return nil }, "node2", false, 30 * time.Second},
		{"lubdub on node1: back to node1", func(c *mixedCluster) error {
			if err := lubdubOn("node1"); err != nil {
				return err
			}
			return dialect("node2", "lubdub")
		}, "node1", true, 40 * time.Second},
	})
	c.heartbeatComplaints()
	var total time.Duration
	for _, o := range out {
		total += o
	}
	if len(out) != 2 {
		t.Errorf("outages %v: want exactly the two planned moves", out)
	}
	for _, name := range []string{"node1", "node2"} {
		if err := dialect(name, "lubdub"); err != nil {
			t.Error(err)
		}
	}
	t.Logf("rolling migration: %v in all, client's total outage %v (%v)", time.Since(began).Round(time.Second), total, out)
}

// lubdub killed and restarted at once while it runs the Heartbeat node's
// group (trap 10 of the reference): it stays silent until Heartbeat has
// declared it dead, so Heartbeat takes the group back instead of leaving
// it run by nobody.
func TestMixedQuickRestartAfterCrash(t *testing.T) {
	t.Parallel()
	c := newMixed(t, "on", map[string]string{"node1": "hb", "node2": "lub"})
	runMixed(t, c, []mixedStep{
		{"start both", startBoth, "node1", true, 60 * time.Second},
		{"standby node1", func(c *mixedCluster) error { return c.standby("node1") }, "node2", true, 60 * time.Second},
		{"kill -9 lubdub on node2, start it again at once", func(c *mixedCluster) error {
			n := c.lub["node2"]
			must(t, n.Proc.Signal(syscall.SIGKILL))
			n.Proc.Wait(5 * time.Second)
			c.start("node2")
			return nil
		}, "node1", true, 40 * time.Second},
	})
	c.heartbeatComplaints()
}
