package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killWebsrv kills node's web server behind lubdub's back.
func killWebsrv(t *testing.T, n *node) {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(n.Dir, "websrv.pid"))
	must(t, err)
	var p int
	fmt.Sscan(string(pid), &p)
	must(t, syscall.Kill(p, syscall.SIGKILL))
}

// Issue 13: maintenance on the node that serves: its killed web server is
// neither restarted nor moved, and its daemon restarted (SIGTERM, then
// start: a rolling upgrade) leaves the group running there, with node2
// taking nothing over; maintenance off resumes: the monitor restarts the
// web server in place.
func TestMaintenanceLeavesServiceAlone(t *testing.T) {
	c := haSetup(t, "on", nil, "metrics_listen "+metricsPort+"\n")
	n1, n2 := c.Nodes["node1"], c.Nodes["node2"]
	if !c.Served("node1", 15*time.Second) || !waitFor(5*time.Second, func() bool { return c.Owner("node1") == "node1" }) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	if out, errOut, code := n1.Lubdub("maintenance", "on"); code != 0 || !strings.Contains(out, "maintenance on: IPaddr2::"+vip) {
		t.Fatalf("maintenance on: %s %s exit %d", out, errOut, code)
	}
	if !waitFor(5*time.Second, func() bool { return slices.Equal(n2.Group(t).Maintenance, []string{"node1"}) }) {
		t.Errorf("node2 does not see the group in maintenance on node1: %v", n2.Group(t).Maintenance)
	}
	if out, _ := n1.ClStatus("rscstatus", "-m"); !strings.Contains(out, "In maintenance on this node") {
		t.Errorf("cl_status rscstatus -m: %q", out)
	}
	if out, _, _ := n1.Lubdub("status"); !strings.Contains(out, "running (maintenance)") {
		t.Errorf("lubdub status does not show maintenance:\n%s", out)
	}
	m := scrape(t, n1)
	if v := metricValue(t, m, "lubdub_group_maintenance", `node="node1"`); v != 1 {
		t.Errorf("lubdub_group_maintenance on node1 = %v", v)
	}
	if v := metricValue(t, m, "lubdub_nodes", `node="node1"`, `status="maintenance"`); v != 1 {
		t.Errorf("lubdub_nodes maintenance on node1 = %v", v)
	}
	if v := metricValue(t, m, "lubdub_resources", `node="node1"`, `resource="websrv"`, `status="active"`); v != 1 || !strings.Contains(m, `managed="false"`) {
		t.Errorf("lubdub_resources for websrv in maintenance: %v", v)
	}
	if _, errOut, code := n1.Lubdub("standby"); code == 0 || !strings.Contains(errOut, "in maintenance here") {
		t.Errorf("standby in maintenance: exit %d %s", code, errOut)
	}

	killWebsrv(t, n1)
	time.Sleep(3 * time.Second) // six monitor intervals
	if strings.Contains(n1.Proc.Output(), "failed its monitor") {
		t.Error("node1 monitored its group in maintenance")
	}
	if g := n1.Group(t); g.Local != "running" || g.FailCount != 0 || g.Transitions["running"] != 1 {
		t.Errorf("node1's group in maintenance: %+v", g)
	}
	if g := n2.Group(t); g.Local != "stopped" || !holdsVIP(n1) || holdsVIP(n2) {
		t.Errorf("the group moved: node2 %s, VIP on node1 %v, node2 %v", g.Local, holdsVIP(n1), holdsVIP(n2))
	}
	if c.Served("node1", 0) || c.Served("node2", 0) {
		t.Fatalf("the killed web server answers again, restarted or moved:\n%s", c.Probe.Output())
	}

	// The rolling upgrade: node1's daemon stops and starts again; the
	// group stays where it is, in maintenance.
	must(t, n1.Proc.Signal(syscall.SIGTERM))
	if exited, err := n1.Proc.Wait(10 * time.Second); !exited || err != nil {
		t.Fatalf("node1 did not exit on SIGTERM with its group in maintenance: %v %v", exited, err)
	}
	if !holdsVIP(n1) {
		t.Fatal("node1's clean stop took the VIP down despite maintenance")
	}
	if !waitFor(5*time.Second, func() bool { return n2.Group(t).Frozen == "node1" }) {
		t.Errorf("node2 does not keep the group frozen for node1: %+v", n2.Group(t))
	}
	time.Sleep(time.Second)
	if g := n2.Group(t); g.Local != "stopped" || holdsVIP(n2) {
		t.Fatalf("node2 took over a group node1 left in maintenance: %s", g.Local)
	}
	n1.Start(t)
	if !waitFor(10*time.Second, func() bool { _, err := n1.Status(); return err == nil }) {
		t.Fatal("node1's daemon did not come back")
	}
	if !waitFor(10*time.Second, func() bool { v, _ := n2.View("node1"); return v.Status == "active" }) {
		t.Fatal("node1 did not rejoin")
	}
	g := n1.Group(t)
	if g.Local != "running" || !slices.Contains(g.Maintenance, "node1") || !holdsVIP(n1) || holdsVIP(n2) || n2.Group(t).Frozen != "" {
		t.Fatalf("after node1's restart: %+v (VIP on node1 %v, node2 %v; node2's group %+v)", g, holdsVIP(n1), holdsVIP(n2), n2.Group(t))
	}

	if out, errOut, code := n1.Lubdub("maintenance", "off", "all"); code != 0 {
		t.Fatalf("maintenance off: %s %s", out, errOut)
	}
	if !waitFor(10*time.Second, func() bool {
		return strings.Contains(n1.Proc.Output(), "failed its monitor: restarting it here")
	}) {
		t.Fatal("after maintenance off the monitor did not notice the dead web server")
	}
	if !waitFor(10*time.Second, func() bool { return c.Owner("node1") == "node1" && n1.Group(t).FailCount == 1 }) {
		t.Fatalf("the web server was not restarted on node1: %+v", n1.Group(t))
	}
	if !c.Served("node1", 10*time.Second) {
		t.Fatalf("the client is not served by node1 again:\n%s", c.Probe.Output())
	}
	if _, err := os.Stat(filepath.Join(n1.State, "maintenance")); !os.IsNotExist(err) {
		t.Errorf("the maintenance state file stays after maintenance off: %v", err)
	}
}

