package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Environment of TestLabHelper's runs: how to end, and where to write the
// lab's ID.
const (
	helperEndEnv = "LUBDUB_LAB_END"
	helperDirEnv = "LUBDUB_LAB_DIR"
)

// TestLabHelper is run only by TestLabLeavesNothing: it builds a lab
// with a host on a segment, runs a daemon there that leaves its process
// group and session (as daemons do, out of reach of the lab's group
// kill), and ends as told: failing (its cleanup closes the lab) or hanging
// until go test's -timeout (no cleanup runs).
func TestLabHelper(t *testing.T) {
	end := os.Getenv(helperEndEnv)
	if end == "" {
		t.Skip("run by TestLabLeavesNothing")
	}
	if err := Available(); err != nil {
		t.Skip(err)
	}
	dir := os.Getenv(helperDirEnv)
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Segment("lan", 250); err != nil {
		t.Fatal(err)
	}
	h, err := l.AddHost("node", 1, "lan")
	if err != nil {
		t.Fatal(err)
	}
	marker := "sleep-ldblab" + strings.ReplaceAll(dir, "/", "-")
	if _, _, code := h.Output(10*time.Second, "sh", "-c", `setsid bash -c 'exec -a "$0" sleep 600' "$1" </dev/null >/dev/null 2>&1 &`, "sh", marker); code != 0 {
		t.Fatal("starting the daemon failed")
	}
	if err := os.WriteFile(filepath.Join(dir, "made"), []byte(l.ID+"\n"+marker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	switch end {
	case "fail":
		t.Fatal("failing on purpose")
	case "hang":
		time.Sleep(time.Hour)
	}
}

// TestLabLeavesNothing runs TestLabHelper in a child test process that
// fails, or hangs until its -timeout (a panic: no t.Cleanup runs), and
// checks that nothing of its lab is left: no namespace with the lab's
// prefix, no process of the daemon it started.
func TestLabLeavesNothing(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	if os.Getenv(helperEndEnv) != "" {
		t.Skip("inside a helper run")
	}
	for _, c := range []struct{ end, timeout, says string }{
		{"fail", "60s", "failing on purpose"},
		{"hang", "10s", "panic: test timed out"},
	} {
		t.Run(c.end, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLabHelper$", "-test.v", "-test.timeout="+c.timeout)
			cmd.Env = append(os.Environ(), helperEndEnv+"="+c.end, helperDirEnv+"="+dir)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.says) {
				t.Fatalf("the helper told to %s: %v, want a failure saying %q\n%s", c.end, err, c.says, out)
			}
			b, err := os.ReadFile(filepath.Join(dir, "made"))
			if err != nil {
				t.Fatalf("the helper did not get to make its lab: %v\n%s", err, out)
			}
			id, marker, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
			// The reaper works once the helper has ended: give it 10 s.
			var left []string
			for range 200 {
				left = labLeftovers(t, id, marker)
				if len(left) == 0 {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("the helper told to %s left %s\n%s", c.end, strings.Join(left, "; "), out)
		})
	}
}

// labLeftovers lists the namespaces of lab id and the processes with the
// marker in their arguments.
func labLeftovers(t *testing.T, id, marker string) []string {
	var left []string
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], id+"-") {
			left = append(left, "namespace "+f[0])
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.HasPrefix(string(cl), marker+"\x00") {
			left = append(left, "process "+e.Name()+" ("+marker+")")
		}
	}
	return left
}
