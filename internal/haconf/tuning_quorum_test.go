package haconf

import (
	"strings"
	"testing"
	"time"
)

// Quorum and self-fencing settings: defaults, values, refusals, and the
// watchdog timeout derived from the fence timeout.
func TestQuorumSettings(t *testing.T) {
	r := &Report{}
	d := parseTuning("lubdub.cf", "", r)
	if d.NoQuorumPolicy != "stop" || !d.WaitForAllWith(2) || d.WaitForAllWith(3) || d.WatchdogFenceTimeout != 0 || d.WatchdogTimeout() != 0 {
		t.Errorf("defaults: %+v", d)
	}
	if got := d.FailbackDelayFor(400 * time.Millisecond); got != 1200*time.Millisecond {
		t.Errorf("default failback_delay with deadtime 400ms = %v, want 3 deadtimes", got)
	}
	v := parseTuning("lubdub.cf", "no_quorum_policy freeze\nwait_for_all off\nwatchdog_fence_timeout 10s\nfailback_delay 0\n", r)
	if len(r.Errors) != 0 || v.NoQuorumPolicy != "freeze" || v.WaitForAllWith(2) || v.WatchdogTimeout() != 5*time.Second || v.FailbackDelayFor(time.Second) != 0 {
		t.Errorf("read %+v, errors %v", v, r.Errors)
	}
	if w := (Tuning{WatchdogFenceTimeout: 2500 * time.Millisecond}).WatchdogTimeout(); w != time.Second {
		t.Errorf("watchdog timeout for a 2.5 s fence timeout = %v, want 1 s (whole seconds, half or less)", w)
	}
	for _, bad := range []string{"no_quorum_policy suicide", "wait_for_all perhaps", "watchdog_fence_timeout soon"} {
		r := &Report{}
		parseTuning("lubdub.cf", bad+"\n", r)
		if len(r.Errors) != 1 || r.Errors[0].Line != 1 {
			t.Errorf("%q: errors %v", bad, r.Errors)
		}
	}
}

// Self-fencing without a watchdog device is an error naming what to add.
func TestWatchdogFenceTimeoutNeedsAWatchdog(t *testing.T) {
	dir := write(t, map[string]string{"ha.cf": "node a\nbcast eth0\n", "authkeys": goodAuth, "lubdub.cf": "watchdog_fence_timeout 130s\n"})
	_, r := Load(dir, Options{})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "add 'watchdog /dev/watchdog' to ha.cf") {
		t.Errorf("errors %v", r.Errors)
	}
}

// The fence timeout must cover 2 deadtimes of stale quorum plus the
// watchdog (half of it, whole seconds, at least 1 s): more than deadtime +
// keepalive + that.
func TestWatchdogFenceTimeoutCoversStaleQuorum(t *testing.T) {
	for _, tc := range []struct {
		hacf, f string
		errs    int
	}{
		{"keepalive 2\ndeadtime 30\n", "64s", 1},         // 30 + 2 + 32 = 64
		{"keepalive 2\ndeadtime 30\n", "66s", 0},         // 30 + 2 + 33 < 66
		{"keepalive 100ms\ndeadtime 250ms\n", "1.2s", 1}, // 0.25 + 0.1 + 1 > 1.2
		{"keepalive 100ms\ndeadtime 400ms\n", "2.5s", 0}, // the simulation's
	} {
		dir := write(t, map[string]string{"ha.cf": "node a\nbcast eth0\nwatchdog /dev/watchdog\n" + tc.hacf, "authkeys": goodAuth, "lubdub.cf": "watchdog_fence_timeout " + tc.f + "\n"})
		_, r := Load(dir, Options{})
		if len(r.Errors) != tc.errs || (tc.errs == 1 && !strings.Contains(r.Errors[0].Msg, "must be more than deadtime + keepalive")) {
			t.Errorf("%q watchdog_fence_timeout %s: errors %v", tc.hacf, tc.f, r.Errors)
		}
	}
}

