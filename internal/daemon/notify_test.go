package daemon

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/placement"
)

// sentLog records what a notifier sends.
type sentLog struct {
	sent     []string
	watchdog time.Duration
}

func (r *sentLog) Notify(state string) error        { r.sent = append(r.sent, state); return nil }
func (r *sentLog) WatchdogInterval() time.Duration  { return r.watchdog }
func (r *sentLog) take() []string                   { s := r.sent; r.sent = nil; return s }
func fixedMonotonic() string                        { return "MONOTONIC_USEC=42\n" }
func quietLog() *slog.Logger                        { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func group(id string, st placement.State) groupHere { return groupHere{id: id, state: st} }

// The order systemd must see: the start extended for initdead, READY=1
// only once the node has joined, STATUS= naming the groups held here as
// they change, RELOADING=1 then READY=1 around a reload (a refused one
// said until the next), STOPPING=1 when leaving, nothing about reloads
// after that.
func TestNotifierSequence(t *testing.T) {
	r := &sentLog{}
	t0 := time.Unix(1000, 0)
	s := newNotifier(r, t0, 3*time.Second, fixedMonotonic, quietLog())
	step := func(what string, want ...string) {
		t.Helper()
		if got := r.take(); !slices.Equal(got, want) {
			t.Fatalf("%s: sent %q, want %q", what, got, want)
		}
	}
	step("start", "STATUS=joining the cluster: waiting to hear every node (initdead 3s)\nEXTEND_TIMEOUT_USEC=33000000")
	s.reloading()
	s.reloaded(notifyView{}, true)
	step("a reload before joining")
	s.update(t0, notifyView{groups: []groupHere{group("g1", placement.Stopped)}})
	step("not joined yet")
	v := notifyView{joined: true, groups: []groupHere{group("g1", placement.Stopped), group("g2", placement.Stopped)}}
	s.update(t0, v)
	step("joined", "READY=1\nSTATUS=active, holding no group")
	s.update(t0, v)
	step("nothing changed")
	v.groups[0].state = placement.Starting
	s.update(t0, v)
	step("starting", "STATUS=active, holding no group; starting g1")
	v.groups[0].state = placement.Running
	v.groups[1].state = placement.Running
	s.update(t0, v)
	step("running", "STATUS=active, holding g1, g2")
	s.reloading()
	s.reloaded(v, true)
	step("reload", "RELOADING=1\nMONOTONIC_USEC=42\nSTATUS=reloading the configuration", "READY=1\nSTATUS=active, holding g1, g2")
	s.reloading()
	s.reloaded(v, false)
	const refused = "configuration NOT reloaded (errors in the log), the old one in force; "
	step("refused reload", "RELOADING=1\nMONOTONIC_USEC=42\nSTATUS=reloading the configuration", "READY=1\nSTATUS="+refused+"active, holding g1, g2")
	v.groups[1].state = placement.Blocked
	s.update(t0, v)
	step("blocked, the refusal still said", "STATUS="+refused+"active, holding g1; blocked g2 (lubdub cleanup GROUP once it is stopped)")
	s.reloading()
	s.reloaded(v, true)
	r.take()
	v.leaving = true
	v.groups[0].state = placement.Stopping
	s.update(t0, v)
	step("leaving", "STOPPING=1\nSTATUS=leaving the cluster, holding no group; stopping g1; blocked g2 (lubdub cleanup GROUP once it is stopped)")
	s.reloading()
	s.reloaded(v, true)
	step("a reload while leaving")
}

// A node that never joins says so, and is never READY; one that leaves
// before joining says STOPPING=1 without READY=1.
func TestNotifierLeavesBeforeJoining(t *testing.T) {
	r := &sentLog{}
	s := newNotifier(r, time.Unix(0, 0), time.Minute, fixedMonotonic, quietLog())
	r.take()
	s.update(time.Unix(1, 0), notifyView{leaving: true})
	if got := r.take(); !slices.Equal(got, []string{"STOPPING=1\nSTATUS=leaving the cluster, holding no group"}) {
		t.Fatalf("sent %q", got)
	}
}

// WATCHDOG=1 goes out at half the watchdog interval, from update (the
// loop) only, and due says when the loop must wake for it.
func TestNotifierWatchdog(t *testing.T) {
	r := &sentLog{watchdog: 2 * time.Second}
	t0 := time.Unix(1000, 0)
	s := newNotifier(r, t0, time.Second, fixedMonotonic, quietLog())
	if got := r.take(); len(got) != 2 || got[1] != "WATCHDOG=1" {
		t.Fatalf("start: sent %q, want the status then WATCHDOG=1", got)
	}
	if !s.due().Equal(t0.Add(time.Second)) {
		t.Fatalf("due %v, want 1s after the start", s.due())
	}
	s.update(t0.Add(999*time.Millisecond), notifyView{})
	if got := r.take(); len(got) != 0 {
		t.Fatalf("before it is due: sent %q", got)
	}
	s.update(t0.Add(1100*time.Millisecond), notifyView{})
	if got := r.take(); !slices.Equal(got, []string{"WATCHDOG=1"}) {
		t.Fatalf("when due: sent %q", got)
	}
	if !s.due().Equal(t0.Add(2100 * time.Millisecond)) {
		t.Fatalf("next due %v", s.due())
	}
	var none *notifier
	if !none.due().IsZero() {
		t.Fatal("a nil notifier is due")
	}
	none.update(t0, notifyView{})
	none.reloading()
	none.reloaded(notifyView{}, true)
	if newNotifier(nil, t0, time.Second, fixedMonotonic, quietLog()) != nil {
		t.Fatal("a notifier without a Notifier")
	}
}
