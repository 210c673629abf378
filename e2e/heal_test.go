package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 8, healing: when a partition heals (or a paused daemon resumes)
// and both nodes hold the group, they converge to the preferred node
// without a restart, and the keeper announces the VIP again, so that the
// client, which followed node2 meanwhile, is answered within 1 s of the
// heal. Before, the client got no answer for more than 15 s.
func TestHealAfterPartitionAndPause(t *testing.T) {
	for _, fault := range []string{"partition", "pause"} {
		t.Run(fault, func(t *testing.T) {
			c := haSetup(t, "on", nil)
			if !c.Served("node1", 15*time.Second) {
				t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
			}
			// Both nodes hold the VIP during the fault: the watcher is told.
			c.Watch.SetCut("node1", true)
			switch fault {
			case "partition":
				dropHeartbeats(t, c.Nodes["node1"], true)
			case "pause":
				must(t, c.Nodes["node1"].Proc.Signal(syscall.SIGSTOP))
			}
			if !c.Served("node2", 10*time.Second) {
				t.Fatalf("node2 did not take over during the %s:\n%s", fault, c.Probe.Output())
			}
			time.Sleep(time.Second)
			switch fault {
			case "partition":
				dropHeartbeats(t, c.Nodes["node1"], false)
			case "pause":
				must(t, c.Nodes["node1"].Proc.Signal(syscall.SIGCONT))
			}
			healed := time.Now()
			if !c.Served("node1", 10*time.Second) {
				t.Fatalf("the client is not served by node1 after the heal:\n%s", c.Probe.Output())
			}
			took := time.Since(healed)
			t.Logf("%s: client served by node1 again %v after the heal", fault, took.Round(time.Millisecond))
			if took > time.Second {
				t.Errorf("client answered %v after the heal, want within 1 s", took)
			}
			if !waitFor(3*time.Second, func() bool {
				o, _, _ := c.Nodes["node2"].Host.Output(time.Second, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
				return !strings.Contains(o, " "+vip+"/")
			}) {
				t.Error("node2 still holds the VIP after the heal")
			}
			c.Watch.SetCut("node1", false)
			// node1 announces once node2's report that it let go arrives,
			// which may be a moment after node2's address is gone.
			if !waitFor(time.Second, func() bool {
				return strings.Contains(c.Nodes["node1"].Proc.Output(), "announcing its addresses again")
			}) {
				t.Error("node1 did not log that it announces the VIP again")
			}
			// The client keeps being served by node1.
			time.Sleep(2 * time.Second)
			if !probeServed(c, "node1") {
				t.Errorf("the client is not served by node1 2 s after the heal:\n%s", c.Probe.Output())
			}
		})
	}
}

func probeServed(c *haCluster, by string) bool { return c.Served(by, 0) }
