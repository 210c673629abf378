package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/hbresource"
	"github.com/lubdub/lubdub/internal/wire"
)

// Issue 9, point 3: with a power switch, two nodes cut apart shoot only
// one: the node that holds no group waits fence_delay first, so the one
// that runs the group resets the other, and no group ever runs twice.
func TestSimFencingTwoNodesShootOne(t *testing.T) {
	s := newSim(t, 21, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
	s.powerFencing(300 * time.Millisecond)
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.drop[[2]string{"node1", "node2"}], s.drop[[2]string{"node2", "node1"}] = true, true
	s.runFor(5 * time.Second)
	if s.nodes["node1"].node == nil || s.nodes["node2"].node != nil {
		t.Fatalf("node1 up %v, node2 up %v: want node1 (which held the group) to have reset node2",
			s.nodes["node1"].node != nil, s.nodes["node2"].node != nil)
	}
	if h := s.holders(0); len(h) != 1 || h[0] != "node1" {
		t.Errorf("group in use on %v, want node1", h)
	}
}

// A crashed node is fenced before its group is started elsewhere; while
// the device fails nothing of that node is taken over, and status says
// why; once it works, the group moves.
func TestSimFencingBeforeTakeover(t *testing.T) {
	s := newSim(t, 22, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
	s.powerFencing(300 * time.Millisecond)
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.fenceBroken = true
	// node1's daemon dies but its group stays up (a hung daemon): without
	// fencing, node2 would start a second copy.
	s.nodes["node1"].node = nil
	s.runFor(5 * time.Second)
	if h := s.holders(0); len(h) != 1 || h[0] != "node1" {
		t.Fatalf("while fencing fails the group is in use on %v, want node1 only", h)
	}
	st := s.nodes["node2"].node.Status(s.now)
	if f := st.Fencing["node1"]; !strings.Contains(f, "failed") {
		t.Errorf("node2's status says fencing %q, want the failure", f)
	}
	s.fenceBroken = false
	s.runFor(40 * time.Second) // the backoff reaches 30 s at most
	if h := s.holders(0); len(h) != 1 || h[0] != "node2" {
		t.Errorf("after fencing worked the group is in use on %v, want node2", h)
	}
}

// on_fail fence (issue 9, point 3): node1's stop fails (standby asks it to
// give its group up), so the group is blocked there and may still run. With
// a power switch (on_fail's default is then fence), node1's report says
// so, node2 fences it, and only then starts the group: never in use on
// both. Status said why meanwhile.
func TestSimOnFailFence(t *testing.T) {
	s := newSim(t, 23, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback off\n")
	s.powerFencing(2 * time.Second)
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.nodes["node1"].failStop = true
	if err := s.control("node1", "standby", "all"); err != "" {
		t.Fatal(err)
	}
	s.runFor(time.Second)
	if st := s.nodes["node1"].node.eng.Local(0); st != "blocked" {
		t.Fatalf("node1's group is %s after its stop failed, want blocked", st)
	}
	if f := s.nodes["node2"].node.Status(s.now).Fencing["node1"]; !strings.Contains(f, "stop failed there: IPaddr::198.18.0.10 blocked") {
		t.Errorf("node2's status says fencing %q, want why (node1's stop failed)", f)
	}
	if h := s.holders(0); len(h) != 1 || h[0] != "node1" {
		t.Fatalf("while node1 is being fenced the group is in use on %v, want node1 only", h)
	}
	s.runFor(3 * time.Second)
	if s.nodes["node1"].node != nil {
		t.Fatal("node1, whose stop failed, was not fenced")
	}
	if h := s.holders(0); len(h) != 1 || h[0] != "node2" {
		t.Errorf("after node1's fence the group is in use on %v, want node2", h)
	}
	// node1 reboots and joins; nothing is fenced again.
	s.nodes["node1"].failStop = false
	s.boot("node1")
	s.settle(5 * time.Second)
	if s.nodes["node1"].node == nil || s.nodes["node2"].node == nil {
		t.Error("a node was fenced again after node1's return")
	}
}

// on_fail block: the same failed stop leaves the group blocked on node1,
// fenced by nobody, until lubdub cleanup there; then (the operator
// having stopped it by hand) it moves.
func TestSimOnFailBlock(t *testing.T) {
	s := newSim(t, 24, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback off\n")
	s.powerFencing(300 * time.Millisecond)
	s.cfg.Tuning.OnFail = "block"
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.nodes["node1"].failStop = true
	s.control("node1", "standby", "all")
	s.runFor(5 * time.Second)
	if s.nodes["node1"].node == nil {
		t.Fatal("node1 was fenced with on_fail block")
	}
	if h := s.holders(0); len(h) != 1 || h[0] != "node1" {
		t.Fatalf("the blocked group is in use on %v, want node1 only", h)
	}
	if f, ok := s.nodes["node2"].node.Status(s.now).Fencing["node1"]; ok {
		t.Errorf("node2 is fencing node1 with on_fail block: %s", f)
	}
	s.nodes["node1"].failStop = false
	delete(s.nodes["node1"].inUse, 0)
	s.control("node1", "cleanup", "all")
	s.runFor(3 * time.Second)
	if h := s.holders(0); len(h) != 1 || h[0] != "node2" {
		t.Errorf("after cleanup the group is in use on %v, want node2", h)
	}
}

// With watchdog self-fencing alone (no power switch), three nodes: node1's
// stop fails; it stops feeding its watchdog and is reset; the others
// start the group once node1 counts as fenced (watchdog_fence_timeout),
// never while it may run it.
func TestSimOnFailWatchdog(t *testing.T) {
	s := newSim(t, 25, 3, "node1 IPaddr::198.18.0.10\n", "auto_failback off\n")
	s.selfFencing(time.Second, 2500*time.Millisecond)
	for _, n := range s.names {
		s.boot(n)
	}
	s.settle(5 * time.Second)
	s.nodes["node1"].failStop = true
	s.control("node1", "standby", "all")
	s.runFor(time.Second)
	if s.nodes["node1"].node == nil || s.nodes["node1"].node.WatchdogOK() {
		t.Fatal("node1, its group blocked, still feeds its watchdog")
	}
	if f := s.nodes["node2"].node.Status(s.now).Fencing["node1"]; !strings.Contains(f, "counts as fenced in") {
		t.Errorf("node2's status says %q about node1", f)
	}
	s.runFor(4 * time.Second)
	if s.nodes["node1"].node != nil {
		t.Fatal("node1 was not reset by its watchdog")
	}
	if h := s.holders(0); len(h) != 1 || h[0] == "node1" {
		t.Errorf("the group is in use on %v, want one of node2, node3", h)
	}
}

// A Heartbeat peer's stonith message: a fencing it did or failed is an
// event, as this node's own are; n_stnth and unneeded fenced nothing.
func TestPeerStonithEvents(t *testing.T) {
	s := newSim(t, 26, 2, "node1 IPaddr::198.18.0.10\n", "")
	s.boot("node2")
	n2 := s.nodes["node2"]
	mark := len(n2.events)
	for _, result := range []string{"OK", "bad", "badhost", "n_stnth", "unneeded"} {
		msg := &wire.Message{}
		msg.Add(wire.FType, hbresource.TStonith)
		msg.Add(hbresource.FNode, "node3")
		msg.Add(hbresource.FResult, result)
		n2.node.peerStonith(s.now, "node1", msg)
	}
	wantLines(t, "node2", n2.eventLines(mark, events.Fencing),
		"fencing node3@node3 fenced (reported by node1 (Heartbeat): stonith OK)",
		"fencing node3@node3 failed (reported by node1 (Heartbeat): stonith bad)",
		"fencing node3@node3 failed (reported by node1 (Heartbeat): stonith badhost)")
}
