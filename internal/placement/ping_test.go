package placement

import "testing"

// ipfail's rule: with ping nodes, a node that reaches fewer of them than
// its peer gives its groups to the peer, and gets them back when it
// reaches as many again (auto_failback on); with auto_failback off they
// stay. A node that reaches none does not take over a dead peer's groups,
// but keeps what it runs.
func TestPingTieBreaker(t *testing.T) {
	for _, af := range []string{"on", "off"} {
		t.Run("auto_failback "+af, func(t *testing.T) {
			groups := []Group{{ID: "IPaddr2::198.18.0.10/24/eth0", Preferred: "node1"}, {ID: "IPaddr2::198.18.0.11/24/eth0", Preferred: "node2"}}
			s := newSim(t, []string{"node1", "node2"}, groups, af)
			s.cfg.PingNodes = 2
			reach := func(n string, r int) func() {
				return func() { s.handle(n, s.nodes[n].e.Reach(r)) }
			}
			s.step("node1 and node2 start", func() { s.bootAll("node1", "node2") })
			s.step("both reach both ping nodes", func() { reach("node1", 2)(); reach("node2", 2)() })
			if s.owner(0) != "node1" || s.owner(1) != "node2" {
				t.Fatalf("owners %q %q, want each node its own group", s.owner(0), s.owner(1))
			}
			if got := s.nodes["node1"].e.PingStatus(); got != "reaches 2 of 2 ping nodes; node2 reaches 2" {
				t.Errorf("PingStatus %q", got)
			}
			s.step("node1 loses a ping node", reach("node1", 1))
			if s.owner(0) != "node2" || s.owner(1) != "node2" {
				t.Fatalf("owners %q %q: node1 reaches fewer ping nodes and must give its groups to node2", s.owner(0), s.owner(1))
			}
			s.step("node1 reaches both again", reach("node1", 2))
			want := "node1"
			if af == "off" {
				want = "node2"
			}
			if s.owner(0) != want || s.owner(1) != "node2" {
				t.Fatalf("owners %q %q after the balance came back, want %s node2", s.owner(0), s.owner(1), want)
			}
			s.step("node2 loses every ping node", reach("node2", 0))
			if s.owner(0) != "node1" || s.owner(1) != "node1" {
				t.Fatalf("owners %q %q: node2 reaches none and must give everything to node1", s.owner(0), s.owner(1))
			}
			s.step("node1 dies", func() { s.kill("node1") })
			if s.owner(0) != "" || s.owner(1) != "" {
				t.Fatalf("owners %q %q: node2 reaches no ping node and must not take over", s.owner(0), s.owner(1))
			}
			if got := s.nodes["node2"].e.Desired(0); got != "" {
				t.Errorf("node2 desires %q for group 0", got)
			}
			s.step("node2 reaches a ping node", reach("node2", 1))
			if s.owner(0) != "node2" || s.owner(1) != "node2" {
				t.Fatalf("owners %q %q: node2 reaches a ping node again and is alone", s.owner(0), s.owner(1))
			}
			s.step("node2 loses it again", reach("node2", 0))
			if s.owner(0) != "node2" || s.owner(1) != "node2" {
				t.Fatalf("owners %q %q: a node that reaches none keeps what it runs", s.owner(0), s.owner(1))
			}
		})
	}
}

// A ping count not known yet (-1) changes nothing, and a peer that never
// says is not compared.
func TestPingUnknownIsNeutral(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.cfg.PingNodes = 1
	s.step("start", func() { s.bootAll("node1", "node2") })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q before any ping answer, want node1", s.owner(0))
	}
	s.step("node2 reaches the ping node, node1 does not know yet", func() { s.handle("node2", s.nodes["node2"].e.Reach(1)) })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q: node1 has not counted its ping nodes yet", s.owner(0))
	}
	if got := s.nodes["node1"].e.PingStatus(); got != "ping nodes not checked yet (1 configured); node2 reaches 1" {
		t.Errorf("PingStatus %q", got)
	}
	s.step("node1 reaches none", func() { s.handle("node1", s.nodes["node1"].e.Reach(0)) })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q, want node2 (it reaches more)", s.owner(0))
	}
}

// A ping node down everywhere is not a node cut off: nodes that hear each
// other still take over a dead node's groups.
func TestPingNodeDownEverywhere(t *testing.T) {
	groups := []Group{{ID: "a", Preferred: "node1"}, {ID: "c", Preferred: "node3"}}
	s := newSim(t, []string{"node1", "node2", "node3"}, groups, "on")
	s.cfg.PingNodes = 1
	s.step("start", func() { s.bootAll("node1", "node2", "node3") })
	s.step("the router dies", func() {
		for _, n := range []string{"node1", "node2", "node3"} {
			s.handle(n, s.nodes[n].e.Reach(0))
		}
	})
	if s.owner(0) != "node1" || s.owner(1) != "node3" {
		t.Fatalf("owners %q %q: nothing may move when every node loses the ping node", s.owner(0), s.owner(1))
	}
	s.step("node3 dies", func() { s.kill("node3") })
	if s.owner(1) != "node1" {
		t.Fatalf("node3's group on %q, want node1 (the next node; node1 and node2 hear each other)", s.owner(1))
	}
}
