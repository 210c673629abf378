// Package e2ekit is what the end-to-end test packages (e2e, e2e/faults)
// share: the lubdub binaries they run, labs torn down with the test,
// lubdub nodes in them, the seed's cluster (two nodes sharing a VIP and a
// web server, a client polling it), and an oracle watching the VIP from
// outside the cluster. Only tests import it.
package e2ekit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
)

// Bin is the binary under test, built with the race detector when the
// tests run with it: daemons and other long-lived processes use it. CLI is
// built without: a race-enabled binary takes about a second to start
// here, too slow for commands polled against a deadline (lubdub lvs -L,
// short probes). Main sets both.
var Bin, CLI string

// Main is a test package's TestMain: it skips the package where labs
// cannot be built, sweeps labs that dead test processes left, builds the
// binaries from pkg (the path of ./cmd/lubdub from the package's
// directory), runs the tests and returns their exit code.
func Main(m *testing.M, pkg string) int {
	if err := lab.Available(); err != nil {
		fmt.Println("e2e: skipped:", err)
		return 0
	}
	lab.SweepStale()
	dir, err := os.MkdirTemp("", "lubdub-e2e-bin")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race")
	}
	if Bin, err = lab.BuildLubdub(dir, pkg, flags...); err != nil {
		fmt.Println(err)
		return 1
	}
	CLI = Bin
	if raceEnabled {
		if CLI, err = lab.BuildLubdub(filepath.Join(dir, "cli"), pkg); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	return m.Run()
}

// NewLab makes a lab that is torn down when the test ends, however it
// ends; a data race a daemon reported fails the test, and a failed test
// shows the tail of every log.
func NewLab(t *testing.T) *lab.Lab {
	t.Helper()
	l, err := lab.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		logs, _ := filepath.Glob(filepath.Join(l.Dir, "*.log"))
		for _, f := range logs {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "WARNING: DATA RACE") {
				t.Errorf("%s: the race detector found a data race in the daemon", filepath.Base(f))
			}
		}
		if t.Failed() {
			DumpLogs(t, l.Dir)
		}
	})
	return l
}

// LogFiles lists the logs in dir and its subdirectories.
func LogFiles(dir string) []string {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	return append(logs, more...)
}

// DumpLogs shows the last 6000 bytes of every log in dir and its
// subdirectories.
func DumpLogs(t *testing.T, dir string) {
	for _, f := range LogFiles(dir) {
		b, _ := os.ReadFile(f)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		t.Logf("==== %s\n%s", filepath.Base(f), b)
	}
}

// Must fails the test at once on an error.
func Must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// WaitFor polls cond every 10ms until it holds or timeout passes.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// AddHost creates a host attached to each segment as eth0, eth1, ...,
// with address 198.18.<subnet>.<num>.
func AddHost(t *testing.T, l *lab.Lab, name string, num int, segments ...string) *lab.Host {
	t.Helper()
	h, err := l.AddHost(name, num, segments...)
	Must(t, err)
	return h
}

// RunIn runs a command in a host and fails the test if it fails; it
// returns the command's output.
func RunIn(t *testing.T, h *lab.Host, name string, args ...string) string {
	t.Helper()
	out, errOut, code := h.Output(10*time.Second, name, args...)
	if code != 0 {
		t.Fatalf("%s: %s %s: exit %d: %s%s", h.Name, name, strings.Join(args, " "), code, out, errOut)
	}
	return out
}
