package daemon

import (
	"strings"
	"testing"
	"time"
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
