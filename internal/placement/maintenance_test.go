package placement

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// bootMaint boots a node whose group 0 is in maintenance and, as the
// daemon's start-up probe found it, still running.
func (s *sim) bootMaint(n string) {
	cfg := s.cfg
	cfg.Local = n
	s.epoch++
	cfg.Epoch = s.epoch
	sn := &simNode{e: New(cfg, slog.New(slog.DiscardHandler)), up: true}
	s.nodes[n] = sn
	sn.e.SetMaintenance(0, true)
	sn.e.Probe([]bool{true})
	for _, p := range s.cfg.Nodes {
		if pn := s.nodes[p]; pn != nil && pn.up && p != n {
			s.handle(p, pn.e.NodeUp(n))
			s.handle(n, sn.e.NodeUp(p))
			s.handle(p, pn.e.Settled(n))
			s.handle(n, sn.e.Settled(p))
		}
	}
	s.views()
	s.handle(n, sn.e.Ready())
}

func (s *sim) ops(n string) []Run { return s.nodes[n].ops }

// A group in maintenance on the node that runs it is neither restarted,
// moved, stopped on leaving nor taken over when that node goes; its
// return with the group still running (a rolling upgrade) leaves it
// there, and maintenance off manages it again.
func TestMaintenanceKeepsGroupWhereItIs(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("node1 and node2 start", func() { s.bootAll("node1", "node2") })
	n1, n2 := s.nodes["node1"].e, s.nodes["node2"].e
	s.step("maintenance on for the group on node1", func() { s.handle("node1", n1.SetMaintenance(0, true)) })
	if v := n2.Groups()[0]; !slices.Equal(v.Maintenance, []string{"node1"}) {
		t.Fatalf("node2 sees maintenance on %v, want [node1]", v.Maintenance)
	}
	s.step("its monitor fails", func() { s.handle("node1", n1.MonitorFailed(0)) })
	if s.owner(0) != "node1" || len(s.ops("node1")) != 0 || n1.Restarts(0) != 0 {
		t.Fatalf("a monitor failure in maintenance acted: owner %q, ops %v, restarts %d", s.owner(0), s.ops("node1"), n1.Restarts(0))
	}
	if _, err := n1.Standby(All); err == nil || !strings.Contains(err.Error(), "in maintenance here") {
		t.Errorf("standby of a group in maintenance: %v", err)
	}
	if _, err := n2.Takeover(All); err == nil || !strings.Contains(err.Error(), "in maintenance on node1") {
		t.Errorf("takeover of a group in maintenance elsewhere: %v", err)
	}
	s.step("node1 leaves cleanly (its daemon is upgraded)", func() { s.handle("node1", n1.Leave()) })
	if !n1.Idle() || n1.Local(0) != Running || n1.HoldsManaged() || !n1.HoldsAny() {
		t.Fatalf("leaving node1: idle %v, state %s, holds managed %v: the group in maintenance must stay and not hold the exit", n1.Idle(), n1.Local(0), n1.HoldsManaged())
	}
	s.step("node1 is gone", func() { s.kill("node1") })
	if n2.Local(0) != Stopped || len(s.ops("node2")) != 0 || n2.Groups()[0].Frozen != "node1" {
		t.Fatalf("node2 after node1 left holding the group in maintenance: %s, ops %v, frozen %q", n2.Local(0), s.ops("node2"), n2.Groups()[0].Frozen)
	}
	if _, err := n2.Takeover(All); err == nil || !strings.Contains(err.Error(), "lubdub cleanup") {
		t.Errorf("takeover of a frozen group: %v", err)
	}
	s.step("node1 is back, the group still running and in maintenance", func() { s.bootMaint("node1") })
	n1 = s.nodes["node1"].e
	if s.owner(0) != "node1" || n2.Local(0) != Stopped || n2.Groups()[0].Frozen != "" {
		t.Fatalf("after node1's return: owner %q, node2 %s, frozen %q", s.owner(0), n2.Local(0), n2.Groups()[0].Frozen)
	}
	s.step("maintenance off on node1", func() { s.handle("node1", n1.SetMaintenance(0, false)) })
	s.step("its monitor fails", func() { s.handle("node1", n1.MonitorFailed(0)) })
	if s.owner(0) != "node1" || n1.Restarts(0) != 1 {
		t.Fatalf("after maintenance off a monitor failure must restart in place: owner %q, restarts %d", s.owner(0), n1.Restarts(0))
	}
	s.step("standby on node1", func() {
		acts, err := n1.Standby(All)
		if err != nil {
			t.Fatal(err)
		}
		s.handle("node1", acts)
	})
	if s.owner(0) != "node2" {
		t.Fatalf("standby after maintenance off: owner %q", s.owner(0))
	}
}