// Issue 13: standby and takeover --wait return once the move has
// finished, and exit non-zero when it does not finish in time.
func TestMoveWait(t *testing.T) {
	c := haSetup(t, "on", nil)
	n1, n2 := c.Nodes["node1"], c.Nodes["node2"]
	if !c.Served("node1", 15*time.Second) || !waitFor(5*time.Second, func() bool { return c.Owner("node1") == "node1" }) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	out, errOut, code := n1.Lubdub("standby", "--wait", "20")
	if code != 0 || !strings.Contains(out, "standby all: done in") {
		t.Fatalf("standby --wait: %s %s exit %d", out, errOut, code)
	}
	if g1, g2 := n1.Group(t), n2.Group(t); g1.Local != "stopped" || g2.Local != "running" || !holdsVIP(n2) || holdsVIP(n1) {
		t.Fatalf("standby --wait returned before the move ended: node1 %s, node2 %s, VIP on node2 %v", g1.Local, g2.Local, holdsVIP(n2))
	}
	t.Logf("standby --wait: %s", strings.TrimSpace(out))
	out, errOut, code = n1.Lubdub("takeover", "--wait", "20s", "all")
	if code != 0 || !strings.Contains(out, "takeover all: done in") {
		t.Fatalf("takeover --wait: %s %s exit %d", out, errOut, code)
	}
	if g1 := n1.Group(t); g1.Local != "running" || !holdsVIP(n1) {
		t.Fatalf("takeover --wait returned before the move ended: node1 %s", g1.Local)
	}
	t.Logf("takeover --wait: %s", strings.TrimSpace(out))

	// node2's start now hangs (until start_timeout, 5 s): a standby
	// waited on for 1 s times out.
	must(t, os.WriteFile(filepath.Join(n2.Dir, "websrv.hang"), nil, 0o644))
	start := time.Now()
	out, errOut, code = n1.Lubdub("standby", "--wait", "1")
	took := time.Since(start)
	if code == 0 || !strings.Contains(errOut, "not done after 1s") || took > 6*time.Second {
		t.Fatalf("standby --wait 1 with a hanging start: %s %s exit %d after %v", out, errOut, code, took)
	}
	t.Logf("standby --wait 1 with a hanging start: exit %d after %v: %s", code, took.Round(time.Millisecond), strings.TrimSpace(errOut))
}
