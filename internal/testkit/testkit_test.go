package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Environment of TestIsolatedHelper's runs: how to end, and where to
// mount and write what it made.
const (
	helperEndEnv = "LUBDUB_TESTKIT_END"
	helperDirEnv = "LUBDUB_TESTKIT_DIR"
)

// TestIsolatedHelper is run only by TestIsolatedLeavesNothing. Isolated,
// it makes what tests make (a tmpfs mount, a veth pair, a process that
// would run for 10 minutes), writes down what they are, and ends as told:
// failing, panicking, or hanging until go test's -timeout.
func TestIsolatedHelper(t *testing.T) {
	end := os.Getenv(helperEndEnv)
	if end == "" {
		t.Skip("run by TestIsolatedLeavesNothing")
	}
	Isolated(t, func() {
		dir := os.Getenv(helperDirEnv)
		mnt := filepath.Join(dir, "mnt")
		if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k"); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ip", "link", "add", "ldbkit0", "type", "veth", "peer", "name", "ldbkit1").CombinedOutput(); err != nil {
			t.Fatalf("veth: %v %s", err, out)
		}
		// A marker in its arguments finds it from outside, where its pid
		// is another.
		sleep := exec.Command("sleep", "600")
		sleep.Args[0] = "sleep-ldbkit" + strings.ReplaceAll(dir, "/", "-")
		sleep.Path, _ = exec.LookPath("sleep")
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		var made []string
		for _, kind := range []string{"net", "mnt", "pid"} {
			ns, err := os.Readlink("/proc/self/ns/" + kind)
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, kind+" "+ns)
		}
		made = append(made, "marker "+sleep.Args[0])
		if err := os.WriteFile(filepath.Join(dir, "made"), []byte(strings.Join(made, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		switch end {
		case "fail":
			t.Fatal("failing on purpose")
		case "panic":
			panic("panicking on purpose")
		case "hang", "kill":
			time.Sleep(time.Hour)
		}
	})
}

// TestIsolatedLeavesNothing runs TestIsolatedHelper in a child test
// process that fails, panics, hangs until its -timeout, or is killed
// (SIGKILL, as go test kills a test binary that outlives its timeout),
// and checks each time that the helper had made its mount, veth pair and
// process, and that nothing of it is left: no process with its marker,
// none in its network, mount or PID namespace (so the kernel has freed
// them, and the veth pair and mount with them), and nothing mounted where
// it mounted.
func TestIsolatedLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	if os.Getenv(helperEndEnv) != "" {
		t.Skip("inside a helper run")
	}
	for _, c := range []struct{ end, timeout, says string }{
		{"fail", "60s", "failing on purpose"},
		{"panic", "60s", "panic: panicking on purpose"},
		{"hang", "8s", "panic: test timed out"},
		{"kill", "60s", ""},
	} {
		t.Run(c.end, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "mnt"), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIsolatedHelper$", "-test.v", "-test.timeout="+c.timeout)
			cmd.Env = append(os.Environ(), helperEndEnv+"="+c.end, helperDirEnv+"="+dir)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if c.end == "kill" {
				waitFor(t, filepath.Join(dir, "made"))
				cmd.Process.Kill()
			}
			err := cmd.Wait()
			if err == nil || !strings.Contains(out.String(), c.says) {
				t.Fatalf("the helper told to %s: %v, want a failure saying %q\n%s", c.end, err, c.says, out.String())
			}
			b, err := os.ReadFile(filepath.Join(dir, "made"))
			if err != nil {
				t.Fatalf("the helper did not get to make anything: %v\n%s", err, out.String())
			}
			// The kernel ends a PID namespace's processes as its first one
			// ends, asynchronously; give it a moment after the process we
			// waited for (over 5 s once on a loaded CI machine: a process
			// still exiting is not one left behind).
			deadline := time.Now().Add(15 * time.Second)
			for {
				left := leftovers(string(b), filepath.Join(dir, "mnt"))
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the helper told to %s left %s\n%s", c.end, strings.Join(left, "; "), out.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// waitFor waits up to 30 s for a file to appear.
func waitFor(t *testing.T, file string) {
	t.Helper()
	for range 600 {
		if _, err := os.Stat(file); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within 30 s", file)
}

// leftovers lists what is left of what the helper made: processes in
// its namespaces or with its marker, a mount on mnt.
func leftovers(made, mnt string) []string {
	var left []string
	want := map[string]string{} // /proc/PID/ns/KIND link -> kind
	marker := ""
	for _, l := range strings.Split(strings.TrimSpace(made), "\n") {
		k, v, _ := strings.Cut(l, " ")
		if k == "marker" {
			marker = v
		} else {
			want[v] = k
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid := e.Name()
		if pid == "self" || pid == "thread-self" || pid[0] < '0' || pid[0] > '9' {
			continue
		}
		for _, kind := range []string{"net", "mnt", "pid"} {
			if l, err := os.Readlink("/proc/" + pid + "/ns/" + kind); err == nil && want[l] == kind {
				left = append(left, fmt.Sprintf("process %s in the helper's %s namespace %s", pid, kind, l))
			}
		}
		if cl, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil && strings.HasPrefix(string(cl), marker+"\x00") {
			left = append(left, "its process "+pid+" ("+marker+")")
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == mnt {
			left = append(left, "a mount on "+mnt)
		}
	}
	return left
}
