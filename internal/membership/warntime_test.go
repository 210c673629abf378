package membership

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/wire"
)

// "Late heartbeat" is logged when the interval between two heartbeats is
// longer than warntime, not when it equals it (heartbeat.c:
// heartbeat_ms > warntime_ms).
func TestLateHeartbeatAfterWarntime(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		late     bool
	}{
		{200 * time.Millisecond, false}, // warntime itself
		{201 * time.Millisecond, true},
	} {
		var logs strings.Builder
		cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1)
		m := New(cfg, t0, slog.New(slog.NewTextHandler(&logs, nil)))
		m.Start(t0)
		m.Receive(t0, "eth0", bravoMsg(wire.TStatus, 1, wire.FStatus, "active"))
		m.Receive(t0.Add(c.interval), "eth0", bravoMsg(wire.TStatus, 2, wire.FStatus, "active"))
		if got := strings.Contains(logs.String(), "Late heartbeat: Node bravo"); got != c.late {
			t.Errorf("heartbeats %v apart (warntime %v): late heartbeat logged %v, want %v", c.interval, cfg.Warntime, got, c.late)
		}
	}
}
