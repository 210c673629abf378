package daemon

import (
	"testing"
	"time"
)

// Issue 8, healing: two nodes that both ran the group during a partition
// (or while one was paused) converge to the one owner the rules pick,
// within deadtime of the heal, without a restart, and the keeper announces
// its addresses again (clients followed the other side meanwhile).
func TestSimHealAnnouncesAgain(t *testing.T) {
	for _, fault := range []string{"partition", "pause"} {
		t.Run(fault, func(t *testing.T) {
			s := newSim(t, 7, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
			s.boot("node1")
			s.boot("node2")
			s.settle(5 * time.Second)
			s.unsafe = true
			if fault == "partition" {
				s.drop[[2]string{"node1", "node2"}], s.drop[[2]string{"node2", "node1"}] = true, true
				s.runFor(3 * time.Second)
			} else {
				s.pause("node1", 3*time.Second)
				s.runFor(2900 * time.Millisecond)
			}
			if h := s.holders(0); len(h) != 2 {
				t.Fatalf("during the fault the group is in use on %v; the test needs both", h)
			}
			healed := s.now
			if fault == "partition" {
				s.healAll()
			} else {
				s.runFor(100 * time.Millisecond) // node1 resumes
			}
			s.settle(s.cfg.Deadtime + time.Second)
			if h := s.holders(0); len(h) != 1 || h[0] != "node1" {
				t.Fatalf("after the heal the group is in use on %v, want node1 (preferred, auto_failback on)", h)
			}
			took := s.now.Sub(healed)
			if took > s.cfg.Deadtime {
				t.Errorf("converged %v after the heal, want within deadtime (%v)", took, s.cfg.Deadtime)
			}
			a := s.nodes["node1"].announced
			if len(a) == 0 || a[len(a)-1].Before(healed) {
				t.Fatalf("node1 did not announce the group again after the heal (announcements %v)", a)
			}
			if len(s.nodes["node2"].announced) != 0 {
				t.Error("node2, which let go, announced")
			}
			t.Logf("%s: one owner %v after the heal, announced at +%v", fault, took, a[len(a)-1].Sub(healed))
		})
	}
}

// Issue 8, point 4: a preferred node back from the dead gets its group
// back only once every peer has heard it for failback_delay (3 deadtimes
// by default), so that a node that keeps dying and returning does not
// drag its group along.
func TestSimFailbackWaitsFailbackDelay(t *testing.T) {
	s := newSim(t, 3, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.powerOff("node1")
	s.settle(2 * time.Second)
	if h := s.holders(0); len(h) != 1 || h[0] != "node2" {
		t.Fatalf("after node1's power-off the group is on %v", h)
	}
	s.boot("node1")
	booted := s.now
	delay := s.cfg.Tuning.FailbackDelayFor(s.cfg.Deadtime)
	var back time.Duration
	for s.now.Before(booted.Add(delay + 5*time.Second)) {
		s.runFor(10 * time.Millisecond)
		if h := s.holders(0); len(h) == 1 && h[0] == "node1" {
			back = s.now.Sub(booted)
			break
		}
	}
	if back == 0 {
		t.Fatalf("no failback within failback_delay (%v) + 5 s", delay)
	}
	if back < delay {
		t.Errorf("failback %v after node1 booted, before failback_delay (%v)", back, delay)
	}
	t.Logf("failback %v after node1 booted (failback_delay %v)", back, delay)
}
