// Package testkit holds helpers that tests of several packages share: a
// test run again in namespaces of its own, and test cases written as
// files of named sections. Only tests import it.
package testkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// isolatedEnv names, in the environment of a test run again by Isolated,
// the test that runs inside.
const isolatedEnv = "LUBDUB_TEST_ISOLATED"

// Isolated runs the calling test again, as a whole process (so that every
// goroutine's sockets are in it), in network, mount and PID namespaces of
// its own, and fails if that run fails. Inside, the loopback is up, /proc
// and /sys show the new namespaces, mounts stay inside, and it calls f.
//
// Nothing the test leaves outlives that process, however the test ends
// (a failure, a panic, go test's -timeout, the test binary killed): the
// process is the first of its PID namespace, so the kernel kills every
// process the test started when it ends, and its network and mount
// namespaces, anonymous, go with their last process. The process itself
// dies with the test binary (SIGKILL as parent-death signal) and is
// killed at the test's deadline. Within the test, t.Cleanup still undoes
// what the test made when it fails. It skips without root.
func Isolated(t *testing.T, f func()) {
	t.Helper()
	if os.Getenv(isolatedEnv) == t.Name() {
		if err := enterIsolation(); err != nil {
			t.Fatalf("setting up the isolated run: %v", err)
		}
		f()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	// The run inside times out (and says where it hung) before this test
	// does, and is killed if it still runs at this test's deadline.
	budget := 2 * time.Minute
	if d, ok := t.Deadline(); ok {
		budget = time.Until(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget-budget/8)
	defer cancel()
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.timeout=" + (budget / 2).String()}
	// Coverage counted inside counts for the package (the profile merges
	// every counter file in this directory).
	if cd := flag.Lookup("test.gocoverdir"); cd != nil && cd.Value.String() != "" {
		args = append(args, "-test.gocoverdir="+cd.Value.String())
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), isolatedEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNET | unix.CLONE_NEWNS | unix.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	cmd.WaitDelay = 5 * time.Second
	// The parent-death signal follows the thread that started the child:
	// keep it until the child has ended.
	runtime.LockOSThread()
	out, err := cmd.CombinedOutput()
	runtime.UnlockOSThread()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		t.Skipf("cannot make namespaces: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("isolated run: %v\n%s", err, out)
	}
}

// enterIsolation readies the namespaces of an isolated run: mounts made
// from here on stay in this mount namespace, /proc shows this PID
// namespace (so that pids scripts print are the ones /proc knows), /sys
// this network namespace's devices, and the loopback is up.
func enterIsolation() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /sys: %w", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	return nil
}

// Sections splits a test case file into its "-- name --" sections; the
// text before the first one describes the case.
func Sections(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sec, name := map[string]string{}, ""
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if h := strings.TrimSpace(l); strings.HasPrefix(h, "-- ") && strings.HasSuffix(h, " --") {
			name = strings.TrimSuffix(strings.TrimPrefix(h, "-- "), " --")
			sec[name] = ""
			continue
		}
		if name != "" {
			sec[name] += l
		}
	}
	return sec
}
