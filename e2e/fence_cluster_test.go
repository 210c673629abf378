package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"

	"github.com/lubdub/lubdub/e2e/e2ekit"
)

// fencedPair is two lubdub nodes sharing the VIP, each with a simulated
// BMC that the other fences through fence_ipmilan.
type fencedPair struct {
	nodes map[string]*node
	bmcs  map[string]*lab.BMC
}

func newFencedPair(t *testing.T, extraCf string) *fencedPair {
	return newFencedPairWith(t, extraCf, "node1 IPaddr2::"+vip+"/24/eth0\n")
}

// failstop is a resource.d script whose stop always fails while status
// says it runs: a group holding it cannot be stopped.
const failstop = `#!/bin/sh
f="$HA_DIR/failstop.running"
case "$1" in
start) touch "$f" ;;
stop) echo "failstop: this stop fails"; exit 1 ;;
status) if [ -f "$f" ]; then echo running; else echo stopped; fi ;;
esac
exit 0
`

// newFencedPairWith is newFencedPair with these haresources (resource.d
// holds failstop).
func newFencedPairWith(t *testing.T, extraCf, haresources string) *fencedPair {
	t.Helper()
	needFencingTools(t)
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	p := &fencedPair{nodes: map[string]*node{}, bmcs: map[string]*lab.BMC{}}
	hacf := fastTimings + "bcast eth0\nauto_failback on\nnode node1 node2\n"
	for i, name := range []string{"node1", "node2"} {
		h := addHost(t, l, name, i+1, "br0")
		p.nodes[name] = setupNode(t, l, h, name, hacf, sha256Keys)
		b, err := l.AddBMC("bmc"+name[4:], 11+i, "br0", h, "eth0")
		must(t, err)
		p.bmcs[name] = b
	}
	var cf strings.Builder
	for _, name := range []string{"node1", "node2"} {
		b := p.bmcs[name]
		fmt.Fprintf(&cf, "fence_device ipmi-%s fence_ipmilan ip=%s username=%s password=%s lanplus=1 cipher=3 pcmk_host_list=%s\n", name, b.Addr, b.User, b.Password, name)
	}
	cf.WriteString("fence_delay 3s\n" + extraCf)
	for _, n := range p.nodes {
		must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"), []byte(haresources), 0o644))
		must(t, os.MkdirAll(filepath.Join(n.Dir, "resource.d"), 0o755))
		must(t, os.WriteFile(filepath.Join(n.Dir, "resource.d", "failstop"), []byte(failstop), 0o755))
		must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte(cf.String()), 0o600))
		n.Start(t)
		must(t, p.bmcs[n.Name].Guard(n.Proc.Pid()))
	}
	if !waitFor(15*time.Second, func() bool { return holdsVIP(p.nodes["node1"]) }) {
		t.Fatal("node1 does not hold the VIP")
	}
	return p
}

// powerEvents counts the power-off and reset events a node's BMC saw.
func (p *fencedPair) powerEvents(name string) int {
	n := 0
	for _, e := range p.bmcs[name].Events() {
		if e.What == "off" || e.What == "reset" {
			n++
		}
	}
	return n
}

// Issue 9: the active node's link is cut (both nodes still run). The
// survivor, which holds nothing, waits fence_delay, fences node1 through
// fence_ipmilan and its simulated BMC, and only then takes the VIP; node1,
// cut off, cannot fence anybody. Only node1 is shot.
func TestFencedTakeoverAfterLinkCut(t *testing.T) {
	p := newFencedPair(t, "")
	cut := time.Now()
	must(t, p.nodes["node1"].Host.Cut("eth0"))
	if !waitFor(40*time.Second, func() bool { return holdsVIP(p.nodes["node2"]) }) {
		t.Fatalf("node2 did not take the VIP over; its log:\n%s", p.nodes["node2"].Proc.Output())
	}
	took := time.Since(cut)
	if p.powerEvents("node1") == 0 {
		t.Fatal("node2 took the VIP without node1's BMC having powered it off")
	}
	if p.powerEvents("node2") != 0 {
		t.Error("node2 was shot too")
	}
	if exited, _ := p.nodes["node1"].Proc.Wait(5 * time.Second); !exited {
		t.Error("node1's daemon still runs after its fence")
	}
	log2 := p.nodes["node2"].Proc.Output()
	if i, j := strings.Index(log2, "node node1 fenced"), strings.Index(log2, "IP address "+vip); i < 0 || j < 0 || j < i {
		t.Errorf("node2's log does not show the fence before the VIP:\n%s", log2)
	}
	t.Logf("link cut to VIP on node2: %v (deadtime 0.4 s, fence_delay 3 s, fence_ipmilan reboot)", took.Round(time.Millisecond))
}

// Two nodes cut apart at once (heartbeats dropped both ways, both links up
// and both BMCs reachable) shoot only one: node1 holds the VIP and fences
// at once; node2 waits fence_delay and is dead before it shoots. The VIP
// never leaves node1.
func TestFencedSplitShootsOnlyOne(t *testing.T) {
	p := newFencedPair(t, "")
	dropHeartbeats(t, p.nodes["node1"], true)
	if !waitFor(30*time.Second, func() bool { return p.powerEvents("node2") > 0 }) {
		t.Fatalf("node1 did not fence node2; its log:\n%s", p.nodes["node1"].Proc.Output())
	}
	time.Sleep(5 * time.Second) // past node2's fence_delay: it must be dead by now
	if p.powerEvents("node1") != 0 {
		t.Error("node1 was shot too")
	}
	if !holdsVIP(p.nodes["node1"]) || holdsVIP(p.nodes["node2"]) {
		t.Error("the VIP left node1")
	}
}

