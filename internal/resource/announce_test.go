package resource

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// fakeARP records what an Announcer sends, at the test's clock.
type fakeARP struct {
	clock *time.Time
	sent  map[netip.Addr][]time.Duration // offsets from the test's start
	start time.Time
	ifidx map[netip.Addr]int
}

func (f *fakeARP) Send(ifindex int, addr netip.Addr) error {
	f.sent[addr] = append(f.sent[addr], f.clock.Sub(f.start))
	f.ifidx[addr] = ifindex
	return nil
}
func (f *fakeARP) Close() error { return nil }

// testAnnouncer runs an announcer on a fake clock, stepped 1ms at a time.
type testAnnouncer struct {
	*Announcer
	f   *fakeARP
	now time.Time
}

func newTestAnnouncer() *testAnnouncer {
	t := &testAnnouncer{now: time.Unix(1e9, 0)}
	t.f = &fakeARP{clock: &t.now, start: t.now, sent: map[netip.Addr][]time.Duration{}, ifidx: map[netip.Addr]int{}}
	t.Announcer = newAnnouncer(t.f, slog.New(slog.DiscardHandler), func() time.Time { return t.now })
	return t
}

func (t *testAnnouncer) advance(d time.Duration) {
	for end := t.now.Add(d); t.now.Before(end); t.now = t.now.Add(time.Millisecond) {
		t.sendDue(t.now)
	}
	t.sendDue(t.now)
}

var vip = netip.MustParseAddr("198.18.0.10")

// The schedule, as Start uses it: at once, every 50ms 25 times (past the
// 1 s ARP locktime), once at 2 s; then the address is held, silent.
func TestAnnouncerSchedule(t *testing.T) {
	a := newTestAnnouncer()
	a.Announce(7, vip)
	a.advance(5 * time.Second)
	got := a.f.sent[vip]
	if len(got) != 27 || got[0] != 0 || got[1] != 50*time.Millisecond || got[25] != 1250*time.Millisecond || got[26] != 2*time.Second {
		t.Fatalf("frames at %v", got)
	}
	if a.f.ifidx[vip] != 7 || a.Announcing(vip) {
		t.Errorf("interface %d, still announcing %v", a.f.ifidx[vip], a.Announcing(vip))
	}
	// Held: a healed partition's re-announcement runs the schedule again.
	if !a.Reannounce(vip) {
		t.Fatal("a held address was not re-announced")
	}
	a.advance(5 * time.Second)
	if n := len(a.f.sent[vip]); n != 54 {
		t.Errorf("%d frames after the re-announcement, want 54", n)
	}
}

// Release stops an address's frames at once, and a released address is
// not re-announced: a stop that raced a heal's announcement wins.
func TestAnnouncerRelease(t *testing.T) {
	a := newTestAnnouncer()
	a.Announce(1, vip)
	a.advance(120 * time.Millisecond)
	a.Release(vip)
	n := len(a.f.sent[vip])
	if n != 3 {
		t.Fatalf("%d frames in 120ms, want 3", n)
	}
	if a.Reannounce(vip) {
		t.Error("a released address was re-announced")
	}
	a.advance(3 * time.Second)
	if len(a.f.sent[vip]) != n {
		t.Errorf("%d frames after Release", len(a.f.sent[vip])-n)
	}
}

// A standby then a takeover (Release then Announce), or two starts, run
// one schedule, not two.
func TestAnnouncerOneScheduleAtATime(t *testing.T) {
	a := newTestAnnouncer()
	a.Announce(1, vip)
	a.advance(100 * time.Millisecond)
	a.Release(vip)
	a.Announce(1, vip)
	a.advance(30 * time.Millisecond)
	a.Announce(1, vip)
	a.advance(5 * time.Second)
	// 3 of the first schedule, 1 of the second before its restart, 27.
	if n := len(a.f.sent[vip]); n != 31 {
		t.Errorf("%d frames, want 31", n)
	}
}

// A late wake-up (a paused process) resumes the schedule two spacings
// before now: the frames missed before are not sent in a burst; one a
// little late still goes out.
func TestAnnouncerNoBurstWhenLate(t *testing.T) {
	a := newTestAnnouncer()
	a.Announce(1, vip)
	a.sendDue(a.now)
	a.now = a.now.Add(600 * time.Millisecond)
	a.sendDue(a.now)
	// The one due at 50ms, then those due at 500, 550 and 600ms.
	if n := len(a.f.sent[vip]); n != 5 {
		t.Errorf("%d frames after a 600ms stall, want 5, not the 12 missed", n)
	}
	a.now = a.now.Add(70 * time.Millisecond) // 20ms late for 650ms
	a.sendDue(a.now)
	if n := len(a.f.sent[vip]); n != 6 {
		t.Errorf("a frame 20ms late was not sent (%d frames)", n)
	}
}
