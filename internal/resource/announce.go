package resource

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// ARPSender sends one gratuitous ARP (a request and a reply) for an
// address from an interface. Its real form keeps one socket per
// interface.
type ARPSender interface {
	Send(ifindex int, addr netip.Addr) error
	Close() error
}

// Announcer owns the gratuitous ARP of every address this node holds, as
// MetalLB's layer-2 announcer does: an address is held from Announce (the
// address was added) to Release (before it is removed), with one schedule
// at a time, started by Announce and restarted by Reannounce (a partition
// healed while clients followed the other side); Release ends it at once,
// and Reannounce does nothing for an address not held.
//
// The schedule: at once, then every Spacing Repeats times, then once at
// Last. Linux ignores ARP updates for an entry refreshed less than its
// locktime (1 s) ago, unless they are gratuitous (Linux 4.x and later), so
// that the repeats cover older clients and lost frames.
type Announcer struct {
	Spacing time.Duration // 50ms
	Repeats int           // 25: 1.25 s, past the locktime
	Last    time.Duration // 2s

	send ARPSender
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	active map[netip.Addr]*announcement
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

type announcement struct {
	ifindex int
	start   time.Time
	sent    int  // frames sent so far in this schedule
	done    bool // the schedule is over; the address is still held
}

// NewAnnouncer starts an announcer sending through send.
func NewAnnouncer(send ARPSender, log *slog.Logger) *Announcer {
	a := newAnnouncer(send, log, time.Now)
	go a.loop()
	return a
}

// newAnnouncer makes an announcer without its loop; tests call sendDue.
func newAnnouncer(send ARPSender, log *slog.Logger, now func() time.Time) *Announcer {
	return &Announcer{Spacing: 50 * time.Millisecond, Repeats: 25, Last: 2 * time.Second,
		send: send, log: log, now: now, active: map[netip.Addr]*announcement{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// offset is when the i-th frame of a schedule goes out, false after the
// last.
func (a *Announcer) offset(i int) (time.Duration, bool) {
	switch {
	case i <= a.Repeats:
		return time.Duration(i) * a.Spacing, true
	case i == a.Repeats+1 && a.Last > time.Duration(a.Repeats)*a.Spacing:
		return a.Last, true
	}
	return 0, false
}

// Announce holds addr on the interface and starts (or restarts) its
// schedule.
func (a *Announcer) Announce(ifindex int, addr netip.Addr) {
	a.mu.Lock()
	if !a.closed {
		a.active[addr] = &announcement{ifindex: ifindex, start: a.now()}
	}
	a.mu.Unlock()
	a.poke()
}

// Reannounce restarts the schedule of addr if it is held, and reports
// whether it is.
func (a *Announcer) Reannounce(addr netip.Addr) bool {
	a.mu.Lock()
	an, ok := a.active[addr]
	if ok {
		*an = announcement{ifindex: an.ifindex, start: a.now()}
	}
	a.mu.Unlock()
	a.poke()
	return ok
}

// Release lets addr go: no frame for it leaves after Release returns.
func (a *Announcer) Release(addr netip.Addr) {
	a.mu.Lock()
	delete(a.active, addr)
	a.mu.Unlock()
}

// Announcing reports whether addr has a schedule running.
func (a *Announcer) Announcing(addr netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	an, ok := a.active[addr]
	return ok && !an.done
}

// Close ends every schedule and the sender.
func (a *Announcer) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	clear(a.active)
	a.mu.Unlock()
	close(a.done)
	return a.send.Close()
}

func (a *Announcer) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *Announcer) loop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := a.sendDue(a.now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-a.done:
			return
		case <-a.wake:
		case <-timer.C:
		}
	}
}

// sendDue sends what is due at now, under the lock so that a Release
// cannot be overtaken, and returns when the next frame is due (zero if
// none is).
func (a *Announcer) sendDue(now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var next time.Time
	for addr, an := range a.active {
		for !an.done {
			off, ok := a.offset(an.sent)
			if !ok {
				an.done = true
				break
			}
			at := an.start.Add(off)
			if at.After(now) {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				break
			}
			if err := a.send.Send(an.ifindex, addr); err != nil && an.sent == 0 {
				a.log.Warn(fmt.Sprintf("gratuitous ARP for %s: %v", addr, err))
			}
			// A frame a little late (a busy machine) still goes out; those
			// missed during a long stall (a paused process) are not sent in
			// a burst: the schedule resumes two spacings before now.
			for an.sent++; ; an.sent++ {
				off, ok := a.offset(an.sent)
				if !ok || !an.start.Add(off).Before(now.Add(-2*a.Spacing)) {
					break
				}
			}
		}
	}
	return next
}
