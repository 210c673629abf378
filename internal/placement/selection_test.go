package placement

import (
	"log/slog"
	"strconv"
	"testing"

	"github.com/lubdub/lubdub/internal/wire"
)

// hb_standby and hb_takeover take "local" (the groups this node is the
// preferred node of), "foreign" (the others) or "all".
func TestStandbyAndTakeoverSelections(t *testing.T) {
	groups := []Group{{ID: "g1", Preferred: "node1"}, {ID: "g2", Preferred: "node2"}}
	owners := func(s *sim) string { return s.owner(0) + " " + s.owner(1) }
	for _, c := range []struct {
		on    string
		which Which
		op    string
		want  string
	}{
		{"node1", Foreign, "takeover", "node1 node1"},
		{"node1", Local, "takeover", "node1 node2"},
		{"node2", Foreign, "takeover", "node2 node2"},
		{"node1", Local, "standby", "node2 node2"},
		{"node1", Foreign, "standby", "node1 node2"},
		{"node2", Foreign, "standby", "node1 node2"},
		{"node2", Local, "standby", "node1 node1"},
		{"node2", All, "standby", "node1 node1"},
	} {
		s := newSim(t, []string{"node1", "node2"}, groups, "on")
		s.step("start", func() { s.bootAll("node1", "node2") })
		if got := owners(s); got != "node1 node2" {
			t.Fatalf("owners at start %q", got)
		}
		s.step(c.op+" "+string(c.which)+" on "+c.on, func() {
			e := s.nodes[c.on].e
			var acts []Action
			var err error
			if c.op == "takeover" {
				acts, err = e.Takeover(c.which)
			} else {
				acts, err = e.Standby(c.which)
			}
			if err != nil {
				t.Fatal(err)
			}
			s.handle(c.on, acts)
		})
		if got := owners(s); got != c.want {
			t.Errorf("%s %s on %s: owners %q, want %q", c.op, c.which, c.on, got, c.want)
		}
	}
}

func peerReport(rev, ep uint64, state State) *wire.Message {
	m := &wire.Message{}
	m.Add(wire.FType, MsgType)
	m.Add("rev", strconv.FormatUint(rev, 10))
	m.Add("ep", strconv.FormatUint(ep, 10))
	m.Add("ack", "")
	m.Add("vw", "node1 node2") // it counts both nodes alive
	m.Add("id0", web[0].ID)
	m.Add("st0", string(state))
	m.Add("as0", "0 ")
	return m
}

// A report from an earlier incarnation of a node (a lower epoch, late or
// replayed) is ignored: it must not make this node believe that a group
// the node runs now is stopped there.
func TestReportFromEarlierIncarnationIgnored(t *testing.T) {
	e := New(Config{Local: "node2", Nodes: []string{"node1", "node2"}, Groups: web, AutoFailback: "off", Epoch: 1}, slog.New(slog.DiscardHandler))
	e.NodeUp("node1")
	e.Ready()
	e.Receive("node1", peerReport(1, 5, Running))
	for _, a := range e.Receive("node1", peerReport(9, 4, Stopped)) {
		if r, ok := a.(Run); ok && r.Op == OpStart {
			t.Fatal("started the group on a report from node1's earlier incarnation")
		}
	}
	if got := e.Groups()[0].Nodes["node1"]; got != Running {
		t.Fatalf("node1's state taken as %s from an older incarnation's report, want running", got)
	}
	// The same incarnation's newer report counts.
	e.Receive("node1", peerReport(2, 5, Stopped))
	if got := e.Groups()[0].Nodes["node1"]; got != Stopped {
		t.Fatalf("node1's newer report not taken: %s", got)
	}
}
