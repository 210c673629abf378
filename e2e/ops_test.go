package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
)

// Heartbeat's seed configuration names /dev/ttyS0 and /dev/watchdog, and
// one ha.cf serves every node: missing devices, a missing interface and a
// ucast line naming the node itself are clear messages, not a crash.
func TestMissingDevicesAndOwnUcast(t *testing.T) {
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	hacf := fastTimings + "serial /dev/ttyLUBDUBNOPE0\nwatchdog /dev/lubdub-no-watchdog\nbcast eth0\nbcast eth9\n" +
		"ucast eth0 198.18.0.1\nucast eth0 198.18.0.2\nnode node1 node2\n"
	nodes := map[string]*node{}
	for i, name := range []string{"node1", "node2"} {
		nodes[name] = setupNode(t, l, addHost(t, l, name, i+1, "br0"), name, hacf, sha256Keys)
		nodes[name].Start(t)
	}
	if !waitFor(10*time.Second, func() bool { return allActive(nodes, []string{"node1", "node2"}) }) {
		t.Fatal("nodes did not come up with the media that work")
	}
	out := nodes["node1"].Proc.Output()
	for _, want := range []string{
		"cannot open serial /dev/ttyLUBDUBNOPE0 (ha.cf line 5): serial: device /dev/ttyLUBDUBNOPE0 does not exist; retrying every 5s",
		"watchdog device /dev/lubdub-no-watchdog cannot be opened",
		"cannot open bcast eth9 port 694 (ha.cf line 8): bcast: interface eth9 does not exist",
		"ucast eth0 198.18.0.1 names this node's own address: skipped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("node1's log lacks %q", want)
		}
	}
	s, err := nodes["node1"].Status()
	must(t, err)
	states := map[string]string{}
	for _, m := range s.Media {
		states[m.Type+" "+m.Name] = states[m.Type+" "+m.Name] + m.State + ","
	}
	if states["serial /dev/ttyLUBDUBNOPE0"] != "failed," || states["bcast eth9"] != "failed," || states["ucast eth0"] != "skipped,open," || states["bcast eth0"] != "open," {
		t.Errorf("media states: %v", states)
	}
	if !nodes["node1"].Proc.Running() {
		t.Fatal("node1 exited")
	}
}

// SIGHUP re-reads the configuration: a broken one is refused and the old
// one stays; new keys take effect at once.
func TestReloadOnSighup(t *testing.T) {
	names := []string{"node1", "node2"}
	nodes := activeCluster(t, names)
	n1 := nodes["node1"]
	hacfPath := filepath.Join(n1.Dir, "ha.cf")
	good, err := os.ReadFile(hacfPath)
	must(t, err)
	must(t, os.WriteFile(hacfPath, append(append([]byte{}, good...), "frobnicate yes\n"...), 0o644))
	must(t, n1.Proc.Signal(syscall.SIGHUP))
	if !waitFor(3*time.Second, func() bool {
		return strings.Contains(n1.Proc.Output(), "Config errors: configuration NOT reloaded")
	}) {
		t.Fatal("a broken configuration was not refused on SIGHUP")
	}
	if !strings.Contains(n1.Proc.Output(), `unknown directive "frobnicate"`) {
		t.Error("the reason was not logged")
	}
	if !n1.Proc.Running() || !allActive(nodes, names) {
		t.Fatal("node1 did not keep running with its old configuration")
	}

	// New key on node1 only: node2 no longer accepts node1.
	must(t, os.WriteFile(hacfPath, good, 0o644))
	must(t, os.WriteFile(filepath.Join(n1.Dir, "authkeys"), []byte("auth 2\n2 sha256 rotated-secret\n"), 0o600))
	must(t, n1.Proc.Signal(syscall.SIGHUP))
	if !waitFor(3*time.Second, func() bool { v, _ := nodes["node2"].View("node1"); return v.Status == "dead" }) {
		t.Fatal("node2 still accepts node1 after node1 changed its key")
	}
	// The same key on node2: they are one cluster again.
	must(t, os.WriteFile(filepath.Join(nodes["node2"].Dir, "authkeys"), []byte("auth 2\n1 sha256 lubdub-e2e-secret\n2 sha256 rotated-secret\n"), 0o600))
	must(t, nodes["node2"].Proc.Signal(syscall.SIGHUP))
	if !waitFor(5*time.Second, func() bool { return allActive(nodes, names) }) {
		t.Fatal("nodes did not rejoin after the key rotation")
	}
}