// loadHaCf reads an ha.cf (with a good authkeys) and returns the config
// and report.
func loadHaCf(t *testing.T, hacf string) (*Config, *Report) {
	t.Helper()
	dir := write(t, map[string]string{"ha.cf": hacf, "authkeys": goodAuth})
	return Load(dir, Options{})
}

// The watchdog device's timeout: Heartbeat's deadtime + 10 ms rounded up
// to whole seconds (hb_init_watchdog_interval), half the fence timeout
// with self-fencing, none without a watchdog.
func TestWatchdogDeviceTimeout(t *testing.T) {
	for _, c := range []struct {
		hacf, lubdubcf string
		want           time.Duration
	}{
		{"deadtime 300ms\n", "", 0},
		{"deadtime 300ms\nwatchdog /dev/watchdog\n", "", time.Second},
		{"deadtime 990ms\nwatchdog /dev/watchdog\n", "", time.Second},
		{"deadtime 991ms\nwatchdog /dev/watchdog\n", "", 2 * time.Second},
		{"deadtime 1500ms\nwatchdog /dev/watchdog\n", "", 2 * time.Second},
		{"deadtime 10\nwatchdog /dev/watchdog\n", "", 11 * time.Second},
		{"deadtime 10\nwatchdog /dev/watchdog\n", "watchdog_fence_timeout 30s\n", 15 * time.Second},
	} {
		c2, r := loadWith(t, "node node1 node2 node3\nbcast eth0\nkeepalive 100ms\n"+c.hacf, c.lubdubcf)
		if err := r.Err(); err != nil {
			t.Fatalf("%q %q: %v", c.hacf, c.lubdubcf, err)
		}
		if got := c2.WatchdogDeviceTimeout(); got != c.want {
			t.Errorf("%q %q: watchdog timeout %v, want %v", c.hacf, c.lubdubcf, got, c.want)
		}
	}
}

// on_fail: fence by default where this node can fence (a device, ha.cf's
// stonith line for it, or watchdog self-fencing), block otherwise; set
// explicitly either way; fence without any fencing is an error, and a
// value that is neither is refused at its line.
func TestOnFail(t *testing.T) {
	const two = "node node1 node2\nbcast eth0\n"
	for _, c := range []struct {
		hacf, lubdubcf, want string
	}{
		{two, "", "block"},
		{two, "fence_device d fence_x pcmk_host_list=node2\n", "fence"},
		{two, "fence_device d fence_x pcmk_host_list=node2\non_fail block\n", "block"},
		{two + "stonith_host node1 null node2\n", "", "fence"},
		{two + "stonith_host node2 null node1\n", "", "block"}, // a device for node2 only
		{two + "deadtime 1\nkeepalive 100ms\nwatchdog /dev/watchdog\n", "watchdog_fence_timeout 5s\n", "fence"},
		{two, "on_fail block\n", "block"},
	} {
		cfg, r := loadWith(t, c.hacf, c.lubdubcf)
		if err := r.Err(); err != nil {
			t.Fatalf("%q %q: %v", c.hacf, c.lubdubcf, err)
		}
		if got := cfg.OnFail("node1"); got != c.want {
			t.Errorf("%q %q: on_fail %s, want %s", c.hacf, c.lubdubcf, got, c.want)
		}
	}
	_, r := loadWith(t, two, "on_fail fence\n")
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "on_fail fence needs fencing") {
		t.Errorf("on_fail fence without fencing: errors %v", r.Errors)
	}
	_, r = loadWith(t, two, "max_restarts 1\non_fail reboot\n")
	if len(r.Errors) != 1 || r.Errors[0].Line != 2 || !strings.Contains(r.Errors[0].Msg, `on_fail "reboot" must be fence or block`) {
		t.Errorf("on_fail reboot: errors %v", r.Errors)
	}
}
