package daemon

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/resource"
)

// Status carries the counters metrics are made of: heartbeats per link
// and peer, transitions, fail counts that expire with failure_timeout,
// and maintenance, which the peer learns and which stops counting
// monitor failures.
func TestCountersInStatus(t *testing.T) {
	s := newSim(t, 3, 2, "node1 IPaddr::198.18.0.10/24/eth0\n", "auto_failback on\n")
	s.cfg.Tuning.FailureTimeout = 2 * time.Second
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.runFor(2 * time.Second)
	n1 := s.nodes["node1"]
	st := func(name string) *control.Status { return s.nodes[name].node.Status(s.now) }
	g := st("node1").Groups[0]
	if g.Transitions["running"] != 1 || g.LastTransition.IsZero() || g.FailCount != 0 {
		t.Fatalf("after the start: %+v", g)
	}
	if !slices.Equal(g.VIPs, []control.VIP{{Address: "198.18.0.10", Iface: "eth0"}}) {
		t.Errorf("VIPs %+v", g.VIPs)
	}
	sent := st("node1").HeartbeatsSent["eth0"]
	var recv uint64
	for _, n := range st("node1").Nodes {
		if n.Name == "node2" {
			recv = n.Links[0].Heartbeats
		}
	}
	if sent < 10 || recv < 10 {
		t.Fatalf("heartbeats sent %d, received from node2 %d after seconds of running", sent, recv)
	}

	failedAt := s.now
	n1.node.Result(s.now, resource.Result{Group: 0, Op: resource.Monitor, OK: false, Err: errors.New("websrv is stopped")})
	n1.schedule()
	s.settle(2 * time.Second)
	g = st("node1").Groups[0]
	if g.FailCount != 1 || g.Restarts != 1 || g.Failures["monitor"] != 1 || g.LastFailure == nil || g.LastFailure.Op != "monitor" ||
		g.LastFailure.Detail != "websrv is stopped" || !g.LastFailure.At.Equal(failedAt) || g.Transitions["running"] != 2 || g.Transitions["stopping"] != 1 {
		t.Fatalf("after a monitor failure restarted in place: %+v", g)
	}
	s.run(failedAt.Add(2*time.Second - time.Millisecond))
	if g = st("node1").Groups[0]; g.FailCount != 1 {
		t.Fatalf("the failure expired before failure_timeout: %+v", g)
	}
	s.runFor(10 * time.Millisecond)
	if g = st("node1").Groups[0]; g.FailCount != 0 || g.Restarts != 0 || g.Failures["monitor"] != 1 || g.LastFailure == nil {
		t.Fatalf("failure_timeout after the failure: %+v", g)
	}

	if e := s.control("node1", "maintenance", "on all"); e != "" {
		t.Fatal(e)
	}
	s.runFor(time.Second)
	for _, name := range []string{"node1", "node2"} {
		if m := st(name).Groups[0].Maintenance; !slices.Equal(m, []string{"node1"}) {
			t.Errorf("%s shows the group in maintenance on %v", name, m)
		}
	}
	if got := n1.node.MaintenanceGroups(); !slices.Equal(got, []string{"IPaddr::198.18.0.10/24/eth0"}) {
		t.Errorf("MaintenanceGroups %v", got)
	}
	n1.node.Result(s.now, resource.Result{Group: 0, Op: resource.Monitor, OK: false, Err: errors.New("websrv is stopped")})
	n1.schedule()
	s.runFor(time.Second)
	if g = st("node1").Groups[0]; g.FailCount != 0 || g.Transitions["running"] != 2 || g.Local != "running" {
		t.Fatalf("a monitor failure in maintenance counted or acted: %+v", g)
	}
	if e := s.control("node1", "standby", "all"); e == "" {
		t.Error("standby of a group in maintenance was accepted")
	}
	if e := s.control("node1", "maintenance", "off IPaddr::198.18.0.10/24/eth0"); e != "" {
		t.Fatal(e)
	}
	if e := s.control("node1", "maintenance", "off nosuchgroup"); e == "" {
		t.Error("maintenance for an unknown group was accepted")
	}
	if e := s.control("node1", "maintenance", "maybe all"); e == "" {
		t.Error("maintenance maybe was accepted")
	}
	if e := s.control("node1", "standby", "all"); e != "" {
		t.Fatalf("standby after maintenance off: %s", e)
	}
	s.settle(3 * time.Second)
	if h := s.holders(0); !slices.Equal(h, []string{"node2"}) {
		t.Fatalf("after standby the group is on %v", h)
	}
}

// The maintenance file in the state directory: saved, read back, unknown
// groups set apart, removed when nothing is in maintenance.
func TestMaintenanceFile(t *testing.T) {
	dir := t.TempDir()
	if on, unknown, err := loadMaintenance(dir, []string{"a"}); err != nil || on != nil || unknown != nil {
		t.Fatalf("without a file: %v %v %v", on, unknown, err)
	}
	if err := saveMaintenance(dir, []string{"a", "gone"}); err != nil {
		t.Fatal(err)
	}
	on, unknown, err := loadMaintenance(dir, []string{"a", "b"})
	if err != nil || !slices.Equal(on, []string{"a"}) || !slices.Equal(unknown, []string{"gone"}) {
		t.Fatalf("read back: %v %v %v", on, unknown, err)
	}
	if err := saveMaintenance(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/" + maintenanceFile); !os.IsNotExist(err) {
		t.Fatalf("the file stays with nothing in maintenance: %v", err)
	}
}

// A hundred groups are placed: their resource reports (over 300 fields)
// are not dropped as malformed.
func TestSimHundredGroups(t *testing.T) {
	var hr strings.Builder
	for g := range 100 {
		fmt.Fprintf(&hr, "node%d IPaddr::198.18.%d.%d\n", g%2+1, 1+g/200, 1+g%200)
	}
	s := newSim(t, 5, 2, hr.String(), "auto_failback on\n")
	s.boot("node1")
	s.boot("node2")
	s.settle(10 * time.Second)
	for g := range 100 {
		if h := s.holders(g); len(h) != 1 || h[0] != fmt.Sprintf("node%d", g%2+1) {
			t.Fatalf("group %d runs on %v", g, h)
		}
	}
	if d := s.nodes["node1"].node.Status(s.now).Drops; len(d) != 0 {
		t.Errorf("dropped packets: %v", d)
	}
}
