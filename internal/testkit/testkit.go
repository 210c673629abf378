// Package testkit holds helpers that tests of several packages share: a
// test run again inside a network namespace of its own, and test cases
// written as files of named sections. Only tests import it.
package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// InNetns runs the calling test again, as a whole process (so that every
// goroutine's sockets are in it), inside a network namespace of its own
// with its loopback up, and fails if that run fails. The namespace is
// removed afterwards, also when the test fails. Inside, it calls f. It
// skips without root.
func InNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Getenv("LUBDUB_TEST_IN_NETNS") == "1" {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			t.Fatalf("loopback: %v", err)
		}
		f()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	ns := fmt.Sprintf("ldbtest%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "LUBDUB_TEST_IN_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in namespace %s: %v\n%s", ns, err, out)
	}
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
