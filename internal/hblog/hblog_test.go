package hblog

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHeartbeatLineFormat(t *testing.T) {
	var stderr bytes.Buffer
	dir := t.TempDir()
	h, problems := New(Options{Stderr: &stderr, Logfile: filepath.Join(dir, "ha-log"), Debugfile: filepath.Join(dir, "ha-debug")})
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	log := slog.New(h)
	log.Warn("node node2: is dead", "node", "node2")
	log.Debug("debug detail")
	h.Close()
	re := regexp.MustCompile(`^lubdub\[\d+\]: \d{4}/\d\d/\d\d_\d\d:\d\d:\d\d WARN: node node2: is dead node=node2\n$`)
	if !re.MatchString(stderr.String()) {
		t.Fatalf("stderr = %q", stderr.String())
	}
	logf, _ := os.ReadFile(filepath.Join(dir, "ha-log"))
	debugf, _ := os.ReadFile(filepath.Join(dir, "ha-debug"))
	if strings.Contains(string(logf), "debug detail") || !strings.Contains(string(logf), "is dead") {
		t.Errorf("logfile = %q", logf)
	}
	if !strings.Contains(string(debugf), "debug: debug detail") || !strings.Contains(string(debugf), "is dead") {
		t.Errorf("debugfile = %q", debugf)
	}
}

// An unreachable syslog or an unwritable log file is reported, and logging
// goes on to the other destinations.
func TestUnreachableDestinationsAreReported(t *testing.T) {
	var stderr bytes.Buffer
	h, problems := New(Options{Stderr: &stderr, Facility: "local0", SyslogProto: "unixgram",
		SyslogAddr: filepath.Join(t.TempDir(), "no-syslog-here"), Logfile: "/nonexistent-dir/ha-log"})
	if len(problems) != 2 {
		t.Fatalf("problems = %v", problems)
	}
	joined := problems[0].Error() + "|" + problems[1].Error()
	if !strings.Contains(joined, "opening log file /nonexistent-dir/ha-log") || !strings.Contains(joined, "syslog (facility local0) is unreachable, logging without it") {
		t.Fatalf("problems = %s", joined)
	}
	slog.New(h).Info("still logging")
	if !strings.Contains(stderr.String(), "info: still logging") {
		t.Fatalf("stderr = %q", stderr.String())
	}
}