// on_fail fence (issue 9): node1's group holds a resource whose stop
// fails. Asked to give the group up (standby), node1 cannot stop it: it is
// blocked there, the VIP still up. node1's report says so, node2 fences it
// through fence_ipmilan (on_fail's default with fencing configured), and
// only then starts the group: the VIP is never up on both at once.
func TestFencedFailedStop(t *testing.T) {
	p := newFencedPairWith(t, "stop_retries 0\n", "node1 IPaddr2::"+vip+"/24/eth0 failstop\n")
	n1, n2 := p.nodes["node1"], p.nodes["node2"]
	if !waitFor(5*time.Second, func() bool { _, err := os.Stat(filepath.Join(n1.Dir, "failstop.running")); return err == nil }) {
		t.Fatal("node1 did not start failstop")
	}
	asked := time.Now()
	if o, e, code := n1.Host.Output(10*time.Second, e2ekit.CLI, "standby", "--socket", n1.Sock); code != 0 {
		t.Fatalf("standby: %s %s", o, e)
	}
	both := false
	if !waitFor(40*time.Second, func() bool {
		h1, h2 := holdsVIP(n1) && p.powerEvents("node1") == 0, holdsVIP(n2)
		both = both || (h1 && h2)
		return h2
	}) {
		t.Fatalf("node2 did not take the VIP over; its log:\n%s", n2.Proc.Output())
	}
	took := time.Since(asked)
	if both {
		t.Error("the VIP was up on both nodes while node1 was not yet fenced")
	}
	off := p.bmcs["node1"].Events()
	if len(off) == 0 || p.powerEvents("node2") != 0 {
		t.Fatalf("power events: node1 %v, node2 %d: want node1 fenced, node2 not", off, p.powerEvents("node2"))
	}
	log1, log2 := n1.Proc.Output(), n2.Proc.Output()
	if !strings.Contains(log1, "blocked here: a peer with quorum will fence this node (on_fail fence)") {
		t.Errorf("node1's log does not say it waits to be fenced:\n%s", log1)
	}
	i := strings.Index(log2, "node node1 reports resource group")
	j := strings.Index(log2, "node node1 fenced")
	k := strings.Index(log2, "IP address "+vip)
	if i < 0 || j < i || k < j {
		t.Errorf("node2's log does not show the blocked report, then the fence, then the VIP (%d, %d, %d):\n%s", i, j, k, log2)
	}
	t.Logf("standby on node1 to the VIP on node2, through a failed stop and fence_ipmilan: %v", took.Round(time.Millisecond))
}

// SIGHUP rebuilds the fencer: node2's fence device is replaced in
// lubdub.cf and the daemon reloaded; node1 then dies and is fenced through
// the new device only. Removing every device waits for a restart, and the
// log says so. The devices are fence agents (absolute paths) that record
// their calls.
func TestFencerRebuiltAtReload(t *testing.T) {
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	hacf := fastTimings + "bcast eth0\nnode node1 node2\n"
	record := filepath.Join(l.Dir, "fence-calls")
	nodes := map[string]*node{}
	for i, name := range []string{"node1", "node2"} {
		nodes[name] = setupNode(t, l, addHost(t, l, name, i+1, "br0"), name, hacf, sha256Keys)
	}
	for _, agent := range []string{"fence_first", "fence_second"} {
		script := "#!/bin/sh\n{ echo \"" + agent + "\"; cat; } >> " + record + "\nexit 0\n"
		must(t, os.WriteFile(filepath.Join(l.Dir, agent), []byte(script), 0o755))
	}
	device := func(agent string) string {
		return "fence_delay 0\nfence_device " + agent[6:] + " " + filepath.Join(l.Dir, agent) + " pcmk_host_list=node1 pcmk_host_argument=none\n"
	}
	n1, n2 := nodes["node1"], nodes["node2"]
	cf := filepath.Join(n2.Dir, "lubdub.cf")
	must(t, os.WriteFile(cf, []byte(device("fence_first")), 0o600))
	n1.Start(t)
	n2.Start(t)
	if !waitFor(10*time.Second, func() bool { return allActive(nodes, []string{"node1", "node2"}) }) {
		t.Fatal("the nodes did not become active")
	}
	must(t, os.WriteFile(cf, []byte(device("fence_second")), 0o600))
	must(t, n2.Proc.Signal(syscall.SIGHUP))
	if !waitFor(10*time.Second, func() bool {
		return strings.Contains(n2.Proc.Output(), "fence devices and levels changed: in force from now on (devices second)")
	}) {
		t.Fatalf("node2 did not take the new device:\n%s", n2.Proc.Output())
	}
	must(t, n1.Proc.Signal(syscall.SIGKILL))
	if !waitFor(10*time.Second, func() bool { return strings.Contains(n2.Proc.Output(), "node node1 fenced") }) {
		t.Fatalf("node2 did not fence node1:\n%s", n2.Proc.Output())
	}
	calls, _ := os.ReadFile(record)
	if !strings.HasPrefix(string(calls), "fence_second\n") || strings.Contains(string(calls), "fence_first") || !strings.Contains(string(calls), "action=reboot") {
		t.Errorf("fence agents called:\n%s\nwant fence_second only, action=reboot", calls)
	}
	must(t, os.WriteFile(cf, nil, 0o600))
	must(t, n2.Proc.Signal(syscall.SIGHUP))
	if !waitFor(10*time.Second, func() bool {
		return strings.Contains(n2.Proc.Output(), "fencing turned off (every fence device removed) changed: it takes effect when lubdub restarts")
	}) {
		t.Errorf("node2 did not say that removing every device needs a restart:\n%s", n2.Proc.Output())
	}
}
