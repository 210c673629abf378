package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
)

// startHeartbeat runs Debian's Heartbeat in a host, stopped at the end of
// the test.
func startHeartbeat(t *testing.T, h *lab.Host, name, hacf, authkeys string) *lab.Heartbeat {
	t.Helper()
	hb, err := h.PrepareHeartbeat(name, map[string]string{"ha.cf": hacf, "authkeys": authkeys, "haresources": ""})
	must(t, err)
	must(t, hb.Start(name+"-heartbeat.log"))
	t.Cleanup(func() { hb.Stop(10 * time.Second) })
	return hb
}

// A lubdub node and a Heartbeat 3.0.6 node with the same ha.cf timings and
// a sha1 key see each other alive, each through its own cl_status, and
// each notices the other's death within deadtime.
func TestMixedWithHeartbeat(t *testing.T) {
	if _, err := os.Stat(lab.HeartbeatBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Heartbeat is not installed (%v): .ci/run must install Debian's heartbeat package", err)
		}
		t.Skipf("Heartbeat is not installed (apt-get install heartbeat): %v", err)
	}
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	h1 := addHost(t, l, "node1", 1, "br0")
	h2 := addHost(t, l, "node2", 2, "br0")

	const timings = "keepalive 500ms\ndeadtime 3000ms\nwarntime 1500ms\ninitdead 10000ms\nudpport 694\nbcast eth0\nauto_failback on\nnode node1\nnode node2\n"
	const keys = "auth 2\n2 sha1 ItIsASecret\n"
	lub := setupNode(t, l, h1, "node1", timings, keys)
	hb := startHeartbeat(t, h2, "node2", timings, keys)
	lub.Start(t)

	bothActive := func() bool {
		v, ok := lub.View("node2")
		if !ok || v.Status != "active" {
			return false
		}
		out, code := hb.Exec("cl_status", "nodestatus", "node1")
		return code == 0 && out == "active"
	}
	if !waitFor(25*time.Second, bothActive) {
		t.Logf("heartbeat log:\n%s", hb.Log())
		t.Fatal("lubdub and Heartbeat did not see each other as active")
	}
	if out, code := lub.ClStatus("nodestatus", "node2"); strings.TrimSpace(out) != "active" || code != 0 {
		t.Errorf("lubdub cl_status nodestatus node2 = %q exit %d", out, code)
	}
	if out, code := hb.Exec("cl_status", "hblinkstatus", "node1", "eth0"); out != "up" || code != 0 {
		t.Errorf("Heartbeat cl_status hblinkstatus node1 eth0 = %q exit %d", out, code)
	}
	// Let them talk for a while: no packet dropped either way, no complaint.
	time.Sleep(3 * time.Second)
	s, err := lub.Status()
	must(t, err)
	if len(s.Drops) != 0 {
		t.Errorf("lubdub dropped Heartbeat's packets: %v", s.Drops)
	}
	for _, line := range strings.Split(hb.Log(), "\n") {
		if strings.Contains(line, "ERROR:") && !strings.Contains(line, "lock ourselves into memory") {
			t.Errorf("Heartbeat complains: %s", line)
		}
		if strings.Contains(line, "Late heartbeat") || strings.Contains(line, "lost packet") {
			t.Errorf("Heartbeat complains: %s", line)
		}
	}

	const bound = 3*time.Second + 500*time.Millisecond // deadtime + keepalive
	// Heartbeat looks for dead nodes only every 250ms (its POLL_INTERVAL).
	const heartbeatBound = bound + 250*time.Millisecond
	// lubdub dies: Heartbeat notices.
	killed := time.Now()
	must(t, lub.Proc.Signal(syscall.SIGKILL))
	if !waitFor(6*time.Second, func() bool { out, _ := hb.Exec("cl_status", "nodestatus", "node1"); return out == "dead" }) {
		t.Fatal("Heartbeat did not notice lubdub's death")
	}
	if took := time.Since(killed); took > heartbeatBound {
		t.Errorf("Heartbeat saw lubdub dead %v after SIGKILL; want within %v", took, heartbeatBound)
	} else {
		t.Logf("Heartbeat saw lubdub dead %v after SIGKILL", took.Round(time.Millisecond))
	}
	// lubdub comes back: Heartbeat sees it active again.
	lub.Start(t)
	if !waitFor(15*time.Second, bothActive) {
		t.Fatal("restarted lubdub and Heartbeat did not see each other as active")
	}
	// Heartbeat dies: lubdub notices.
	killed = time.Now()
	must(t, hb.Proc.KillGroup(syscall.SIGKILL))
	if !waitFor(6*time.Second, func() bool { v, _ := lub.View("node2"); return v.Status == "dead" }) {
		t.Fatal("lubdub did not notice Heartbeat's death")
	}
	if took := time.Since(killed); took > bound {
		t.Errorf("lubdub saw Heartbeat dead %v after SIGKILL; want within %v", took, bound)
	} else {
		t.Logf("lubdub saw Heartbeat dead %v after SIGKILL", took.Round(time.Millisecond))
	}
}