// Two nodes heartbeat over a serial line (a pseudo-terminal pair joined by
// socat) and Ethernet; with Ethernet cut, the serial line keeps them alive.
func TestSerialLink(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("socat is not installed: .ci/run must install it")
		}
		t.Skip("socat is not installed")
	}
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	ttyA, ttyB := filepath.Join(l.Dir, "ttyA"), filepath.Join(l.Dir, "ttyB")
	socat := exec.Command("socat", "pty,raw,echo=0,link="+ttyA, "pty,raw,echo=0,link="+ttyB)
	socat.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(t, socat.Start())
	t.Cleanup(func() { socat.Process.Kill(); socat.Wait() })
	if !waitFor(5*time.Second, func() bool {
		_, e1 := os.Stat(ttyA)
		_, e2 := os.Stat(ttyB)
		return e1 == nil && e2 == nil
	}) {
		t.Fatal("socat made no pty pair")
	}
	nodes := map[string]*node{}
	for i, name := range []string{"node1", "node2"} {
		h := addHost(t, l, name, i+1, "br0")
		tty := ttyA
		if name == "node2" {
			tty = ttyB
		}
		hacf := fastTimings + "baud 115200\nserial " + tty + "\nbcast eth0\nnode node1 node2\n"
		nodes[name] = setupNode(t, l, h, name, hacf, sha256Keys)
		nodes[name].Start(t)
	}
	linksUp := func(want string) bool {
		v, ok := nodes["node1"].View("node2")
		if !ok || len(v.Links) != 2 {
			return false
		}
		return v.Links[0].Name == ttyA && v.Links[0].Status == "up" && v.Links[1].Status == want
	}
	if !waitFor(10*time.Second, func() bool { return allActive(nodes, []string{"node1", "node2"}) && linksUp("up") }) {
		v, _ := nodes["node1"].View("node2")
		t.Fatalf("serial and Ethernet links did not come up: %+v", v)
	}
	must(t, nodes["node2"].Host.Cut("eth0"))
	must(t, nodes["node1"].Host.Cut("eth0"))
	if !waitFor(3*time.Second, func() bool { return linksUp("dead") }) {
		t.Fatal("Ethernet link not dead after the cut")
	}
	time.Sleep(time.Second)
	if !allActive(nodes, []string{"node1", "node2"}) {
		t.Fatal("nodes lost each other with the serial line still up")
	}
}

// The init script starts, reports and stops the daemon as "service
// heartbeat ..." does, with LSB exit codes.
func TestInitScript(t *testing.T) {
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	h := addHost(t, l, "node1", 1, "br0")
	n := setupNode(t, l, h, "node1", fastTimings+"bcast eth0\nnode node1 node2\n", sha256Keys)
	defaults := filepath.Join(l.Dir, "defaults")
	pidfile := filepath.Join(l.Dir, "lubdub.pid")
	must(t, os.WriteFile(defaults, []byte("DAEMON="+e2ekit.Bin+"\nCONFDIR="+n.Dir+"\nPIDFILE="+pidfile+
		"\nSOCKET="+n.Sock+"\nOUTFILE="+filepath.Join(l.Dir, "init.log")+
		"\nLUBDUB_OPTS=\"--node node1 --state-dir "+n.State+"\"\n"), 0o644))
	script, err := filepath.Abs("../dist/lubdub.init")
	must(t, err)
	service := func(action string) (string, int) {
		out, errOut, code := h.Output(90*time.Second, "env", "LUBDUB_DEFAULTS="+defaults, "sh", script, action)
		return out + errOut, code
	}
	t.Cleanup(func() {
		service("stop")
		if b, err := os.ReadFile(pidfile); err == nil {
			var pid int
			if _, err := fmtSscan(string(b), &pid); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if out, code := service("status"); code != 3 || !strings.Contains(out, "lubdub is stopped.") {
		t.Fatalf("status before start: %q exit %d, want exit 3", out, code)
	}
	if out, code := service("start"); code != 0 || !strings.Contains(out, "Starting lubdub: OK") {
		t.Fatalf("start: %q exit %d", out, code)
	}
	if out, code := service("status"); code != 0 || !strings.Contains(out, "Heartbeat is running on this machine.") {
		t.Fatalf("status: %q exit %d", out, code)
	}
	if out, code := service("reload"); code != 0 {
		t.Fatalf("reload: %q exit %d", out, code)
	}
	if out, code := service("stop"); code != 0 || !strings.Contains(out, "Stopping lubdub: OK") {
		t.Fatalf("stop: %q exit %d", out, code)
	}
	if out, code := service("status"); code != 3 {
		t.Fatalf("status after stop: %q exit %d, want 3", out, code)
	}
	must(t, os.WriteFile(filepath.Join(n.Dir, "ha.cf"), []byte("node node1\nkeepalive 5\ndeadtime 6\nbcast eth0\n"), 0o644))
	out, code := service("start")
	if code != 6 || !strings.Contains(out, "deadtime (6s) must be more than twice keepalive (5s)") {
		t.Fatalf("start with a bad ha.cf: %q exit %d, want exit 6 and the error", out, code)
	}
}

func fmtSscan(s string, pid *int) (int, error) {
	return fmt.Sscan(strings.TrimSpace(s), pid)
}
