package membership

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A node whose peer never boots stays "up" for initdead, then declares the
// peer dead and goes active on its own, as Heartbeat's Comm_now_up does
// once every node is heard from or dead. Without this, a cluster could
// never start with a node missing.
func TestColdStartWithADeadPeer(t *testing.T) {
	cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1)
	var logs strings.Builder
	m := New(cfg, t0, slog.New(slog.NewTextHandler(&logs, nil)))
	m.Start(t0)
	if m.LocalStatus() != StatusUp {
		t.Fatalf("status at start %s, want up", m.LocalStatus())
	}
	if w := m.NextWakeup(); w.After(t0.Add(cfg.Keepalive)) {
		t.Fatalf("next wakeup %v after start, want within keepalive", w.Sub(t0))
	}
	var changes []NodeChanged
	var active time.Time
	for now := t0; now.Before(t0.Add(2 * cfg.Initdead)); now = now.Add(10 * time.Millisecond) {
		for _, a := range m.Tick(now) {
			if c, ok := a.(NodeChanged); ok {
				changes = append(changes, c)
			}
			if s, ok := a.(Send); ok && s.Msg.Value("st") == string(StatusActive) && active.IsZero() {
				active = now
			}
		}
		if now.Before(t0.Add(cfg.Initdead)) && m.LocalStatus() != StatusUp {
			t.Fatalf("%v after start, before initdead (%v): status %s, want up", now.Sub(t0), cfg.Initdead, m.LocalStatus())
		}
	}
	if m.LocalStatus() != StatusActive {
		t.Fatalf("status after initdead: %s, want active", m.LocalStatus())
	}
	if got := active.Sub(t0); got != cfg.Initdead {
		t.Errorf("went active %v after start, want at initdead (%v)", got, cfg.Initdead)
	}
	if len(changes) != 1 || changes[0].Node != "bravo" || changes[0].To != StatusDead || !strings.Contains(changes[0].Reason, "initdead") {
		t.Fatalf("node changes %+v, want bravo dead for initdead", changes)
	}
	if v := m.Nodes()[1]; v.Name != "bravo" || v.Status != StatusDead {
		t.Fatalf("view of bravo: %+v", v)
	}
	if !strings.Contains(logs.String(), "Comm_now_up(): updating status to active") {
		t.Error("no Comm_now_up log line")
	}
}

// A node alone in ha.cf goes active at once.
func TestSingleNodeActiveAtStart(t *testing.T) {
	m := New(cfgFor("alpha", []string{"alpha"}, []string{"eth0"}, 1), t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	if m.LocalStatus() != StatusActive {
		t.Fatalf("status %s, want active", m.LocalStatus())
	}
}
