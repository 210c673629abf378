package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/membership"
	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/resource"
)

// This file is the core's side of the event stream (package events): what
// the node reports, as data, through Seams.Event. It is part of the pure
// core: the time is the step's, and nothing here waits.
//
// Nodes, links, fencing, standby, takeover and reloads are reported where
// they happen. Group states and quorum are reported by observe at the end
// of every step, by comparing them with what was last reported, so that a
// change is reported once whatever caused it; the step records its cause
// (because) and the operation results it took (opEnded) for the reason.

// reporter is what the node last reported, and the current step's causes.
type reporter struct {
	seq     uint64
	groups  []groupSeen
	local   membership.Status
	quorate bool
	qSince  time.Time
	left    map[string]bool // peers whose last departure was a clean stop
	// cause: why this step changes groups, when the step knows it; ops:
	// the operations that ended in this step, per group, and why they
	// failed.
	cause    string
	ops      map[int]*events.OpResult
	opFailed map[int]string
	opBegan  []time.Time // when each group's running operation began
	monBegan []time.Time
}

// groupSeen is a group's state here as last reported.
type groupSeen struct {
	state  placement.State
	reason string
	since  time.Time
}

func (n *Node) startReporting(now time.Time) {
	n.rep = reporter{groups: make([]groupSeen, len(n.cfg.Groups)), local: membership.StatusInit,
		quorate: n.eng.Quorate(), qSince: now, left: map[string]bool{},
		ops: map[int]*events.OpResult{}, opFailed: map[int]string{},
		opBegan: make([]time.Time, len(n.cfg.Groups)), monBegan: make([]time.Time, len(n.cfg.Groups))}
	for g := range n.rep.groups {
		n.rep.groups[g] = groupSeen{state: placement.Stopped, since: now}
	}
}

// emit reports one event, numbered and timed now.
func (n *Node) emit(now time.Time, kind events.Kind, subject, node, state, was, reason string, op *events.OpResult) {
	n.rep.seq++
	if n.seams.Event == nil {
		return
	}
	n.seams.Event(events.Event{Seq: n.rep.seq, Generation: n.id.Generation, Time: now, Origin: n.local(),
		Kind: kind, Subject: subject, Node: node, State: state, Was: was, Reason: reason, Op: op})
}

// because records why this step changes groups.
func (n *Node) because(format string, a ...any) { n.rep.cause = fmt.Sprintf(format, a...) }

// nodeChanged reports a peer's new status; a clean stop is "left".
func (n *Node) nodeChanged(now time.Time, a membership.NodeChanged) {
	to, from := string(a.To), string(a.From)
	if n.rep.left[a.Node] {
		from = "left"
	}
	delete(n.rep.left, a.Node)
	if a.To == membership.StatusDead && a.Reason == membership.ReasonShutdown {
		to = "left"
		n.rep.left[a.Node] = true
		n.because("node %s left", a.Node)
	} else if a.To == membership.StatusDead {
		n.because("node %s is dead", a.Node)
	}
	n.emit(now, events.Node, a.Node, a.Node, to, from, a.Reason, nil)
}

// opBegan notes when a group operation began, for its result's time.
func (n *Node) opBegan(now time.Time, g int, op resource.Op) {
	if op == resource.Monitor {
		n.rep.monBegan[g] = now
	} else if op == resource.Start || op == resource.Stop {
		n.rep.opBegan[g] = now
	}
}

// opEnded records a group operation's result for the group event it
// causes: Pacemaker's alert agents are told of operations, and the reason
// of a failure is the operation's error. A monitor is reported only when
// it fails (and so stops the group).
func (n *Node) opEnded(now time.Time, r resource.Result) {
	var began time.Time
	switch r.Op {
	case resource.Start, resource.Stop:
		began = n.rep.opBegan[r.Group]
	case resource.Monitor:
		if r.OK || n.eng.Local(r.Group) != placement.Running || n.eng.Busy(r.Group) {
			return
		}
		began = n.rep.monBegan[r.Group]
	default:
		return
	}
	op := &events.OpResult{Name: string(r.Op), RC: events.RCOK}
	if !began.IsZero() {
		op.TookMS = now.Sub(began).Milliseconds()
	}
	if r.Op == resource.Monitor {
		op.IntervalMS = n.cfg.Tuning.MonitorInterval.Milliseconds()
	}
	if !r.OK {
		op.RC = events.RCError
		if r.Op == resource.Monitor {
			op.RC = events.RCNotRunning
		}
		op.TimedOut = errors.Is(r.Err, resource.ErrTimeout)
		why := "failed"
		if r.Err != nil {
			why = "failed: " + r.Err.Error()
		}
		n.rep.opFailed[r.Group] = string(r.Op) + " " + why
	}
	n.rep.ops[r.Group] = op
}

