// Package events is lubdub's one ordered stream of what happens: nodes and
// links coming and going, resource groups starting, running, stopping,
// failing or blocked, standby and takeover requests, fencing, quorum and
// configuration reloads.
//
// An Event is data. The daemon's core, a pure state machine, makes them
// (numbered, and timed with the time of the step that caused them); its edge
// fans them out without ever waiting: to readers of the control socket
// (lubdub events, lubdub status --watch) through a Stream, and to notify
// hooks and Pacemaker alert agents (package notify).
//
// Order: within one daemon's life Seq rises by one for every event and never
// goes back; a restarted daemon counts again from 1 under a higher
// Generation (the node's generation number, which rises at every start), so
// (Generation, Seq) never goes back on a node. A new reader is first sent the
// current state as Replay events, carrying the Seq of the last event that
// state includes, so a reader that reconnects is never stale.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind says what an event is about.
type Kind string

// Kinds of events. Subject, Node and State mean, per kind:
const (
	// Node: Subject and Node are the node; State is init (never heard
	// from), up (heard, joining), active, dead (silent for deadtime) or
	// left (it announced a clean stop).
	Node Kind = "node"
	// Link: Subject is the link (interface or tty), Node the peer heard on
	// it; State is up or dead.
	Link Kind = "link"
	// Group: Subject is the resource group (its first resource, as lubdub
	// status shows it), Node the node where its state changed (the
	// reporting node); State is starting, running, stopping, stopped,
	// failed or blocked; Reason says why, and Op the operation result that
	// caused it, if one did.
	Group Kind = "group"
	// Quorum: Subject is the cluster name, Node the reporting node; State
	// is quorate or inquorate, Reason the vote count.
	Quorum Kind = "quorum"
	// Fencing: Subject and Node are the node fenced; State is pending
	// (waiting for fence_delay or quorum), fencing (a try runs), fenced or
	// failed (Reason: the device's answer; it is tried again).
	Fencing Kind = "fencing"
	// Standby and Takeover: an operator's request on the reporting node
	// (Node); Subject is all, local or foreign; State is requested.
	Standby  Kind = "standby"
	Takeover Kind = "takeover"
	// Config: Subject is the configuration directory; State is reloaded
	// (Reason: settings kept until a restart) or refused (Reason: the
	// first error; the running configuration stays).
	Config Kind = "config"
)

// Kinds lists every kind, in the order above.
var Kinds = []Kind{Node, Link, Group, Quorum, Fencing, Standby, Takeover, Config}

// Event is one thing that happened, as one node saw it.
type Event struct {
	Seq        uint64    `json:"seq"`
	Generation uint64    `json:"generation"`
	Time       time.Time `json:"time"`
	Origin     string    `json:"origin"` // the node whose daemon reports it
	Kind       Kind      `json:"kind"`
	Subject    string    `json:"subject"`
	Node       string    `json:"node"`
	State      string    `json:"state"`
	Was        string    `json:"was,omitempty"` // the state before, when known
	Reason     string    `json:"reason,omitempty"`
	// Replay marks the current state sent to a new reader: not a change,
	// and Seq is that of the last event the state includes.
	Replay bool `json:"replay,omitempty"`
	// Op is the resource operation whose end caused a group event.
	Op *OpResult `json:"op,omitempty"`
}

// OpResult is the end of a start, stop or monitor of a group here.
type OpResult struct {
	Name string `json:"name"` // start, stop or monitor
	// RC is the operation's result as an OCF exit code: 0 success, 1 a
	// generic error (a start or stop that failed), 7 not running (a
	// monitor that found the group stopped).
	RC       int  `json:"rc"`
	TimedOut bool `json:"timed_out,omitempty"`
	// TookMS is how long it ran, in milliseconds; IntervalMS the monitor's
	// interval (0 for start and stop).
	TookMS     int64 `json:"took_ms"`
	IntervalMS int64 `json:"interval_ms,omitempty"`
}

// OCF exit codes used in OpResult.RC.
const (
	RCOK         = 0
	RCError      = 1
	RCNotRunning = 7
)

// ErrInvalid is wrapped by Decode for a line that is not an event.
var ErrInvalid = errors.New("not an event")

// Decode reads one event as lubdub events --json prints it (one JSON
// object a line), and checks that it could have come from a daemon.
func Decode(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := e.Check(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Check reports what makes e impossible: an unknown kind, no subject or
// state, a sequence number of 0 (only the current state sent before the
// first event has it), an operation on a non-group event or with
// a name other than start, stop or monitor.
func (e Event) Check() error {
	known := false
	for _, k := range Kinds {
		known = known || e.Kind == k
	}
	switch {
	case !known:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, e.Kind)
	case e.Seq == 0 && !e.Replay:
		return fmt.Errorf("%w: no sequence number", ErrInvalid)
	case e.Subject == "" || e.State == "":
		return fmt.Errorf("%w: %s event without subject or state", ErrInvalid, e.Kind)
	case e.Op != nil && e.Kind != Group:
		return fmt.Errorf("%w: %s event with a resource operation", ErrInvalid, e.Kind)
	case e.Op != nil && e.Op.Name != "start" && e.Op.Name != "stop" && e.Op.Name != "monitor":
		return fmt.Errorf("%w: unknown resource operation %q", ErrInvalid, e.Op.Name)
	}
	return nil
}

// String is the event as lubdub events prints it: the time (local, to the
// millisecond), the sequence number, what, where, the new state, and the
// state before and the reason when known; the current state sent first to
// a new reader is marked "(now)".
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %6d %-8s %s", e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Seq, e.Kind, e.Subject)
	if e.Node != e.Subject {
		fmt.Fprintf(&b, " on %s", e.Node)
	}
	fmt.Fprintf(&b, ": %s", e.State)
	if e.Replay {
		b.WriteString(" (now)")
	}
	var why []string
	if e.Was != "" && !e.Replay {
		why = append(why, "was "+e.Was)
	}
	if e.Op != nil {
		op := fmt.Sprintf("%s rc=%d", e.Op.Name, e.Op.RC)
		if e.Op.TimedOut {
			op += " timed out"
		}
		why = append(why, fmt.Sprintf("%s after %dms", op, e.Op.TookMS))
	}
	if e.Reason != "" {
		why = append(why, e.Reason)
	}
	if len(why) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(why, "; "))
	}
	return b.String()
}
