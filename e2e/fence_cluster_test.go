package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
)

// fencedPair is two lubdub nodes sharing the VIP, each with a simulated
// BMC that the other fences through fence_ipmilan.
type fencedPair struct {
	nodes map[string]*node
	bmcs  map[string]*lab.BMC
}

func newFencedPair(t *testing.T, extraCf string) *fencedPair {
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
		must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"), []byte("node1 IPaddr2::"+vip+"/24/eth0\n"), 0o644))
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
