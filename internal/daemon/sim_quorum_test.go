package daemon

import (
	"testing"
	"time"
)

// Issue 8, point 2: three nodes, node1 cut off (both ways, only its frames
// lost, or only the frames to it lost: deaf, it hears nobody while the
// others still hear it). The single node loses quorum and stops its copy
// within deadtime + 1 s; the majority starts the group once node1 counts
// as fenced (watchdog_fence_timeout), or, when node1 is deaf, as soon as
// its reports say it has stopped it and lost quorum (it cannot answer the
// majority's claims), never while node1 may still run it.
func TestSimQuorumPartition(t *testing.T) {
	for _, fault := range []string{"both ways", "one way", "inbound"} {
		t.Run(fault, func(t *testing.T) {
			s := newSim(t, 11, 3, "node1 IPaddr::198.18.0.10\nnode2 IPaddr::198.18.0.11\n", "auto_failback on\n")
			s.selfFencing(time.Second, 2500*time.Millisecond)
			for _, n := range s.names {
				s.boot(n)
			}
			s.settle(5 * time.Second)
			cut := s.now
			for _, o := range []string{"node2", "node3"} {
				if fault != "inbound" {
					s.drop[[2]string{"node1", o}] = true
				}
				if fault != "one way" {
					s.drop[[2]string{o, "node1"}] = true
				}
			}
			stopped := time.Duration(0)
			for s.now.Before(cut.Add(10 * time.Second)) {
				s.runFor(10 * time.Millisecond)
				if _, held := s.nodes["node1"].inUse[0]; !held && stopped == 0 {
					stopped = s.now.Sub(cut)
				}
			}
			if stopped == 0 || stopped > s.cfg.Deadtime+time.Second {
				t.Errorf("node1 stopped its copy %v after the cut, want within deadtime + 1 s", stopped)
			}
			if s.nodes["node1"].node == nil {
				t.Error("node1 was reset by its watchdog: it should have stopped its group in time")
			}
			for g, want := range []string{"node2", "node2"} {
				if h := s.holders(g); len(h) != 1 || h[0] != want {
					t.Errorf("group %d in use on %v, want %s (the majority, next after node1)", g, h, want)
				}
			}
			t.Logf("%s: node1 stopped its copy %v after the cut", fault, stopped)
		})
	}
}

// A node that loses quorum and cannot stop its group (its daemon paused)
// is reset by its watchdog before the majority takes the group.
func TestSimWatchdogResetsAPausedNode(t *testing.T) {
	s := newSim(t, 12, 3, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
	s.selfFencing(time.Second, 2500*time.Millisecond)
	for _, n := range s.names {
		s.boot(n)
	}
	s.settle(5 * time.Second)
	s.pause("node1", 6*time.Second)
	s.runFor(5 * time.Second)
	if s.nodes["node1"].node != nil {
		t.Fatal("the paused node1 was not reset by its watchdog")
	}
	if h := s.holders(0); len(h) != 1 || h[0] != "node2" {
		t.Errorf("group in use on %v, want node2", h)
	}
}

// With two nodes, wait_for_all (on by default) keeps a node that boots
// alone from taking every group; once it has seen its peer, the pair
// places as usual, and the survivor of a later crash takes over.
func TestSimWaitForAll(t *testing.T) {
	s := newSim(t, 13, 2, "node1 IPaddr::198.18.0.10\nnode2 IPaddr::198.18.0.11\n", "auto_failback on\n")
	s.boot("node1")
	s.runFor(5 * time.Second)
	if h := s.holders(0); len(h) != 0 {
		t.Fatalf("node1 alone started a group (in use on %v)", h)
	}
	s.boot("node2")
	s.settle(5 * time.Second)
	s.powerOff("node2")
	s.settle(3 * time.Second)
	if h := s.holders(1); len(h) != 1 || h[0] != "node1" {
		t.Errorf("after node2's crash its group is in use on %v, want node1", h)
	}
}
