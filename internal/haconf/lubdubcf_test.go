package haconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lubdub.cf values at and past their limits; each bad one an error at its
// line; monitor_interval 0 turns monitoring off.
func TestTuningLimits(t *testing.T) {
	for _, c := range []struct {
		line, err string
		check     func(Tuning) bool
	}{
		{"max_restarts 100", "", func(tu Tuning) bool { return tu.MaxRestarts == 100 }},
		{"max_restarts 0", "", func(tu Tuning) bool { return tu.MaxRestarts == 0 }},
		{"max_restarts 101", "from 0 to 100", nil},
		{"stop_retries 100", "", func(tu Tuning) bool { return tu.StopRetries == 100 }},
		{"stop_retries 0", "", func(tu Tuning) bool { return tu.StopRetries == 0 }},
		{"stop_retries 101", "from 0 to 100", nil},
		{"stop_retries -1", "from 0 to 100", nil},
		{"stop_retries x", "from 0 to 100", nil},
		{"monitor_interval 0", "", func(tu Tuning) bool { return tu.MonitorInterval == 0 }},
		{"monitor_timeout 0", "must be more than 0", nil},
		{"start_timeout 0", "must be more than 0", nil},
		{"monitor_timeout 250ms", "", func(tu Tuning) bool { return tu.MonitorTimeout == 250*time.Millisecond }},
		{"stop_timeout 1m", "unknown unit", nil},
		{"stop_timeout 90", "", func(tu Tuning) bool { return tu.StopTimeout == 90*time.Second }},
		{"lvs_datapath ipvs", "", func(tu Tuning) bool { return tu.LVSDataPath == "ipvs" }},
		{"lvs_datapath nftables", "", func(tu Tuning) bool { return tu.LVSDataPath == "nftables" }},
		{"lvs_datapath iptables", "must be auto, nftables or ipvs", nil},
		{"failure_timeout 0", "", func(tu Tuning) bool { return tu.FailureTimeout == 0 }},
		{"failure_timeout 600", "", func(tu Tuning) bool { return tu.FailureTimeout == 10*time.Minute }},
		{"failure_timeout 1500ms", "", func(tu Tuning) bool { return tu.FailureTimeout == 1500*time.Millisecond }},
		{"failure_timeout -5", "failure_timeout", nil},
		{"failure_timeout soon", "failure_timeout", nil},
		{"metrics_listen 9664", "", func(tu Tuning) bool { return tu.MetricsListen == "127.0.0.1:9664" }},
		{"metrics_listen :9664", "", func(tu Tuning) bool { return tu.MetricsListen == "127.0.0.1:9664" }},
		{"metrics_listen 0.0.0.0:9664", "", func(tu Tuning) bool { return tu.MetricsListen == "0.0.0.0:9664" }},
		{"metrics_listen 198.18.0.1:1", "", func(tu Tuning) bool { return tu.MetricsListen == "198.18.0.1:1" }},
		{"metrics_listen [::1]:65535", "", func(tu Tuning) bool { return tu.MetricsListen == "[::1]:65535" }},
		{"metrics_listen 0", "from 1 to 65535", nil},
		{"metrics_listen 127.0.0.1:65536", "from 1 to 65535", nil},
		{"metrics_listen 127.0.0.1:", "from 1 to 65535", nil},
		{"metrics_listen localhost:9664", "give an IP address", nil},
		{"metrics_listen ::1:9664", "give an IP address", nil},
		{"metrics_listen [fe80::1%eth0]:9664", "give an IP address", nil},
		{"metrics_listen 300.1.1.1:9664", "give an IP address", nil},
		{"max_restarts 2 # two", "", func(tu Tuning) bool { return tu.MaxRestarts == 2 }},
		{"max_restarts 2 3", "expected 'name value'", nil},
	} {
		r := &Report{}
		tu := parseTuning("lubdub.cf", "# settings\n\n"+c.line+"\n", r)
		switch {
		case c.err == "" && (len(r.Errors) != 0 || !c.check(tu)):
			t.Errorf("%q: %+v %v", c.line, tu, r.Errors)
		case c.err != "" && (len(r.Errors) != 1 || r.Errors[0].Line != 3 || !strings.Contains(r.Errors[0].Msg, c.err)):
			t.Errorf("%q: errors %v, want one at line 3 containing %q", c.line, r.Errors, c.err)
		case c.err != "" && tu != DefaultTuning:
			t.Errorf("%q: a refused value changed the settings: %+v", c.line, tu)
		}
	}
}

// lubdub.cf is optional: without it the defaults apply; an unreadable one
// is an error naming it.
func TestTuningFile(t *testing.T) {
	dir := t.TempDir()
	r := &Report{}
	if tu, _ := loadLubdubCf(filepath.Join(dir, "lubdub.cf"), r); tu != DefaultTuning || len(r.Errors) != 0 {
		t.Fatalf("without lubdub.cf: %+v %v", tu, r.Errors)
	}
	if err := os.Mkdir(filepath.Join(dir, "lubdub.cf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if tu, _ := loadLubdubCf(filepath.Join(dir, "lubdub.cf"), r); tu != DefaultTuning || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].String(), "lubdub.cf: cannot read lubdub's settings") {
		t.Fatalf("unreadable lubdub.cf: %+v %v", tu, r.Errors)
	}
	os.Remove(filepath.Join(dir, "lubdub.cf"))
	if err := os.WriteFile(filepath.Join(dir, "lubdub.cf"), []byte("stop_retries 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = &Report{}
	if tu, _ := loadLubdubCf(filepath.Join(dir, "lubdub.cf"), r); tu.StopRetries != 4 || len(r.Errors) != 0 {
		t.Fatalf("lubdub.cf read as %+v %v", tu, r.Errors)
	}
}
