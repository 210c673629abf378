// Package pingnode tracks Heartbeat's ping nodes: routers or switches
// that answer ICMP echo and count as pseudo-nodes, the tie-breakers
// between cluster nodes (ipfail's rule). Tracker is the pure part: it
// says when to send echoes and turns replies and time into status
// changes; Pinger (pinger_linux.go) is the socket.
//
// As Heartbeat's ping and ping_group plugins (lib/plugins/HBcomm/ping.c,
// ping_group.c): an echo goes to every address every keepalive; a node is
// "ping" while an address of it answered within deadping, "dead" after;
// before its first answer it is "init" until deadping has passed since
// start.
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
	cfg      Config
	start    time.Time
	heard    map[netip.Addr]time.Time // last answer per address
	status   []string
	since    []time.Time
	nextSend time.Time
}

// New makes a tracker at now; the first echoes are due at once.
func New(cfg Config, now time.Time) *Tracker {
	t := &Tracker{cfg: cfg, start: now, heard: map[netip.Addr]time.Time{}, nextSend: now,
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
	for _, a := range n.Addrs {
		if at, ok := t.heard[a]; ok && now.Sub(at) < t.cfg.Deadping {
			return StatusPing
		}
	}
	if was == StatusInit && now.Sub(t.start) < t.cfg.Deadping {
		return StatusInit
	}
	return StatusDead
}

// NextWakeup is when Tick or Due next has something to do.
func (t *Tracker) NextWakeup() time.Time {
	if len(t.cfg.Nodes) == 0 {
		return time.Time{}
	}
	next := t.nextSend
	for i, n := range t.cfg.Nodes {
		var exp time.Time
		switch t.status[i] {
		case StatusInit:
			exp = t.start.Add(t.cfg.Deadping)
		case StatusPing:
			for _, a := range n.Addrs {
				if at, ok := t.heard[a]; ok && at.Add(t.cfg.Deadping).After(exp) {
					exp = at.Add(t.cfg.Deadping)
				}
			}
		default:
			continue
		}
		if exp.Before(next) {
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
			v.Addrs = append(v.Addrs, AddrView{Addr: a, LastHeard: at, Up: !at.IsZero() && now.Sub(at) < t.cfg.Deadping})
		}
		out = append(out, v)
	}
	return out
}
