package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
)

func TestCrashFailoverAndFailbackOn(t *testing.T) {
	c := haSetup(t, "on", nil)
	c.CrashOver(t)
	t.Logf("crash: client-visible outage %v", c.LastOutage())
	if !waitFor(5*time.Second, func() bool { return c.Owner("node2") == "node2" }) {
		t.Errorf("node2 reports owner %q", c.Owner("node2"))
	}
	c.Reboot("node1")
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("no failback to node1:\n%s", c.Probe.Output())
	}
	t.Logf("failback: client-visible outage %v", c.LastOutage())
	// After the failback each node answers for its own groups, as
	// Heartbeat 3.0.6 says: local on both (issue 12 case 7).
	for _, n := range []string{"node1", "node2"} {
		if !waitFor(5*time.Second, func() bool {
			out, code := c.Nodes[n].ClStatus("rscstatus")
			return strings.TrimSpace(out) == "local" && code == 0
		}) {
			out, _ := c.Nodes[n].ClStatus("rscstatus")
			t.Errorf("rscstatus on %s = %q, want local", n, out)
		}
	}
}

func TestFailbackOffStaysThenTakeover(t *testing.T) {
	c := haSetup(t, "off", nil)
	c.CrashOver(t)
	c.Reboot("node1")
	if !waitFor(10*time.Second, func() bool { v, _ := c.Nodes["node2"].View("node1"); return v.Status == "active" }) {
		t.Fatal("node1 did not rejoin")
	}
	time.Sleep(2 * time.Second)
	if !c.Served("node2", time.Second) || c.Owner("node1") != "node2" {
		t.Fatalf("with auto_failback off the group left node2:\n%s", c.Probe.Output())
	}
	// hb_takeover, through a link named like Heartbeat's command.
	link := filepath.Join(c.Lab.Dir, "hb_takeover")
	must(t, os.Symlink(e2ekit.Bin, link))
	out, errOut, code := c.Nodes["node1"].Host.Output(10*time.Second, link, "--socket", c.Nodes["node1"].Sock, "all")
	if code != 0 {
		t.Fatalf("hb_takeover all: %s %s exit %d", out, errOut, code)
	}
	if !c.Served("node1", 10*time.Second) {
		t.Fatalf("takeover did not bring the service to node1:\n%s", c.Probe.Output())
	}
	t.Logf("takeover: client-visible outage %v", c.LastOutage())
}

func TestStandbyAndSigtermHandOver(t *testing.T) {
	c := haSetup(t, "on", nil)
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	if !waitFor(5*time.Second, func() bool {
		out, _ := c.Nodes["node1"].ClStatus("rscstatus")
		return strings.TrimSpace(out) == "local"
	}) {
		t.Error("rscstatus on node1 is not local (Heartbeat's answer on a healthy pair)")
	}
	o, e, code := c.Nodes["node1"].Host.Output(10*time.Second, e2ekit.Bin, "standby", "--socket", c.Nodes["node1"].Sock)
	if code != 0 {
		t.Fatalf("standby: %s %s", o, e)
	}
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("standby did not move the service:\n%s", c.Probe.Output())
	}
	t.Logf("standby: client-visible outage %v", c.LastOutage())
	o, e, code = c.Nodes["node1"].Host.Output(10*time.Second, e2ekit.Bin, "takeover", "--socket", c.Nodes["node1"].Sock)
	if code != 0 {
		t.Fatalf("takeover: %s %s", o, e)
	}
	if !c.Served("node1", 10*time.Second) {
		t.Fatalf("takeover did not move the service back:\n%s", c.Probe.Output())
	}
	// A clean stop hands over without waiting for deadtime.
	stopped := time.Now()
	must(t, c.Nodes["node1"].Proc.Signal(syscall.SIGTERM))
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("SIGTERM did not hand over:\n%s", c.Probe.Output())
	}
	t.Logf("SIGTERM: served by node2 %v after the signal, client-visible outage %v", time.Since(stopped).Round(time.Millisecond), c.LastOutage())
	if exited, err := c.Nodes["node1"].Proc.Wait(10 * time.Second); !exited || err != nil {
		t.Fatalf("node1 did not exit cleanly: %v %v", exited, err)
	}
	if o, _, _ := c.Nodes["node1"].Host.Output(time.Second, "ip", "-4", "-o", "addr", "show", "dev", "eth0"); strings.Contains(o, vip) {
		t.Error("node1 left the VIP behind")
	}
}

// A resource that fails to start on node1 runs on node2; one that hangs
// is cut off by its timeout and also ends up on node2.
func TestFailingAndHangingStart(t *testing.T) {
	for _, tc := range []struct{ name, file string }{{"fails", "websrv.fail"}, {"hangs", "websrv.hang"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := haSetup(t, "on", map[string]string{tc.file: ""})
			if !c.Served("node2", 20*time.Second) {
				t.Fatalf("the service did not end up on node2:\n%s", c.Probe.Output())
			}
			s, err := c.Nodes["node1"].Status()
			must(t, err)
			if s.Groups[0].Local != "failed" {
				t.Errorf("node1's state for the group is %q, want failed", s.Groups[0].Local)
			}
			if tc.name == "hangs" && !strings.Contains(c.Nodes["node1"].Proc.Output(), "timed out after") {
				t.Error("node1 did not log the timeout")
			}
		})
	}
}

// A web server killed behind lubdub's back is restarted in place by the
// monitor.
func TestMonitorRestartsDeadService(t *testing.T) {
	c := haSetup(t, "on", nil)
	if !c.Served("node1", 15*time.Second) || !waitFor(5*time.Second, func() bool { return c.Owner("node1") == "node1" }) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	pid, err := os.ReadFile(filepath.Join(c.Nodes["node1"].Dir, "websrv.pid"))
	must(t, err)
	var p int
	fmt.Sscan(string(pid), &p)
	must(t, syscall.Kill(p, syscall.SIGKILL))
	if !waitFor(10*time.Second, func() bool {
		return strings.Contains(c.Nodes["node1"].Proc.Output(), "failed its monitor: restarting it here")
	}) {
		t.Fatal("the monitor did not notice the dead web server")
	}
	if !c.Served("node1", 10*time.Second) {
		t.Fatalf("the web server was not restarted on node1:\n%s", c.Probe.Output())
	}
}
