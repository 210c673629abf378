package placement

import (
	"strings"
	"testing"
)

// reach gives node its ping count; settled lets every live node compare
// the counts (the daemon does so once they have been still for twice
// keepalive).
func (s *sim) reach(n string, r int) {
	s.handle(n, s.nodes[n].e.Reach(r))
}

func (s *sim) pingSettled() {
	s.settle() // the reports with the counts arrive first
	for _, n := range s.cfg.Nodes {
		if sn := s.nodes[n]; sn != nil && sn.up {
			s.handle(n, sn.e.PingSettled())
		}
	}
}

// ipfail's rule: with ping nodes, a node that reaches fewer of them than
// its peer gives its groups to the peer, and gets them back when it
// reaches as many again (auto_failback on); with auto_failback off they
// stay. A node that reaches none and hears no peer does not take over a
// dead peer's groups (that peer reached some), but keeps what it runs.
func TestPingTieBreaker(t *testing.T) {
	for _, af := range []string{"on", "off"} {
		t.Run("auto_failback "+af, func(t *testing.T) {
			groups := []Group{{ID: "IPaddr2::198.18.0.10/24/eth0", Preferred: "node1"}, {ID: "IPaddr2::198.18.0.11/24/eth0", Preferred: "node2"}}
			s := newSim(t, []string{"node1", "node2"}, groups, af)
			s.cfg.PingNodes = 2
			reach := func(n string, r int) func() {
				return func() { s.reach(n, r); s.pingSettled() }
			}
			s.step("node1 and node2 start, both reach both ping nodes", func() {
				s.initReach = map[string]int{"node1": 2, "node2": 2}
				s.bootAll("node1", "node2")
				s.pingSettled()
			})
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
				t.Fatalf("owners %q %q: node2 reaches no ping node (node1 reached 2) and must not take over", s.owner(0), s.owner(1))
			}
			if !s.nodes["node2"].e.CutOff() {
				t.Error("node2 does not say it may be cut off")
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

// A node starts nothing before it knows its own ping count; a peer's
// unknown count (a peer too old to say) is not compared.
func TestPingUnknown(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.cfg.PingNodes = 1
	s.step("start", func() { s.bootAll("node1", "node2") })
	if s.owner(0) != "" {
		t.Fatalf("owner %q before any node knows its ping count", s.owner(0))
	}
	if got := s.nodes["node1"].e.PingStatus(); got != "ping nodes not checked yet (1 configured)" {
		t.Errorf("PingStatus %q", got)
	}
	s.step("node2 knows its count, node1 not yet", func() { s.reach("node2", 1); s.pingSettled() })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q, want node2: node1 does not claim before it knows its count", s.owner(0))
	}
	s.step("node1 reaches it too", func() { s.reach("node1", 1); s.pingSettled() })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q, want node1 back (auto_failback on)", s.owner(0))
	}
}

// A shared ping node dies; node1 notices a keepalive before node2. The
// counts are compared only once they are still again: nothing moves, in
// either direction, and nothing moves when it comes back.
func TestPingSharedRouterDiesNothingMoves(t *testing.T) {
	for _, af := range []string{"on", "off"} {
		t.Run(af, func(t *testing.T) {
			s := newSim(t, []string{"node1", "node2"}, web, af)
			s.cfg.PingNodes = 1
			s.step("start", func() { s.bootAll("node1", "node2"); s.reach("node1", 1); s.reach("node2", 1); s.pingSettled() })
			if s.owner(0) != "node1" {
				t.Fatalf("owner %q", s.owner(0))
			}
			s.step("router dies: node1 notices first", func() { s.reach("node1", 0) })
			s.step("node2 notices too", func() { s.reach("node2", 0) })
			s.step("counts still", s.pingSettled)
			s.step("router back: node2 first", func() { s.reach("node2", 1) })
			s.step("node1 too", func() { s.reach("node1", 1) })
			s.step("counts still", s.pingSettled)
			if n := strings.Count(s.trace.String(), " stop "); n > 0 || s.owner(0) != "node1" {
				t.Errorf("owner %q, %d stops because one shared router died and came back:\n%s", s.owner(0), n, s.trace.String())
			}
		})
	}
}

// A ping node down everywhere is not a node cut off: nodes that hear each
// other still take over a dead node's groups.
func TestPingNodeDownEverywhere(t *testing.T) {
	groups := []Group{{ID: "a", Preferred: "node1"}, {ID: "c", Preferred: "node3"}}
	s := newSim(t, []string{"node1", "node2", "node3"}, groups, "on")
	s.cfg.PingNodes = 1
	all := func(r int) func() {
		return func() {
			for _, n := range []string{"node1", "node2", "node3"} {
				if s.nodes[n].up {
					s.reach(n, r)
				}
			}
			s.pingSettled()
		}
	}
	s.step("start", func() { s.bootAll("node1", "node2", "node3"); all(1)() })
	s.step("the router dies", all(0))
	if s.owner(0) != "node1" || s.owner(1) != "node3" {
		t.Fatalf("owners %q %q: nothing may move when every node loses the ping node", s.owner(0), s.owner(1))
	}
	s.step("node3 dies", func() { s.kill("node3") })
	if s.owner(1) != "node1" {
		t.Fatalf("node3's group on %q, want node1 (the next node; node1 and node2 hear each other)", s.owner(1))
	}
}

// Two nodes, the ping node down for both: the survivor of a crash takes
// over, since its dead peer reached no ping node either.
func TestPingNodeDownBothThenCrash(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.cfg.PingNodes = 1
	s.step("start", func() { s.bootAll("node1", "node2"); s.reach("node1", 1); s.reach("node2", 1); s.pingSettled() })
	s.step("the router dies", func() { s.reach("node1", 0); s.reach("node2", 0); s.pingSettled() })
	s.step("node1 dies", func() { s.kill("node1") })
	if s.owner(0) != "node2" || s.nodes["node2"].e.CutOff() {
		t.Fatalf("owner %q (cut off: %v), want node2: node1 reached no ping node either", s.owner(0), s.nodes["node2"].e.CutOff())
	}
}