// A node that died holding a group in maintenance freezes it; cleanup on
// a survivor releases it, which then starts it.
func TestMaintenanceFrozenUntilCleanup(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("node1 and node2 start", func() { s.bootAll("node1", "node2") })
	n2 := s.nodes["node2"].e
	s.step("maintenance on node1", func() { s.handle("node1", s.nodes["node1"].e.SetMaintenance(0, true)) })
	s.step("node1 dies", func() { s.kill("node1") })
	if n2.Local(0) != Stopped {
		t.Fatalf("node2 took over a group frozen by maintenance: %s", n2.Local(0))
	}
	s.step("cleanup on node2", func() { s.handle("node2", n2.Cleanup(0)) })
	if s.owner(0) != "node2" {
		t.Fatalf("after cleanup: owner %q", s.owner(0))
	}
}

// Maintenance on a node that does not hold the group makes it no
// candidate: the others run the group, and it is not started there.
func TestMaintenanceOnStoppedGroupLetsOthersRunIt(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("node2 starts alone", func() { s.boot("node2") })
	n2 := s.nodes["node2"].e
	s.step("node1 starts in maintenance, the group not running there", func() {
		cfg := s.cfg
		cfg.Local = "node1"
		s.epoch++
		cfg.Epoch = s.epoch
		sn := &simNode{e: New(cfg, slog.New(slog.DiscardHandler)), up: true}
		s.nodes["node1"] = sn
		sn.e.SetMaintenance(0, true)
		s.handle("node2", n2.NodeUp("node1"))
		s.handle("node1", sn.e.NodeUp("node2"))
		s.handle("node2", n2.Settled("node1"))
		s.handle("node1", sn.e.Settled("node2"))
		s.views()
		s.handle("node1", sn.e.Ready())
	})
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q: the preferred node1 is in maintenance and must not take the group back", s.owner(0))
	}
	s.step("maintenance off on node1", func() { s.handle("node1", s.nodes["node1"].e.SetMaintenance(0, false)) })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q: with maintenance off the preferred node takes its group back", s.owner(0))
	}
}

// failure_timeout: a failed start's ban of a node expires; the preferred
// node then takes its group back. A blocked group stays blocked.
func TestFailureExpired(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.failOn["node1/start/0"] = true
	s.step("node1 and node2 start; node1's start fails", func() { s.bootAll("node1", "node2") })
	n1 := s.nodes["node1"].e
	if s.owner(0) != "node2" || n1.Local(0) != Failed {
		t.Fatalf("owner %q, node1 %s", s.owner(0), n1.Local(0))
	}
	delete(s.failOn, "node1/start/0")
	s.step("node1's failure expires", func() { s.handle("node1", n1.FailureExpired(0)) })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q after the failure expired: node1 may run it again", s.owner(0))
	}
	s.failOn["node1/stop/0"] = true
	s.step("standby on node1; the stop fails", func() {
		acts, err := n1.Standby(All)
		if err != nil {
			t.Fatal(err)
		}
		s.handle("node1", acts)
	})
	if n1.Local(0) != Blocked {
		t.Fatalf("node1 %s, want blocked", n1.Local(0))
	}
	s.step("node1's failure expires", func() { s.handle("node1", n1.FailureExpired(0)) })
	if n1.Local(0) != Blocked {
		t.Fatalf("a blocked group must stay blocked when its failure expires: %s", n1.Local(0))
	}
}
