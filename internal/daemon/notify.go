package daemon

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/membership"
	"github.com/lubdub/lubdub/internal/placement"
)

// Notifier tells a service manager how the daemon is doing, in systemd's
// sd_notify(3) terms. SystemdNotifier is the real one; Options.Notify nil
// tells nobody.
type Notifier interface {
	// Notify sends newline-separated assignments ("READY=1\nSTATUS=...").
	Notify(state string) error
	// WatchdogInterval is the service's watchdog timeout (systemd's
	// WatchdogSec=, from $WATCHDOG_USEC); 0 without one.
	WatchdogInterval() time.Duration
}

// notifyView is what the service manager hears about: whether this node
// has joined the cluster (every peer heard from or declared dead after
// initdead, Heartbeat's Comm_now_up), whether it is leaving, and the state
// here of each resource group.
type notifyView struct {
	joined, leaving bool
	groups          []groupHere
}

type groupHere struct {
	id    string
	state placement.State
}

// view reads the node's notifyView. It is built only when a Notifier is
// set (under systemd), once per event of the loop.
func (n *Node) notifyView() notifyView {
	v := notifyView{joined: n.mach.LocalStatus() == membership.StatusActive, leaving: n.leaving}
	for g, grp := range n.cfg.Groups {
		v.groups = append(v.groups, groupHere{id: grp.ID(), state: n.eng.Local(g)})
	}
	return v
}

// tellNotifier updates the notifier (if any) with the node's state; the
// loop calls it after every event.
func (d *daemon) tellNotifier() {
	if d.notify != nil {
		d.notify.update(time.Now(), d.node.notifyView())
	}
}

// notifier sequences what the service manager is told, from the daemon's
// loop only: READY=1 once, when the node has joined; RELOADING=1 then
// READY=1 around a SIGHUP; STATUS= whenever its text changes (the groups
// held here); STOPPING=1 once, when the node starts leaving; WATCHDOG=1
// every half watchdog interval. A nil *notifier does nothing.
type notifier struct {
	n        Notifier
	log      *slog.Logger
	initdead time.Duration
	ready    bool
	stopping bool
	// inReload: between RELOADING=1 and READY=1 the status stays
	// "reloading" (the configuration is read off the loop meanwhile).
	inReload bool
	status   string
	note     string        // before the status: a refused reload, until the next reload
	every    time.Duration // keep-alive period; 0: no watchdog
	next     time.Time     // next keep-alive
	failed   bool          // a send failed (logged once)
	// monotonic is MONOTONIC_USEC=...\n for RELOADING=1 (systemd 253's
	// Type=notify-reload wants it; older ones ignore it).
	monotonic func() string
}

// startExtra is how much longer than initdead systemd is asked to wait for
// READY=1: the node joins at initdead at the latest, on a loaded machine
// a little later.
const startExtra = 30 * time.Second

// newNotifier starts telling n (nil: nobody): the start may take up to
// initdead, longer than systemd's default start timeout, so it is
// extended (EXTEND_TIMEOUT_USEC, systemd 236 and later).
func newNotifier(n Notifier, now time.Time, initdead time.Duration, monotonic func() string, log *slog.Logger) *notifier {
	if n == nil {
		return nil
	}
	s := &notifier{n: n, log: log, initdead: initdead, monotonic: monotonic}
	if w := n.WatchdogInterval(); w > 0 {
		s.every = w / 2
		s.next = now
		log.Info(fmt.Sprintf("systemd watchdog: %s, kept alive every %s", w, s.every))
	}
	s.status = joiningStatus(initdead)
	s.send(fmt.Sprintf("STATUS=%s\nEXTEND_TIMEOUT_USEC=%d", s.status, (initdead + startExtra).Microseconds()))
	s.keepAlive(now)
	return s
}

func (s *notifier) send(state string) {
	if err := s.n.Notify(state); err != nil && !s.failed {
		s.failed = true
		s.log.Warn("cannot notify systemd (NOTIFY_SOCKET)", "err", err)
	}
}

// keepAlive sends WATCHDOG=1 when it is due.
func (s *notifier) keepAlive(now time.Time) {
	if s.every > 0 && !now.Before(s.next) {
		s.send("WATCHDOG=1")
		s.next = now.Add(s.every)
	}
}

// due is when the loop must next call update: the next keep-alive (zero
// without a watchdog).
func (s *notifier) due() time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.next
}

// update is called after every event of the loop.
func (s *notifier) update(now time.Time, v notifyView) {
	if s == nil {
		return
	}
	var msg []string
	if v.joined && !s.ready && !v.leaving {
		s.ready = true
		msg = append(msg, "READY=1")
	}
	if v.leaving && !s.stopping {
		s.stopping = true
		s.note = ""
		msg = append(msg, "STOPPING=1")
	}
	if st := s.note + statusText(v, s.initdead); (st != s.status && !s.inReload) || len(msg) > 0 {
		s.status = st
		msg = append(msg, "STATUS="+st)
	}
	if len(msg) > 0 {
		s.send(strings.Join(msg, "\n"))
	}
	s.keepAlive(now)
}

// reloading is sent before a reload, when the daemon was ready.
func (s *notifier) reloading() {
	if s == nil || !s.ready || s.stopping {
		return
	}
	s.status = "reloading the configuration"
	s.inReload = true
	s.send("RELOADING=1\n" + s.monotonic() + "STATUS=" + s.status)
}

// reloaded is sent after a reload: READY=1 again, and whether the new
// configuration was taken.
func (s *notifier) reloaded(v notifyView, ok bool) {
	if s == nil || !s.inReload {
		return
	}
	s.inReload = false
	if s.stopping {
		return
	}
	s.note = ""
	if !ok {
		s.note = "configuration NOT reloaded (errors in the log), the old one in force; "
	}
	s.status = s.note + statusText(v, s.initdead)
	s.send("READY=1\nSTATUS=" + s.status)
}

func joiningStatus(initdead time.Duration) string {
	return fmt.Sprintf("joining the cluster: waiting to hear every node (initdead %s)", initdead)
}

// statusText is the STATUS= line: the node's stage, then the groups held
// here (running), and those on their way in or out or stuck.
func statusText(v notifyView, initdead time.Duration) string {
	if !v.joined && !v.leaving {
		return joiningStatus(initdead)
	}
	var held []string
	other := map[placement.State][]string{}
	for _, g := range v.groups {
		switch g.state {
		case placement.Running:
			held = append(held, g.id)
		case placement.Starting, placement.Stopping, placement.Failed, placement.Blocked:
			other[g.state] = append(other[g.state], g.id)
		}
	}
	var b strings.Builder
	if v.leaving {
		b.WriteString("leaving the cluster")
	} else {
		b.WriteString("active")
	}
	if len(held) == 0 {
		b.WriteString(", holding no group")
	} else {
		fmt.Fprintf(&b, ", holding %s", strings.Join(held, ", "))
	}
	for _, st := range []placement.State{placement.Starting, placement.Stopping, placement.Failed, placement.Blocked} {
		if ids := other[st]; len(ids) > 0 {
			fmt.Fprintf(&b, "; %s %s", st, strings.Join(ids, ", "))
		}
	}
	if len(other[placement.Blocked]) > 0 {
		b.WriteString(" (lubdub cleanup GROUP once it is stopped)")
	}
	return b.String()
}
