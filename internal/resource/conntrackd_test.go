package resource

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/haconf"
)

func TestConntrackdConfig(t *testing.T) {
	for line, want := range map[string]string{
		"conntrackd":                            DefaultConntrackdConfig,
		"conntrackd::conntrackd.conf":           "/etc/ha.d/conntrackd.conf",
		"conntrackd::/etc/conntrackd/sync.conf": "/etc/conntrackd/sync.conf",
	} {
		r, _ := haconf.ParseResource(line)
		if got, err := ConntrackdConfig(r, "/etc/ha.d"); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", line, got, err, want)
		}
	}
	r, _ := haconf.ParseResource("conntrackd::a.conf::b.conf")
	if _, err := ConntrackdConfig(r, "/etc/ha.d"); err == nil || !strings.Contains(err.Error(), "takes one argument") {
		t.Errorf("two arguments: %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.conf")
	os.WriteFile(conf, []byte("General {\n\tLockFile /run/x.lock # ours\n\tUNIX {\n\t\tPath /run/x.sock\n\t}\n}\n"), 0o644)
	if l, err := conntrackdLockFile(conf); err != nil || l != "/run/x.lock" {
		t.Errorf("lock file %q %v", l, err)
	}
	if _, err := conntrackdLockFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing configuration was read")
	}
}

// The agent drives conntrackd as primary-backup.sh does. Here a script
// stands in for conntrackd and records its calls; "-s" fails until "-d"
// has run (the daemon was not running), and "-c" fails when told to.
func TestConntrackdSteps(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	bin := filepath.Join(dir, "conntrackd")
	os.WriteFile(bin, []byte(`#!/bin/sh
shift 2 # -C CONFIG
printf '%s\n' "$*" >>`+calls+`
case "$1" in
-s) [ -e `+dir+`/running ] ;;
-d) [ ! -e `+dir+`/lock ] && [ ! -e `+dir+`/nostart ] && touch `+dir+`/running `+dir+`/lock ;; # as conntrackd, refused while a lock file is there
-c) [ ! -e `+dir+`/refuse ] ;;
esac
`), 0o755)
	conf := filepath.Join(dir, "conntrackd.conf")
	os.WriteFile(conf, []byte("General {\n\tLockFile "+dir+"/lock\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "lock"), nil, 0o644) // left by a killed daemon
	a := &conntrackdAgent{raw: "conntrackd", config: conf, bin: bin, lock: filepath.Join(dir, "lock"),
		state: filepath.Join(dir, "primary"), env: Env{Log: slog.New(slog.DiscardHandler)}}
	ctx := context.Background()
	step := func(what string, f func(context.Context) error, want string) {
		t.Helper()
		os.Remove(calls)
		if err := f(ctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b, _ := os.ReadFile(calls)
		if got := strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "; "); got != want {
			t.Errorf("%s called %q, want %q", what, got, want)
		}
	}
	step("prepare", a.Prepare, "-s; -d; -t; -n")
	// The fake daemon, as conntrackd, refuses to start while a lock file
	// is there: it runs, so the stale one was removed first.
	if _, err := os.Stat(filepath.Join(dir, "running")); err != nil {
		t.Error("the daemon did not start: the stale lock file was kept")
	}
	if ok, _ := a.Running(ctx); ok {
		t.Error("a backup counts as running")
	}
	step("start", a.Start, "-s; -c; -f; -R; -B")
	if ok, _ := a.Running(ctx); !ok {
		t.Error("the primary does not count as running")
	}
	step("prepare as the primary", a.Prepare, "-s")
	step("stop", a.Stop, "-s; -t; -n")
	if ok, _ := a.Running(ctx); ok {
		t.Error("still running after stop")
	}
	// A daemon that will not start fails the resource's start.
	os.Remove(filepath.Join(dir, "running"))
	os.Remove(filepath.Join(dir, "lock"))
	os.WriteFile(filepath.Join(dir, "nostart"), nil, 0o644)
	if err := a.Start(ctx); err == nil || !strings.Contains(err.Error(), "conntrackd -d (starting the daemon): exit 1") {
		t.Errorf("a daemon that does not start: %v", err)
	}
	os.Remove(filepath.Join(dir, "nostart"))
	os.WriteFile(filepath.Join(dir, "refuse"), nil, 0o644)
	if err := a.Start(ctx); err == nil || !strings.Contains(err.Error(), "conntrackd -c (committing the other director's connections): exit 1") {
		t.Errorf("a refused commit: %v", err)
	}
	if ok, _ := a.Running(ctx); ok {
		t.Error("a failed start counts as running")
	}
}
