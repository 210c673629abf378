package haconf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseNotify(t *testing.T) {
	r := &Report{}
	nf := parseNotify("lubdub.cf", "# hooks\nnotify /etc/ha.d/notify.sh\nalert /usr/share/pacemaker/alerts/alert_file.sh.sample /var/log/alerts.log\n"+
		"alert /usr/local/bin/page  # no recipient\nnotify_timeout 2s\nmax_restarts 3\n", r)
	want := Notify{Timeout: 2 * time.Second,
		Hooks: []NotifyHook{{Line: 2, Path: "/etc/ha.d/notify.sh"}},
		Alerts: []AlertAgent{{Line: 3, Path: "/usr/share/pacemaker/alerts/alert_file.sh.sample", Recipient: "/var/log/alerts.log"},
			{Line: 4, Path: "/usr/local/bin/page"}}}
	if len(r.Errors) != 0 || !reflect.DeepEqual(nf, want) {
		t.Fatalf("read %+v %v", nf, r.Errors)
	}
	if nf := parseNotify("lubdub.cf", "", r); nf.Timeout != DefaultNotifyTimeout || len(nf.Hooks)+len(nf.Alerts) != 0 {
		t.Fatalf("defaults: %+v", nf)
	}
}

// Each bad line is one error at its line; nothing of it is kept.
func TestParseNotifyErrors(t *testing.T) {
	for _, c := range []struct{ line, err string }{
		{"notify", "notify takes one program"},
		{"notify /bin/hook arg", "notify takes one program"},
		{"notify hook.sh", "give the program's full path"},
		{"alert", "alert takes an agent's full path"},
		{"alert /a r1 r2", "one alert line per recipient"},
		{"alert alert_file.sh /tmp/x", "give the program's full path"},
		{"notify_timeout", "expected 'notify_timeout DURATION'"},
		{"notify_timeout 0", "must be more than 0"},
		{"notify_timeout 1m", "unknown unit"},
	} {
		r := &Report{}
		nf := parseNotify("lubdub.cf", "\n\n"+c.line+"\n", r)
		if len(r.Errors) != 1 || r.Errors[0].Line != 3 || !strings.Contains(r.Errors[0].Msg, c.err) {
			t.Errorf("%q: errors %v, want one at line 3 containing %q", c.line, r.Errors, c.err)
		}
		if len(nf.Hooks)+len(nf.Alerts) != 0 || nf.Timeout != DefaultNotifyTimeout {
			t.Errorf("%q: a refused line was kept: %+v", c.line, nf)
		}
	}
}

// parseLubdubCf leaves these lines to parseNotify, and knows their names.
func TestLubdubCfLeavesNotifyLines(t *testing.T) {
	r := &Report{}
	parseTuning("lubdub.cf", "notify /x\nalert /y z\nnotify_timeout 5s\nnotfy /x\n", r)
	if len(r.Errors) != 1 || r.Errors[0].Line != 4 || !strings.Contains(r.Errors[0].Msg, "notify, alert, notify_timeout") {
		t.Fatalf("errors %v", r.Errors)
	}
}

func FuzzParseNotify(f *testing.F) {
	f.Add("notify /etc/ha.d/hook\nalert /a /b\nnotify_timeout 250ms\n")
	f.Add("alert /a\nnotify_timeout 0.5\nnotify ../x\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := &Report{}
		nf := parseNotify("lubdub.cf", s, r)
		lines := strings.Count(s, "\n") + 1
		if nf.Timeout <= 0 {
			t.Fatalf("timeout %v", nf.Timeout)
		}
		for _, h := range nf.Hooks {
			if !filepath.IsAbs(h.Path) || h.Line < 1 || h.Line > lines {
				t.Fatalf("hook %+v", h)
			}
		}
		for _, a := range nf.Alerts {
			if !filepath.IsAbs(a.Path) || a.Line < 1 || a.Line > lines || strings.ContainsAny(a.Recipient, " \t\n") {
				t.Fatalf("alert %+v", a)
			}
		}
	})
}

// CheckProgram refuses what would never run, or what others could change.
func TestCheckProgram(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	uid := os.Geteuid()
	ok := write("ok", 0o755)
	if err := CheckProgram(ok, uid); err != nil {
		t.Errorf("a good program: %v", err)
	}
	for _, c := range []struct{ path, err string }{
		{filepath.Join(dir, "missing"), "does not exist"},
		{dir, "not a regular file"},
		{write("noexec", 0o644), "is not executable by its owner (mode 0644"},
		{write("groupw", 0o775), "writable by group or others (mode 0775)"},
		{write("otherw", 0o757), "writable by group or others"},
	} {
		if err := CheckProgram(c.path, uid); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", filepath.Base(c.path), err, c.err)
		}
	}
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	os.WriteFile(filepath.Join(open, "p"), []byte("#!/bin/sh\n"), 0o755)
	if err := CheckProgram(filepath.Join(open, "p"), uid); err == nil || !strings.Contains(err.Error(), "which group or others may write (mode 0777)") {
		t.Errorf("in a world-writable directory: %v", err)
	}
	os.Chmod(open, 0o777|os.ModeSticky)
	if err := CheckProgram(filepath.Join(open, "p"), uid); err != nil {
		t.Errorf("in a sticky directory (as /tmp): %v", err)
	}
	if uid != 0 {
		t.Skip("the owner check needs root to give a file away")
	}
	other := write("other", 0o755)
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(other, 0); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("owned by nobody: %v", err)
	}
	if err := CheckProgram(other, 65534); err != nil {
		t.Errorf("owned by the daemon's own user: %v", err)
	}
}

// Load reports a hook that would not run at its lubdub.cf line.
func TestLoadChecksNotifyPrograms(t *testing.T) {
	dir := t.TempDir()
	for f, body := range map[string]string{
		"ha.cf":       "keepalive 1\ndeadtime 10\nbcast eth0\nnode a b\n",
		"authkeys":    "auth 1\n1 sha256 k\n",
		"haresources": "",
		"lubdub.cf":   "notify " + filepath.Join(dir, "hook") + "\nalert /usr/bin/true\n",
	} {
		os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600)
	}
	os.WriteFile(filepath.Join(dir, "hook"), []byte("#!/bin/sh\n"), 0o644)
	c, r := Load(dir, Options{})
	if len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0].String(), filepath.Join(dir, "lubdub.cf")+":1: notify "+filepath.Join(dir, "hook")+": is not executable") {
		t.Fatalf("errors %v", r.Errors)
	}
	if len(c.Notify.Hooks) != 1 || len(c.Notify.Alerts) != 1 {
		t.Fatalf("notify %+v", c.Notify)
	}
}
