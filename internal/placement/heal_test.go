package placement

import (
	"testing"

	"github.com/lubdub/lubdub/internal/wire"
)

// drive completes the operations among acts at once (all succeed) and
// returns the messages sent meanwhile.
func drive(t *testing.T, e *Engine, acts []Action) []*wire.Message {
	t.Helper()
	var sent []*wire.Message
	for round := 0; len(acts) > 0; round++ {
		if round > 100 {
			t.Fatal("the engine keeps acting")
		}
		var next []Action
		for _, a := range acts {
			switch a := a.(type) {
			case Send:
				sent = append(sent, a.Msg)
			case Run:
				if a.Op != OpAnnounce {
					next = append(next, e.Done(a.Group, a.Op, true)...)
				}
			}
		}
		acts = next
	}
	return sent
}

func announces(acts []Action) bool {
	for _, a := range acts {
		if r, ok := a.(Run); ok && r.Op == OpAnnounce {
			return true
		}
	}
	return false
}

// Issue 8, healing under random loss (found by e2e/faults): node2 stops
// hearing node1, takes the group over (its gratuitous ARP takes the
// clients along), hears node1 again and gives the group back, all while
// node1 hears node2 throughout but loses every report that said node2 ran
// the group. node1, which kept the group, must still announce it again:
// node2's count of starts in its next report says it ran it. Before, node1
// announced nothing and the clients stayed with node2, unanswered, until
// their ARP entries expired (20 s and more).
func TestAnnouncesAgainAfterAPeerRanTheGroupUnseen(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.bootAll("node1", "node2")
	s.settle()
	n1, n2 := s.nodes["node1"].e, s.nodes["node2"].e
	if n1.local[0] != Running || n2.local[0] != Stopped {
		t.Fatalf("node1 %s, node2 %s: want node1 running the group", n1.local[0], n2.local[0])
	}
	// Twice: the second time node2's count of starts is 2 (it counts up).
	for round := 1; round <= 2; round++ {
		// node2 alone: it takes the group; its reports are lost.
		acts := append(n2.NodeDown("node1"), n2.View([]string{"node2"}, []string{"node2"})...)
		drive(t, n2, acts)
		if n2.local[0] != Running {
			t.Fatalf("node2 %s after node1's death, want running", n2.local[0])
		}
		// node2 hears node1 again (its report saying it runs the group is lost
		// too), then node1's report: it gives the group back.
		acts = append(n2.NodeUp("node1"), n2.View([]string{"node1", "node2"}, []string{"node1", "node2"})...)
		drive(t, n2, acts)
		n1.sendReport()
		var fromNode1 *wire.Message
		for _, a := range n1.flush() {
			if m, ok := a.(Send); ok {
				fromNode1 = m.Msg
			}
		}
		sent := drive(t, n2, n2.Receive("node1", fromNode1))
		if n2.local[0] != Stopped || len(sent) == 0 {
			t.Fatalf("node2 %s after node1's report (%d reports sent), want stopped", n2.local[0], len(sent))
		}
		// Only node2's last report reaches node1.
		acts = n1.Receive("node2", sent[len(sent)-1])
		if !announces(acts) {
			t.Fatalf("round %d: node1 kept the group that node2 ran meanwhile, and did not announce it again", round)
		}
		drive(t, n1, acts) // the announcement done
		if n1.local[0] != Running {
			t.Fatalf("node1 %s, want running", n1.local[0])
		}
		if got := n1.peerStarts["node2"][0]; got != uint64(round) {
			t.Fatalf("round %d: node2's count of starts as node1 knows it is %d, want %d", round, got, round)
		}
	}
	// Once only: node2's next report changes nothing.
	n2.sendReport()
	for _, a := range n2.flush() {
		if m, ok := a.(Send); ok && announces(n1.Receive("node2", m.Msg)) {
			t.Error("node1 announced again on a report that says nothing new")
		}
	}
}
