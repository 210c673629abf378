// Package pingnode tracks Heartbeat's ping nodes: routers or switches
// that answer ICMP echo and count as pseudo-nodes, the tie-breakers
// between cluster nodes (ipfail's rule). Tracker is the pure part: it
// says when to send echoes and turns replies and time into status
// changes; Pinger (pinger.go) is the socket.
//
// As Heartbeat's ping and ping_group plugins (lib/plugins/HBcomm/ping.c,
// ping_group.c): an echo goes to every address every keepalive; a node is
// "ping" while an address of it answered within deadping, "dead" after;
// before its first answer it is "init" until deadping has passed since
// start. Unlike Heartbeat, silence counts only while echoes go out: an
// address is dead only once an echo sent after its last answer has gone
// unanswered for deadping less one interval, so a daemon that was paused
// (or a loop that fell behind) does not declare its ping nodes dead the
// moment it resumes.
package pingnode

import (
	"net/netip"
	"time"
)

// Statuses, as cl_status nodestatus prints them for a ping node.
const (
	StatusInit = "init"
	StatusPing = "ping" // answering (Heartbeat's PINGSTATUS)
	StatusDead = "dead"
)

// Node is one ping node: a ping line's host, or a ping_group's hosts.
type Node struct {
	Name  string
	Addrs []netip.Addr
	Group bool
}

// Config is what the tracker needs from ha.cf.
type Config struct {
	Nodes []Node
	// Interval between echoes to each address (ha.cf keepalive).
	Interval time.Duration
	// Deadping: a node none of whose addresses answered for this long
	// is dead.
	Deadping time.Duration
}

// Change is a ping node whose status changed.
type Change struct {
	Node     string
	From, To string
}

// Tracker is the ping nodes' state. It reads no clock: every call takes
// the time.
type Tracker struct {
	cfg   Config
	start time.Time
	heard map[netip.Addr]time.Time // last answer per address
	// asked: per address, the first echo sent after its last answer
	// (absent: none yet).
	asked    map[netip.Addr]time.Time
	status   []string
	since    []time.Time
	nextSend time.Time
}

// New makes a tracker at now; the first echoes are due at once.
func New(cfg Config, now time.Time) *Tracker {
	t := &Tracker{cfg: cfg, start: now, heard: map[netip.Addr]time.Time{}, asked: map[netip.Addr]time.Time{}, nextSend: now,
		status: make([]string, len(cfg.Nodes)), since: make([]time.Time, len(cfg.Nodes))}
	for i := range t.status {
		t.status[i], t.since[i] = StatusInit, now
	}
	return t
}

// Due returns the addresses to send an echo to now (every address, once
// per interval), or nil.
func (t *Tracker) Due(now time.Time) []netip.Addr {
	if now.Before(t.nextSend) || len(t.cfg.Nodes) == 0 {
		return nil
	}
	t.nextSend = now.Add(t.cfg.Interval)
	var out []netip.Addr
	for _, n := range t.cfg.Nodes {
		for _, a := range n.Addrs {
			if _, ok := t.asked[a]; !ok {
				t.asked[a] = now
			}
		}
		out = append(out, n.Addrs...)
	}
	return out
}

// Reply records an echo reply from addr; replies from addresses of no
// ping node are ignored.
func (t *Tracker) Reply(now time.Time, addr netip.Addr) []Change {
	known := false
	for _, n := range t.cfg.Nodes {
		for _, a := range n.Addrs {
			known = known || a == addr.Unmap()
		}
	}
	if !known {
		return nil
	}
	t.heard[addr.Unmap()] = now
	delete(t.asked, addr.Unmap())
	return t.Tick(now)
}

// Tick recomputes every node's status at now.
func (t *Tracker) Tick(now time.Time) []Change {
	var out []Change
	for i, n := range t.cfg.Nodes {
		s := t.statusAt(n, now, t.status[i])
		if s != t.status[i] {
			out = append(out, Change{Node: n.Name, From: t.status[i], To: s})
			t.status[i], t.since[i] = s, now
		}
	}
	return out
}

func (t *Tracker) statusAt(n Node, now time.Time, was string) string {
	silent := true
	for _, a := range n.Addrs {
		if t.up(a, now) {
			return StatusPing
		}
		at, ok := t.deadAt(a)
		silent = silent && ok && !now.Before(at)
	}
	switch {
	case !silent && was == StatusInit:
		return StatusInit
	case !silent:
		return was // answered before, and not yet asked long enough
	}
	return StatusDead
}

// up: addr answered, and is not yet dead (deadAt).
func (t *Tracker) up(a netip.Addr, now time.Time) bool {
	_, heard := t.heard[a]
	at, ok := t.deadAt(a)
	return heard && (!ok || now.Before(at))
}

// deadAt is when an address counts as silent: deadping after its last
// answer (or start), once an echo sent since has waited deadping less an
// interval; never (false) while no echo has been sent since.
func (t *Tracker) deadAt(a netip.Addr) (time.Time, bool) {
	asked, ok := t.asked[a]
	if !ok {
		return time.Time{}, false
	}
	last, heard := t.heard[a]
	if !heard {
		last = t.start
	}
	d := last.Add(t.cfg.Deadping)
	if w := asked.Add(t.cfg.Deadping - t.cfg.Interval); w.After(d) {
		d = w
	}
	return d, true
}

// NextWakeup is when Tick or Due next has something to do.
func (t *Tracker) NextWakeup() time.Time {
	if len(t.cfg.Nodes) == 0 {
		return time.Time{}
	}
	next := t.nextSend
	for i, n := range t.cfg.Nodes {
		if t.status[i] == StatusDead {
			continue
		}
		// It changes when its last address falls silent.
		var exp time.Time
		never := false
		for _, a := range n.Addrs {
			at, ok := t.deadAt(a)
			never = never || !ok
			if at.After(exp) {
				exp = at
			}
		}
		if !never && exp.Before(next) {
			next = exp
		}
	}
	return next
}

// Reach is how many ping nodes answer: the number ipfail compares.
func (t *Tracker) Reach() int {
	n := 0
	for _, s := range t.status {
		if s == StatusPing {
			n++
		}
	}
	return n
}

// Configured is the number of ping nodes.
func (t *Tracker) Configured() int { return len(t.cfg.Nodes) }

// View is one ping node as status tools show it.
type View struct {
	Name   string
	Group  bool
	Status string
	Since  time.Time
	// Addrs: each address and when it last answered (zero: never).
	Addrs []AddrView
}

// AddrView is one address of a ping node.
type AddrView struct {
	Addr      netip.Addr
	LastHeard time.Time
	Up        bool // answered within deadping
}

// Nodes returns every ping node's view at now.
func (t *Tracker) Nodes(now time.Time) []View {
	var out []View
	for i, n := range t.cfg.Nodes {
		v := View{Name: n.Name, Group: n.Group, Status: t.status[i], Since: t.since[i]}
		for _, a := range n.Addrs {
			at := t.heard[a]
			v.Addrs = append(v.Addrs, AddrView{Addr: a, LastHeard: at, Up: t.up(a, now)})
		}
		out = append(out, v)
	}
	return out
}
