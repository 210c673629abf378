package membership

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/wire"
)

// peerStatus is bravo's status heartbeat number seq, announcing deadtime
// dt (Heartbeat writes it in hexadecimal milliseconds; "" leaves it out).
func peerStatus(seq uint64, dt string) *wire.Message {
	m := &wire.Message{}
	m.Add(wire.FType, wire.TStatus)
	m.Add(wire.FStatus, string(StatusActive))
	if dt != "" {
		m.Add(wire.FDeadtime, dt)
	}
	m.Add(wire.FOrig, "bravo")
	m.Add(wire.FSeq, strconv.FormatUint(seq, 16))
	m.Add(wire.FGeneration, "1")
	m.Add(wire.FTime, "1")
	return m
}

// deadAfter feeds alpha one heartbeat from bravo announcing dt, then ticks
// alpha until it declares bravo dead, and returns how long that took; 0
// when bravo is still alive after 5 s.
func deadAfter(t *testing.T, dt string) time.Duration {
	t.Helper()
	m := New(cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1), t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	m.Receive(t0, "eth0", peerStatus(1, dt))
	if got := m.Nodes()[1].Status; got != StatusActive {
		t.Fatalf("bravo is %s after its heartbeat", got)
	}
	for now := t0; now.Before(t0.Add(5 * time.Second)); now = now.Add(10 * time.Millisecond) {
		m.Tick(now)
		if m.Nodes()[1].Status == StatusDead {
			return now.Sub(t0)
		}
	}
	return 0
}

// Heartbeat takes each node's deadtime from the dt field of its heartbeats
// (heartbeat.c: fromnode->dead_ticks = dt): a peer configured with a
// longer deadtime than ours is given its own, so a node with a slow
// keepalive is not declared dead by a peer with a short deadtime.
func TestPeersAnnouncedDeadtimeIsUsed(t *testing.T) {
	// Our deadtime is 300ms; bravo announces 0x3e8 = 1000ms.
	if got := deadAfter(t, "3e8"); got != time.Second {
		t.Errorf("bravo announcing dt=3e8 declared dead after %v, want 1s", got)
	}
	// 0x64 = 100ms, shorter than ours: it counts as well.
	if got := deadAfter(t, "64"); got != 100*time.Millisecond {
		t.Errorf("bravo announcing dt=64 declared dead after %v, want 100ms", got)
	}
	// Without dt, or with one that makes no sense (zero, not hex, beyond
	// 2^31 ms), our own deadtime applies.
	for _, dt := range []string{"", "0", "zz", "80000000"} {
		if got := deadAfter(t, dt); got != 300*time.Millisecond {
			t.Errorf("bravo announcing dt=%q declared dead after %v, want our 300ms", dt, got)
		}
	}
	if got := deadAfter(t, "7fffffff"); got != 0 {
		t.Errorf("bravo announcing dt=7fffffff (the largest taken, 24 days) declared dead after %v", got)
	}
}
