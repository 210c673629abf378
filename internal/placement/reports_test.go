package placement

import (
	"strings"
	"testing"
)

// reportAgain makes node send reports that change nothing it says of
// ping nodes: a group put in maintenance and back.
func (s *sim) reportAgain(node string) {
	s.t.Helper()
	before := s.sent[node]
	s.handle(node, s.nodes[node].e.SetMaintenance(0, true))
	s.settle()
	s.handle(node, s.nodes[node].e.SetMaintenance(0, false))
	if s.sent[node] == before {
		s.t.Fatalf("%s sent no report", node)
	}
}

// ReachChanges counts every change of a ping count this node knows: its
// own, a peer's first count (0 included) and a peer's changed one; a
// report that repeats a count does not count. The daemon waits for it to
// be still before it lets the counts be compared (PingSettled).
func TestReachChangesCountsEveryNewCount(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.cfg.PingNodes = 1
	s.initReach = map[string]int{"node1": 1, "node2": 0}
	s.step("both start, node2 reaching none", func() { s.bootAll("node1", "node2") })
	n1 := s.nodes["node1"].e
	if got := n1.ReachChanges(); got != 2 {
		t.Fatalf("ReachChanges %d after start, want 2: node1's own count and node2's first (0)", got)
	}
	s.step("node2 says the same again", func() { s.reportAgain("node2") })
	if got := n1.ReachChanges(); got != 2 {
		t.Errorf("ReachChanges %d after reports repeating node2's count, want still 2", got)
	}
	s.step("node2 reaches it", func() { s.reach("node2", 1) })
	if got := n1.ReachChanges(); got != 3 {
		t.Errorf("ReachChanges %d after node2's count changed, want 3", got)
	}
	s.step("node1 loses it", func() { s.reach("node1", 0) })
	if got := n1.ReachChanges(); got != 4 {
		t.Errorf("ReachChanges %d after node1's own count changed, want 4", got)
	}
	s.step("node1 is told the same count", func() { s.reach("node1", 0) })
	if got := n1.ReachChanges(); got != 4 {
		t.Errorf("ReachChanges %d after node1's count was set to what it was, want 4", got)
	}
}

// PingStatus and the reports say a count of 0 as a count, not as "not
// known": a node that reaches none of its ping nodes reports pg=0, and
// its peer shows it.
func TestPingCountZeroIsACount(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.cfg.PingNodes = 2
	s.initReach = map[string]int{"node1": 0, "node2": 2}
	s.step("both start", func() { s.bootAll("node1", "node2"); s.pingSettled() })
	if got, want := s.nodes["node1"].e.PingStatus(), "reaches 0 of 2 ping nodes; node2 reaches 2"; got != want {
		t.Errorf("node1's PingStatus %q, want %q", got, want)
	}
	if got, want := s.nodes["node2"].e.PingStatus(), "reaches 2 of 2 ping nodes; node1 reaches 0"; got != want {
		t.Errorf("node2's PingStatus %q, want %q", got, want)
	}
	if s.owner(0) != "node2" {
		t.Errorf("owner %q: node1 reaches none of the ping nodes node2 reaches, so node2 runs the group", s.owner(0))
	}
}

// A peer whose reports carry no ping count (a node without ping lines,
// or too old to send one) is not taken to reach any: it is not shown, and
// it is not compared.
func TestPeerWithoutPingCount(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("both start without ping nodes", func() { s.bootAll("node1", "node2") })
	for n, m := range s.sent {
		if _, ok := m.Get("pg"); ok {
			t.Fatalf("%s's report, in a cluster without ping nodes, carries pg=%q", n, m.Value("pg"))
		}
	}
	if len(s.sent) != 2 {
		t.Fatalf("reports of %d nodes seen, want both", len(s.sent))
	}
	// node1 alone is given ping nodes (its ha.cf has ping lines, node2's
	// has none): node2's reports still say nothing.
	n1 := s.nodes["node1"].e
	n1.cfg.PingNodes = 1
	s.step("node1 reaches its ping node", func() { s.reach("node1", 1); s.pingSettled() })
	s.step("node2 reports again", func() { s.reportAgain("node2") })
	if got, want := n1.PingStatus(), "reaches 1 of 1 ping nodes"; got != want {
		t.Errorf("node1's PingStatus %q, want %q (node2 said no count)", got, want)
	}
	s.step("node1 loses its ping node", func() { s.reach("node1", 0); s.pingSettled() })
	if s.owner(0) != "node1" {
		t.Errorf("owner %q: node2's count is not known, so node1, reaching none, is not compared with it and keeps the group", s.owner(0))
	}
	if got := n1.reachOf("node2"); got != -1 {
		t.Errorf("node2's count as node1 knows it: %d, want -1 (not said)", got)
	}
}

// A report that repeats a claim this node has already answered (the peer
// sent a report for another reason while it starts the group) gets no
// second answer.
func TestAnsweredClaimIsNotAnsweredAgain(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.cfg.PingNodes = 1
	s.initReach = map[string]int{"node1": 1, "node2": 1}
	s.step("both start", func() { s.bootAll("node1", "node2"); s.pingSettled() })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q, want node1", s.owner(0))
	}
	// node2 takes the group over; messages flow and node1 stops, but
	// node2's start is held: it stays Starting.
	n1, n2 := s.nodes["node1"], s.nodes["node2"]
	acts, err := n2.e.Takeover(All)
	if err != nil {
		t.Fatal(err)
	}
	s.handle("node2", acts)
	for round := 0; round < 200 && (len(s.queue) > 0 || len(n1.ops) > 0); round++ {
		if len(s.queue) > 0 {
			env := s.queue[0]
			s.queue = s.queue[1:]
			to := "node1"
			if env.from == "node1" {
				to = "node2"
			}
			s.handle(to, s.nodes[to].e.Receive(env.from, env.msg))
			continue
		}
		op := n1.ops[0]
		n1.ops = n1.ops[1:]
		s.handle("node1", n1.e.Done(op.Group, op.Op, true))
	}
	if n2.e.local[0] != Starting {
		t.Fatalf("node2's group is %s, want Starting (its start held)", n2.e.local[0])
	}
	// node2 reports again, for a reason of its own, while it starts.
	var report *Send
	for _, a := range n2.e.Reach(0) {
		if snd, ok := a.(Send); ok {
			report = &snd
		}
	}
	if report == nil {
		t.Fatal("node2 sent no report when its ping count changed")
	}
	if !strings.Contains(report.Msg.Value("st0"), string(Starting)) {
		t.Fatalf("node2's report says %q for the group, want %s", report.Msg.Value("st0"), Starting)
	}
	for _, a := range n1.e.Receive("node2", report.Msg) {
		if snd, ok := a.(Send); ok {
			t.Errorf("node1 answered a claim it had answered already: %v", snd.Msg)
		}
	}
}

// Cleanup clears a failed or blocked group; a group that runs is left as
// it is.
func TestCleanupLeavesARunningGroup(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("both start", func() { s.bootAll("node1", "node2") })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q, want node1", s.owner(0))
	}
	acts := s.nodes["node1"].e.Cleanup(0)
	if got := s.nodes["node1"].e.Local(0); got != Running || len(acts) != 0 {
		t.Errorf("node1's group is %s after a cleanup, with actions %v; want it still %s, nothing done", got, acts, Running)
	}
	if s.owner(0) != "node1" {
		t.Errorf("owner %q after a cleanup of a running group, want node1", s.owner(0))
	}
}