// observe reports what this step changed in the local groups, quorum and
// this node's own status, then forgets the step's causes.
func (n *Node) observe(now time.Time) {
	if st := n.mach.LocalStatus(); st != n.rep.local {
		why := ""
		if n.rep.local == membership.StatusInit {
			why = fmt.Sprintf("lubdub started, generation %d", n.id.Generation)
		}
		n.emit(now, events.Node, n.local(), n.local(), string(st), string(n.rep.local), why, nil)
		n.rep.local = st
	}
	if q := n.eng.Quorate(); q != n.rep.quorate {
		n.emit(now, events.Quorum, n.cfg.Cluster, n.local(), quorumState(q), quorumState(n.rep.quorate), quorumWhy(n.eng.QuorumStatus()), nil)
		n.rep.quorate, n.rep.qSince = q, now
	}
	for g := range n.rep.groups {
		seen := &n.rep.groups[g]
		st := n.eng.Local(g)
		if st == seen.state {
			continue
		}
		reason := n.groupReason(g, st, seen)
		n.emit(now, events.Group, n.cfg.Groups[g].ID(), n.local(), string(st), string(seen.state), reason, n.rep.ops[g])
		*seen = groupSeen{state: st, reason: reason, since: now}
	}
	n.rep.cause = ""
	clear(n.rep.ops)
	clear(n.rep.opFailed)
}

// groupReason says why group g went from seen to st: the failure of the
// operation that ended, or the step's cause; a state that ends a start or
// a stop keeps the reason of its beginning.
func (n *Node) groupReason(g int, st placement.State, seen *groupSeen) string {
	if why := n.rep.opFailed[g]; why != "" {
		return why
	}
	if st == placement.Blocked && seen.state == placement.Stopped {
		return "found running at start-up, and it would not stop"
	}
	ends := (st == placement.Running && seen.state == placement.Starting) ||
		(seen.state == placement.Stopping && (st == placement.Stopped || st == placement.Failed || st == placement.Blocked))
	switch {
	case ends && seen.reason != "":
		return seen.reason
	case n.rep.cause != "":
		return n.rep.cause
	case !n.eng.Quorate():
		return "no quorum"
	case st == placement.Starting:
		return "placed on this node"
	case st == placement.Stopping || (st == placement.Stopped && seen.state == placement.Starting):
		return "placed on " + nobody(n.eng.Desired(g))
	}
	return ""
}

func nobody(node string) string {
	if node == "" {
		return "no node"
	}
	return node
}

func quorumState(q bool) string {
	if q {
		return "quorate"
	}
	return "inquorate"
}

// quorumWhy is the reason part of the engine's "yes (2 of 3 votes)".
func quorumWhy(status string) string {
	if i := strings.IndexByte(status, '('); i >= 0 {
		return strings.TrimSuffix(status[i+1:], ")")
	}
	return status
}

// fencingEvent reports a step of a peer's fencing.
func (n *Node) fencingEvent(now time.Time, peer, state, reason string) {
	n.emit(now, events.Fencing, peer, peer, state, "", reason, nil)
}

// reloaded reports a configuration reload, and the settings that changed
// but wait for a restart.
func (n *Node) reloaded(now time.Time, kept []string) {
	why := ""
	if len(kept) > 0 {
		why = strings.Join(kept, ", ") + " changed: kept as they were until a restart"
	}
	n.emit(now, events.Config, n.cfg.Dir, n.local(), "reloaded", "", why, nil)
}

// ConfigRefused reports a configuration the daemon would not load (the
// running one stays); why is its first error.
func (n *Node) ConfigRefused(now time.Time, why string) {
	n.emit(now, events.Config, n.cfg.Dir, n.local(), "refused", "", why, nil)
}

// CurrentEvents is the node's state now as events (marked Replay, with the
// number of the last event reported), for a new reader of the stream:
// every node and its links, quorum, fencing under way and the local
// groups, each timed when it began where that is known.
func (n *Node) CurrentEvents(now time.Time) []events.Event {
	var out []events.Event
	add := func(at time.Time, kind events.Kind, subject, node, state, reason string) {
		if at.IsZero() {
			at = now
		}
		out = append(out, events.Event{Seq: n.rep.seq, Generation: n.id.Generation, Time: at, Origin: n.local(), Replay: true,
			Kind: kind, Subject: subject, Node: node, State: state, Reason: reason})
	}
	for _, v := range n.mach.Nodes() {
		st := string(v.Status)
		if n.rep.left[v.Name] && v.Status == membership.StatusDead {
			st = "left"
		}
		add(v.Since, events.Node, v.Name, v.Name, st, "")
		if v.Local {
			continue
		}
		for _, l := range v.Links {
			add(time.Time{}, events.Link, l.Name, v.Name, l.Status, "")
		}
	}
	add(n.rep.qSince, events.Quorum, n.cfg.Cluster, n.local(), quorumState(n.rep.quorate), quorumWhy(n.eng.QuorumStatus()))
	peers := make([]string, 0, len(n.fencing))
	for p := range n.fencing {
		peers = append(peers, p)
	}
	slices.Sort(peers)
	for _, p := range peers {
		f := n.fencing[p]
		st := "pending"
		if f.inFlight {
			st = "fencing"
		}
		add(time.Time{}, events.Fencing, p, p, st, f.last)
	}
	for g, seen := range n.rep.groups {
		add(seen.since, events.Group, n.cfg.Groups[g].ID(), n.local(), string(seen.state), seen.reason)
	}
	return out
}
