package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/events"
)

// The events a node reports, as "kind subject@node state (reason)" lines,
// from index from on; heartbeat-level noise (links, quorum, this node's own
// start) left out unless keep says otherwise.
func (n *simNode) eventLines(from int, kinds ...events.Kind) []string {
	var out []string
	for _, e := range n.events[from:] {
		keep := len(kinds) == 0
		for _, k := range kinds {
			keep = keep || e.Kind == k
		}
		if !keep {
			continue
		}
		line := fmt.Sprintf("%s %s@%s %s", e.Kind, e.Subject, e.Node, e.State)
		if e.Reason != "" {
			line += " (" + e.Reason + ")"
		}
		if e.Op != nil {
			line += fmt.Sprintf(" [%s rc=%d]", e.Op.Name, e.Op.RC)
		}
		out = append(out, line)
	}
	return out
}

func wantLines(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s reported:\n  %s\nwant:\n  %s", who, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const simVIP = "IPaddr::198.18.0.10"

// A crash: the survivor reports the death, the link and the takeover with
// its cause; the node back reports its start, and the survivor the
// failback.
func TestSimEventsCrash(t *testing.T) {
	s := newSim(t, 1, 2, "node1 "+simVIP+"\n", "auto_failback on\n")
	s.cfg.Tuning.FailbackDelay = 0
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	n1, n2 := s.nodes["node1"], s.nodes["node2"]
	wantLines(t, "node1 at start", n1.eventLines(0, events.Node, events.Group, events.Link),
		"node node1@node1 up (lubdub started, generation 1)",
		"link eth0@node2 up", "node node2@node2 up (status message)",
		"node node1@node1 active", "node node2@node2 active (status message)",
		"group "+simVIP+"@node1 starting (placed on this node)",
		"group "+simVIP+"@node1 running (placed on this node) [start rc=0]")
	mark := len(n2.events)
	s.powerOff("node1")
	s.settle(5 * time.Second)
	wantLines(t, "node2 after node1's crash", n2.eventLines(mark),
		"node node1@node1 dead (no heartbeat for 400ms)", "link eth0@node1 dead",
		"group "+simVIP+"@node2 starting (node node1 is dead)",
		"group "+simVIP+"@node2 running (node node1 is dead) [start rc=0]")
	mark = len(n2.events)
	m1 := len(n1.events)
	s.boot("node1")
	s.runFor(3 * time.Second)
	s.settle(5 * time.Second)
	wantLines(t, "node2 after node1's return", n2.eventLines(mark, events.Group),
		"group "+simVIP+"@node2 stopping (placed on node1)",
		"group "+simVIP+"@node2 stopped (placed on node1) [stop rc=0]")
	wantLines(t, "node1 after its return", n1.eventLines(m1, events.Group),
		"group "+simVIP+"@node1 starting (placed on this node)",
		"group "+simVIP+"@node1 running (placed on this node) [start rc=0]")
	s.checkEvents()
}

// A standby: the node asked reports the request and its stop, the other
// its start.
func TestSimEventsStandby(t *testing.T) {
	s := newSim(t, 1, 2, "node1 "+simVIP+"\n", "auto_failback on\n")
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	n1, n2 := s.nodes["node1"], s.nodes["node2"]
	m1, m2 := len(n1.events), len(n2.events)
	s.control("node1", "standby", "all")
	s.settle(5 * time.Second)
	wantLines(t, "node1", n1.eventLines(m1),
		"standby all@node1 requested",
		"group "+simVIP+"@node1 stopping (standby all requested on node1)",
		"group "+simVIP+"@node1 stopped (standby all requested on node1) [stop rc=0]")
	wantLines(t, "node2", n2.eventLines(m2),
		"group "+simVIP+"@node2 starting (placed on this node)",
		"group "+simVIP+"@node2 running (placed on this node) [start rc=0]")
	s.checkEvents()
}

// A failed start: the node reports the failure with the operation's error
// and result, and ends failed; the other takes the group.
func TestSimEventsFailedStart(t *testing.T) {
	s := newSim(t, 1, 2, "node1 "+simVIP+"\n", "auto_failback on\n")
	s.nodes["node1"].failStart = true
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	wantLines(t, "node1", s.nodes["node1"].eventLines(0, events.Group),
		"group "+simVIP+"@node1 starting (placed on this node)",
		"group "+simVIP+"@node1 stopping (start failed: websrv: exit 1) [start rc=1]",
		"group "+simVIP+"@node1 failed (start failed: websrv: exit 1) [stop rc=0]")
	wantLines(t, "node2", s.nodes["node2"].eventLines(0, events.Group),
		"group "+simVIP+"@node2 starting (placed on this node)",
		"group "+simVIP+"@node2 running (placed on this node) [start rc=0]")
	s.checkEvents()
}

// A new reader's current state: every node and link, quorum and the
// groups, numbered with the last event.
func TestSimCurrentEvents(t *testing.T) {
	s := newSim(t, 1, 2, "node1 "+simVIP+"\n", "auto_failback on\n")
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	n1 := s.nodes["node1"]
	cur := n1.node.CurrentEvents(s.now)
	var lines []string
	for _, e := range cur {
		if !e.Replay || e.Seq != n1.events[len(n1.events)-1].Seq || e.Check() != nil {
			t.Errorf("current-state event %+v: want Replay, the last event's number, valid", e)
		}
		lines = append(lines, fmt.Sprintf("%s %s@%s %s", e.Kind, e.Subject, e.Node, e.State))
	}
	wantLines(t, "node1's current state", lines,
		"node node1@node1 active", "node node2@node2 active", "link eth0@node2 up",
		"quorum linux-ha@node1 quorate", "group "+simVIP+"@node1 running")
}

// checkEvents checks every node's reported events: valid; numbered 1, 2,
// 3, ... within each daemon's life; a group's or a node's "was" the state
// reported before; the groups' last reported state the one in force.
func (s *sim) checkEvents() {
	s.t.Helper()
	for _, name := range s.names {
		n := s.nodes[name]
		var gen, seq uint64
		var last map[string]string
		for _, e := range n.events {
			if e.Generation != gen {
				gen, seq, last = e.Generation, 0, map[string]string{}
			}
			if err := e.Check(); err != nil {
				s.fail("%s: %v: %+v", name, err, e)
			}
			if e.Seq != seq+1 {
				s.fail("%s: event %d after %d (generation %d)", name, e.Seq, seq, gen)
			}
			seq = e.Seq
			key := string(e.Kind) + " " + e.Subject
			switch e.Kind {
			case events.Group, events.Node:
				before, ok := last[key]
				if !ok {
					before = map[events.Kind]string{events.Group: "stopped", events.Node: "init"}[e.Kind]
				}
				if e.State != "restarted" && e.Was != before {
					s.fail("%s: %s %s: was %q, but %q was reported before", name, e.Kind, e.Subject, e.Was, before)
				}
				if e.State != "restarted" {
					last[key] = e.State
				}
			}
		}
		if n.node == nil {
			continue
		}
		for g, grp := range s.cfg.Groups {
			if got, want := last["group "+grp.ID()], string(n.node.eng.Local(g)); got != want && !(got == "" && want == "stopped") {
				s.fail("%s: group %s last reported %q, but it is %q", name, grp.ID(), got, want)
			}
		}
	}
}

// Fencing: the survivor reports the fencing pending (fence_delay: it holds
// nothing), each try, its failure, and its success, then the takeover
// with the fencing as its cause.
func TestSimEventsFencing(t *testing.T) {
	s := newSim(t, 22, 2, "node1 "+simVIP+"\n", "auto_failback on\n")
	s.powerFencing(300 * time.Millisecond)
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	n2 := s.nodes["node2"]
	mark := len(n2.events)
	s.fenceBroken = true
	s.nodes["node1"].node = nil // a hung daemon: its group stays up
	s.runFor(1500 * time.Millisecond)
	s.fenceBroken = false
	s.runFor(5 * time.Second)
	wantLines(t, "node2", n2.eventLines(mark, events.Node, events.Fencing, events.Group),
		"node node1@node1 dead (no heartbeat for 400ms)",
		"fencing node1@node1 pending",
		"fencing node1@node1 fencing (try 1)",
		"fencing node1@node1 failed (sim)",
		"fencing node1@node1 fencing (try 2)",
		"fencing node1@node1 fenced (sim)",
		"group "+simVIP+"@node2 starting (node node1 fenced)",
		"group "+simVIP+"@node2 running (node node1 fenced) [start rc=0]")
	s.checkEvents()
}
