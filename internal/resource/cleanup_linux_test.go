package resource

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Environment of a deliberately failing run of TestFilesystemOnTmpfs (see
// TestFilesystemTeardownOnFailure): where to mount, and where to fail.
const (
	mountpointEnv = "LUBDUB_TEST_MOUNTPOINT"
	failAtEnv     = "LUBDUB_TEST_FAIL_AT"
)

// failHere fails the test on purpose when the failing run asks for it at
// this step.
func failHere(t *testing.T, step string) {
	t.Helper()
	if os.Getenv(failAtEnv) == step {
		t.Fatalf("failing on purpose at %q (%s)", step, failAtEnv)
	}
}

// unmountForTest takes a test's filesystem down whatever state the test,
// or a broken Filesystem agent, left it in. It uses none of the agent's
// code (which may be what is broken): lazy unmounts, which succeed even
// while the mount is busy, until the directory is no mount point, at most
// 10 (a broken Start may have stacked mounts).
func unmountForTest(t *testing.T, dir string) {
	for i := 0; i < 10 && mounted(t, dir); i++ {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("cleanup: unmounting %s: %v", dir, err)
			return
		}
	}
}

// mounted reports whether dir is a mount point in this mount namespace,
// read from /proc/self/mountinfo here rather than by the code under test
// (test directories hold no characters mountinfo escapes).
func mounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// TestFilesystemTeardownOnFailure runs TestFilesystemOnTmpfs in a child
// test process that fails on purpose, once just after the mount and once
// while the mount is busy (its working directory and an open file inside
// it), and checks that the child failed where it was told to and left
// nothing mounted.
func TestFilesystemTeardownOnFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	if os.Getenv(failAtEnv) != "" {
		t.Skip("inside a deliberately failing run")
	}
	for _, step := range []string{"mounted", "busy"} {
		dir := t.TempDir()
		t.Cleanup(func() { unmountForTest(t, dir) })
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFilesystemOnTmpfs$", "-test.v", "-test.timeout=50s")
		cmd.Env = append(os.Environ(), mountpointEnv+"="+dir, failAtEnv+"="+step)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), "failing on purpose at \""+step+"\"") {
			t.Fatalf("the failing run (at %q) did not fail where told: %v\n%s", step, err, out)
		}
		if mounted(t, dir) {
			t.Errorf("a run of TestFilesystemOnTmpfs failing at %q left %s mounted\n%s", step, dir, out)
		}
	}
}
