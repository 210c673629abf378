package placement

import (
	"log/slog"
	"testing"
)

// sends counts the reports among actions.
func sends(acts []Action) int {
	n := 0
	for _, a := range acts {
		if _, ok := a.(Send); ok {
			n++
		}
	}
	return n
}

// Whatever one call changes, it sends at most one report: several in one
// step collapse into the last, which carries everything.
func TestOneReportPerStep(t *testing.T) {
	groups := []Group{{ID: "g1", Preferred: "node1"}, {ID: "g2", Preferred: "node1"}, {ID: "g3", Preferred: "node2"}}
	s := newSim(t, []string{"node1", "node2"}, groups, "on")
	check := func(what string, acts []Action) []Action {
		if n := sends(acts); n > 1 {
			t.Errorf("%s: %d reports in one step", what, n)
		}
		return acts
	}
	s.bootAll("node1", "node2")
	s.settle()
	e := s.nodes["node1"].e
	acts, _ := e.Standby(All)
	s.handle("node1", check("standby all", acts))
	s.settle()
	acts, _ = e.Takeover(All)
	s.handle("node1", check("takeover all", acts))
	// Completing the starts: each Done both reports and may reconcile.
	for len(s.nodes["node1"].ops) > 0 {
		op := s.nodes["node1"].ops[0]
		s.nodes["node1"].ops = s.nodes["node1"].ops[1:]
		s.handle("node1", check("done", e.Done(op.Group, op.Op, true)))
	}
	s.settle()
	s.handle("node1", check("leave", e.Leave()))
}

// Status shows this node's own state of each group also before the node
// has joined: a group found still running at start-up is shown blocked.
func TestGroupViewBeforeJoining(t *testing.T) {
	e := New(Config{Local: "node2", Nodes: []string{"node1", "node2"}, Groups: web, AutoFailback: "on", Epoch: 1}, slog.New(slog.DiscardHandler))
	e.Probe([]bool{true})
	if v := e.Groups()[0]; v.Nodes["node2"] != Blocked || len(v.Nodes) != 1 {
		t.Fatalf("view before joining: %+v, want node2 blocked", v)
	}
}

// Acting (what a clean stop waits for) is false while a claim only awaits
// its acknowledgements, nothing having started, and true from the start
// on.
func TestActingFromTheStart(t *testing.T) {
	e := New(Config{Local: "node2", Nodes: []string{"node1", "node2"}, Groups: []Group{{ID: web[0].ID, Preferred: "node2"}}, AutoFailback: "on", Epoch: 1}, slog.New(slog.DiscardHandler))
	e.NodeUp("node1")
	e.Ready()
	e.Receive("node1", peerReport(1, 3, Stopped))
	if e.Local(0) != Starting || e.Busy(0) {
		t.Fatalf("state %s busy %v, want a claim awaiting node1's acknowledgement", e.Local(0), e.Busy(0))
	}
	if e.Acting(0) || !e.Idle() {
		t.Fatal("a claim not yet acknowledged counts as acting")
	}
	m := peerReport(2, 3, Stopped)
	for i, f := range m.Fields {
		if f.Name == "ack" {
			m.Fields[i].Value = []byte("node2:1:99") // node1 has seen our reports up to 99
		}
	}
	acts := e.Receive("node1", m)
	started := false
	for _, a := range acts {
		if r, ok := a.(Run); ok && r.Op == OpStart {
			started = true
		}
	}
	if !started || !e.Acting(0) || e.Idle() {
		t.Fatalf("after the acknowledgement: started %v acting %v idle %v", started, e.Acting(0), e.Idle())
	}
}
