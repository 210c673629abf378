package placement

import "testing"

// auto_failback legacy (Heartbeat's default when ha.cf does not set it)
// sets nice_failback off in Heartbeat's config.c, and without
// nice_failback a node always takes its own resources back: the preferred
// node reclaims its group when it returns, as with "on".
func TestAutoFailbackLegacyFailsBack(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "legacy")
	s.step("node2 starts alone; node1 is down", func() { s.boot("node2") })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q with node1 down", s.owner(0))
	}
	s.step("node1 starts (auto_failback legacy)", func() { s.boot("node1") })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q after node1's return: legacy must fail back as Heartbeat does", s.owner(0))
	}
	s.step("standby on node1, then node1 restarts", func() {
		acts, err := s.nodes["node1"].e.Standby(All)
		if err != nil {
			t.Fatal(err)
		}
		s.handle("node1", acts)
	})
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q after standby", s.owner(0))
	}
	s.step("node1 restarts", func() {
		s.kill("node1")
		s.boot("node1")
	})
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q after node1 restarted: legacy must claim the group back after a standby, as on", s.owner(0))
	}
}
