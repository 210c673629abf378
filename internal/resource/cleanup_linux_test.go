package resource

import (
	"context"
	"os"
	"os/exec"
	"regexp"
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
// this step; at step "hang" it hangs instead, until go test's -timeout
// ends the run.
func failHere(t *testing.T, step string) {
	t.Helper()
	switch os.Getenv(failAtEnv) {
	case step:
		t.Fatalf("failing on purpose at %q (%s)", step, failAtEnv)
	case "hang":
		if step == "busy" {
			t.Logf("hanging on purpose with the mount busy (%s)", failAtEnv)
			time.Sleep(time.Hour)
		}
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
		t.Logf("cleanup: unmounted %s", dir)
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

var mountNSRE = regexp.MustCompile(`mount namespace (mnt:\[\d+\])`)

// TestFilesystemTeardownOnFailure runs TestFilesystemOnTmpfs in a child
// test process that fails on purpose just after the mount, and while the
// mount is busy (its working directory and an open file inside it), and
// one that hangs there until go test's -timeout kills it, where no
// t.Cleanup runs. Each must end where it was told to, with its cleanup
// saying it unmounted when it failed, and leave nothing mounted, on the
// host or anywhere: no process is left in the run's mount namespace.
func TestFilesystemTeardownOnFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	if os.Getenv(failAtEnv) != "" {
		t.Skip("inside a deliberately failing run")
	}
	for _, c := range []struct{ step, timeout, ends, cleanup string }{
		{"mounted", "50s", `failing on purpose at "mounted"`, "cleanup: unmounted"},
		{"busy", "50s", `failing on purpose at "busy"`, "cleanup: unmounted"},
		{"hang", "8s", "panic: test timed out", ""},
	} {
		dir := t.TempDir()
		t.Cleanup(func() { unmountForTest(t, dir) })
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFilesystemOnTmpfs$", "-test.v", "-test.timeout="+c.timeout)
		cmd.Env = append(os.Environ(), mountpointEnv+"="+dir, failAtEnv+"="+c.step)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), c.ends) {
			t.Fatalf("the run told to %q did not end with %q: %v\n%s", c.step, c.ends, err, out)
		}
		if c.cleanup != "" && !strings.Contains(string(out), c.cleanup+" "+dir) {
			t.Errorf("the run failing at %q did not unmount in its cleanup\n%s", c.step, out)
		}
		if mounted(t, dir) {
			t.Errorf("the run ending at %q left %s mounted\n%s", c.step, dir, out)
		}
		m := mountNSRE.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("the run did not say its mount namespace\n%s", out)
		}
		// A run killed rather than ended (go test's -timeout, the parent
		// death signal) goes a moment after its parent: wait up to 5 s.
		for i := 0; ; i++ {
			pids := inNamespace("mnt", m[1])
			if len(pids) == 0 {
				break
			}
			if i == 100 {
				t.Errorf("the run ending at %q left processes %v in its mount namespace %s", c.step, pids, m[1])
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// inNamespace lists the processes whose namespace of kind (mnt, net, ...)
// is ns ("mnt:[4026532281]").
func inNamespace(kind, ns string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/" + kind); err == nil && l == ns {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
