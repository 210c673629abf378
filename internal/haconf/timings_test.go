package haconf

import (
	"strings"
	"testing"
	"time"
)

// Heartbeat's timing rules (config.c) at their edges: deadtime must be
// more than twice keepalive; initdead, when not given, is deadtime above
// 10 s, 12 s below 6 s, else twice deadtime; initdead below deadtime is an
// error, below 10 s a warning. lubdub also warns about a warntime that
// cannot work.
func TestTimingRulesAtTheirEdges(t *testing.T) {
	for _, c := range []struct {
		hacf               string
		err, warn          string
		initdead, warntime time.Duration
	}{
		{hacf: "keepalive 1\ndeadtime 2", err: "must be more than twice keepalive"},
		{hacf: "keepalive 1\ndeadtime 2001ms", initdead: 12 * time.Second, warntime: 1000500 * time.Microsecond},
		{hacf: "deadtime 10", initdead: 20 * time.Second, warntime: 5 * time.Second},
		{hacf: "deadtime 10001ms", initdead: 10001 * time.Millisecond},
		{hacf: "deadtime 6", initdead: 12 * time.Second},
		{hacf: "deadtime 5999ms", initdead: 12 * time.Second},
		{hacf: "deadtime 7", initdead: 14 * time.Second},
		{hacf: "deadtime 12\ninitdead 12", initdead: 12 * time.Second},
		{hacf: "deadtime 12\ninitdead 11.9", err: "initdead (11900ms) is smaller than deadtime (12s)"},
		{hacf: "keepalive 100ms\ndeadtime 300ms\ninitdead 9.999", warn: "initdead (9999ms) may be too small", initdead: 9999 * time.Millisecond},
		{hacf: "keepalive 100ms\ndeadtime 300ms\ninitdead 10", initdead: 10 * time.Second},
		{hacf: "keepalive 2\ndeadtime 10\nwarntime 2", warn: "is not more than keepalive", warntime: 2 * time.Second},
		{hacf: "keepalive 2\ndeadtime 10\nwarntime 2.001", warntime: 2001 * time.Millisecond},
		{hacf: "keepalive 2\ndeadtime 10\nwarntime 10", warn: "is not less than deadtime", warntime: 10 * time.Second},
		{hacf: "keepalive 2\ndeadtime 10\nwarntime 9.999", warntime: 9999 * time.Millisecond},
	} {
		cfg, r := loadHaCf(t, "node a\nbcast eth0\n"+c.hacf+"\n")
		var errs, warns []string
		for _, d := range r.Errors {
			errs = append(errs, d.Msg)
		}
		for _, d := range r.Warnings {
			warns = append(warns, d.Msg)
		}
		if got := strings.Join(errs, "; "); (c.err == "") != (got == "") || !strings.Contains(got, c.err) {
			t.Errorf("%q: errors %q, want %q", c.hacf, got, c.err)
		}
		if got := strings.Join(warns, "; "); (c.warn == "") != (got == "") || !strings.Contains(got, c.warn) {
			t.Errorf("%q: warnings %q, want %q", c.hacf, got, c.warn)
		}
		if c.initdead != 0 && cfg.Initdead != c.initdead {
			t.Errorf("%q: initdead %v, want %v", c.hacf, cfg.Initdead, c.initdead)
		}
		if c.warntime != 0 && cfg.Warntime != c.warntime {
			t.Errorf("%q: warntime %v, want %v", c.hacf, cfg.Warntime, c.warntime)
		}
	}
	// What Heartbeat records for cl_status hbparameter when they are
	// derived.
	cfg, _ := loadHaCf(t, "node a\nbcast eth0\ndeadtime 7\n")
	if cfg.Params["initdead"] != "14000ms" || cfg.Params["warntime"] != "3500ms" {
		t.Errorf("params initdead %q warntime %q", cfg.Params["initdead"], cfg.Params["warntime"])
	}
}

// An ha.cf without nodes, a missing ha.cf, a local node not declared.
func TestLoadRefusals(t *testing.T) {
	_, r := loadHaCf(t, "bcast eth0\n")
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "no nodes defined") {
		t.Errorf("no nodes: %v", r.Errors)
	}
	dir := write(t, map[string]string{"authkeys": goodAuth})
	if _, r := Load(dir, Options{}); len(r.Errors) == 0 || !strings.Contains(r.Errors[0].String(), "ha.cf: cannot read the main configuration file") {
		t.Errorf("missing ha.cf: %v", r.Errors)
	}
	dir = write(t, map[string]string{"ha.cf": "node a b\nbcast eth0\n", "authkeys": goodAuth})
	if _, r := Load(dir, Options{Node: "C"}); len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "this node (c) is not in the configuration") {
		t.Errorf("undeclared local node: %v", r.Errors)
	}
	if _, r := Load(dir, Options{Node: "B"}); len(r.Errors) != 0 {
		t.Errorf("declared local node (other case): %v", r.Errors)
	}
	if err := (&Report{}).Err(); err != nil {
		t.Errorf("Err() of a clean report: %v", err)
	}
	_, r = loadHaCf(t, "node a\nbcast eth0\nkeepalive 0\n")
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "ha.cf:3: keepalive must be more than 0") {
		t.Errorf("Err() = %v", err)
	}
}

// lubdub check prints what the daemon would run.
func TestDescribe(t *testing.T) {
	dir := write(t, map[string]string{
		"ha.cf":       "node a b\nbcast eth0\nmcast eth1 225.0.0.1 694 1 0\nkeepalive 500ms\ndeadtime 3\nwatchdog /dev/watchdog\nlogfacility local0\nauto_failback on\n",
		"authkeys":    goodAuth,
		"haresources": "a 198.18.0.10 httpd\n",
		"lubdub.cf":   "monitor_interval 0\n",
	})
	c, r := Load(dir, Options{Node: "b"})
	if len(r.Errors) != 0 {
		t.Fatal(r.Errors)
	}
	var b strings.Builder
	c.Describe(&b, "b")
	want := "configuration directory " + dir + "\n" +
		"nodes: a b (this node)\n" +
		"media:\n  bcast eth0 port 694\n  mcast eth1 group 225.0.0.1 port 694 ttl 1 loop false\n" +
		"timings: keepalive 500ms, warntime 1500ms, deadtime 3s, initdead 12s\n" +
		"authentication: key 3, sha256 (1 key(s) accepted)\n" +
		"auto_failback: on (a node back from the dead gets groups back once heard for 9s: failback_delay)\n" +
		"watchdog: /dev/watchdog, timeout 4s (set at start), fed every keepalive\n" +
		"logging: logfile none, debugfile none, logfacility local0\n" +
		"resources: start timeout 20s, stop timeout 20s (a failed stop retried 10 times), monitor every 0s (timeout 10s), 3 restarts in place before a group moves\n" +
		"a group whose stop still fails stays blocked until lubdub cleanup (on_fail block)\n" +
		"resource groups (1):\n" +
		"  group 198.18.0.10 (haresources line 1), preferred node a, start order: 1.IPaddr::198.18.0.10 2.httpd\n"
	if b.String() != want {
		t.Errorf("Describe:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := FormatDuration(1500 * time.Microsecond); got != "1.5ms" {
		t.Errorf("FormatDuration(1.5ms) = %q", got)
	}
}
