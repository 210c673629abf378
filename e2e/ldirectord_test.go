package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/lab"
)

// Two virtual services: an echo service on port 7 that a reload leaves
// alone, and the web service whose real server the reloads change.
const reloadBefore = `checkinterval=1
checktimeout=1

virtual=198.18.0.10:7
	real=198.18.1.11:7 masq
	scheduler=rr
	checktype=connect

virtual=198.18.0.10:80
	real=198.18.1.11:80 masq
	scheduler=rr
	service=http
	receive="rs[0-9]"
`

var (
	reloadAfter  = strings.Replace(reloadBefore, "real=198.18.1.11:80 masq", "real=198.18.1.12:80 masq", 1)
	reloadBroken = strings.Replace(reloadBefore, "real=198.18.1.11:80 masq", "real=198.18.1.12:80 gateway", 1)
)

// reloadBrokenLine is the line of reloadBroken's error.
const reloadBrokenLine = 10

// holds reports whether the director's table holds the real server
// (ADDR:PORT) in some service.
func holds(h *lab.Host, real string) bool {
	out, _, _ := h.Output(5*time.Second, e2ekit.CLI, "lvs", "-L", "-n")
	return strings.Contains(out, "-> "+real+" ")
}

// heldConn is one TCP connection from the client through the VIP, kept
// open across reloads: socat in the client's namespace joins it to a
// Unix socket the test talks through.
type heldConn struct {
	c net.Conn
	r *bufio.Reader
}

func holdConn(t *testing.T, x *lvsLab, addr string) *heldConn {
	t.Helper()
	sock := filepath.Join(x.l.Dir, "held.sock")
	_, err := x.client.Start("held.log", "socat", "UNIX-LISTEN:"+sock, "TCP:"+addr)
	must(t, err)
	// The socket file appears at bind(), before socat's listen(): a
	// dial in between is refused, so dial until one is accepted.
	var c net.Conn
	if !waitFor(5*time.Second, func() bool { c, err = net.Dial("unix", sock); return err == nil }) {
		t.Fatalf("socat did not listen on %s: %v", sock, err)
	}
	t.Cleanup(func() { c.Close() })
	h := &heldConn{c: c, r: bufio.NewReader(c)}
	if err := h.echo("hello"); err != nil {
		t.Fatalf("the held connection does not work: %v", err)
	}
	return h
}

// echo sends a line and expects it back within 3 s.
func (h *heldConn) echo(msg string) error {
	h.c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(h.c, "%s\n", msg); err != nil {
		return err
	}
	got, err := h.r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != msg {
		return fmt.Errorf("echoed %q, want %q", got, msg)
	}
	return nil
}

// newReloadLab is the seed's LVS-NAT setup with an echo server on rs1's
// port 7.
func newReloadLab(t *testing.T) *lvsLab {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is needed to hold a connection open (apt-get install socat)")
	}
	x := newLVSLab(t, 1)
	_, err := x.reals[0].Start("echo.log", "socat", "TCP-LISTEN:7,fork,reuseaddr", "EXEC:cat")
	must(t, err)
	return x
}

// kill -HUP on a standalone lubdub ldirectord (and lubdub ldirectord
// CONFIG reload, which finds it by its pid file) re-reads the file and
// changes a real server, while a connection through the unchanged service
// goes on; a broken file is refused, its error named by FILE:LINE, and
// the old configuration stays.
func TestLdirectordReloadStandalone(t *testing.T) {
	x := newReloadLab(t)
	d := x.dirs[0]
	runIn(t, d, "ip", "addr", "add", lvsVIP+"/24", "brd", "+", "dev", "eth0")
	runIn(t, d, "ip", "addr", "add", lvsGW+"/24", "brd", "+", "dev", "eth1")
	cf := filepath.Join(x.l.Dir, "web.cf")
	must(t, os.WriteFile(cf, []byte(reloadBefore), 0o644))
	piddir := x.l.Dir
	ld, err := d.Start("ldirectord.log", e2ekit.Bin, "ldirectord", "--pid-dir", piddir, cf)
	must(t, err)
	if !waitFor(5*time.Second, func() bool { return holds(d, "198.18.1.11:7") && holds(d, "198.18.1.11:80") }) {
		t.Fatalf("the services never entered the table:\n%s", ld.Output())
	}
	if got := x.fetch(t, 3); len(got) != 1 || got[0] != "rs1" {
		t.Errorf("before the reload: answers %v, want rs1", got)
	}
	held := holdConn(t, x, lvsVIP+":7")
	if !waitFor(5*time.Second, func() bool { _, err := os.Stat(filepath.Join(piddir, "ldirectord.web.cf.pid")); return err == nil }) {
		t.Fatal("no pid file ldirectord.web.cf.pid")
	}

	// kill -HUP: rs1 is replaced by rs2 on port 80.
	must(t, os.WriteFile(cf, []byte(reloadAfter), 0o644))
	must(t, ld.Signal(syscall.SIGHUP))
	if !waitFor(5*time.Second, func() bool { return holds(d, "198.18.1.12:80") && !holds(d, "198.18.1.11:80") }) {
		t.Fatalf("SIGHUP did not change the real server:\n%s", ld.Output())
	}
	if !ld.Running() {
		t.Fatalf("SIGHUP ended lubdub ldirectord:\n%s", ld.Output())
	}
	if err := held.echo("after the reload"); err != nil {
		t.Errorf("the connection through the unchanged service broke: %v", err)
	}
	if got := x.fetch(t, 3); len(got) != 1 || got[0] != "rs2" {
		t.Errorf("after the reload: answers %v, want rs2", got)
	}

	// A broken file: lubdub ldirectord reload refuses it before
	// signalling; a bare kill -HUP is refused by the running one. Either
	// way the error names FILE:LINE and the table stays.
	must(t, os.WriteFile(cf, []byte(reloadBroken), 0o644))
	where := fmt.Sprintf("%s:%d: forward method must be gate, masq or ipip", cf, reloadBrokenLine)
	_, errOut, code := d.Output(10*time.Second, e2ekit.CLI, "ldirectord", "--pid-dir", piddir, cf, "reload")
	if code != 1 || !strings.Contains(errOut, where) {
		t.Errorf("ldirectord reload of a broken file: exit %d, %s", code, errOut)
	}
	must(t, ld.Signal(syscall.SIGHUP))
	if !waitFor(5*time.Second, func() bool {
		return strings.Contains(ld.Output(), where) && strings.Contains(ld.Output(), "NOT reloaded")
	}) {
		t.Errorf("the refused reload is not logged with FILE:LINE:\n%s", ld.Output())
	}
	if !holds(d, "198.18.1.12:80") || !ld.Running() {
		t.Errorf("a broken file changed the table or ended ldirectord:\n%s", ld.Output())
	}
	if err := held.echo("after a refused reload"); err != nil {
		t.Errorf("the held connection broke at a refused reload: %v", err)
	}

	// lubdub ldirectord CONFIG reload, as ldirectord reload: back to rs1.
	must(t, os.WriteFile(cf, []byte(reloadBefore), 0o644))
	runIn(t, d, e2ekit.CLI, "ldirectord", "--pid-dir", piddir, cf, "reload")
	if !waitFor(5*time.Second, func() bool { return holds(d, "198.18.1.11:80") && !holds(d, "198.18.1.12:80") }) {
		t.Fatalf("ldirectord reload did not change the real server:\n%s", ld.Output())
	}
	if err := held.echo("after ldirectord reload"); err != nil {
		t.Errorf("the held connection broke at ldirectord reload: %v", err)
	}
	if _, errOut, code := d.Output(10*time.Second, e2ekit.CLI, "ldirectord", "--pid-dir", piddir, cf, "status"); code != 0 ||
		!strings.Contains(errOut, fmt.Sprintf("is running with pid: %d", ld.Pid())) {
		t.Errorf("status: exit %d, %s", code, errOut)
	}
	runIn(t, d, e2ekit.CLI, "ldirectord", "--pid-dir", piddir, cf, "stop")
	if exited, _ := ld.Wait(5 * time.Second); !exited {
		t.Fatal("ldirectord stop did not end it")
	}
	if holds(d, "198.18.1.11:7") {
		t.Error("services left after ldirectord stop")
	}
	if _, _, code := d.Output(10*time.Second, e2ekit.CLI, "ldirectord", "--pid-dir", piddir, cf, "status"); code != 3 {
		t.Errorf("status when stopped: exit %d, want 3", code)
	}
}

// The daemon's SIGHUP re-reads the ldirectord.cf of an ldirectord
// resource running here: the real server changes, a connection through
// the unchanged service goes on, and a broken file is refused with
// FILE:LINE in the log; lubdub ldirectord FILE reload reaches it too.
func TestLdirectordReloadInDaemon(t *testing.T) {
	x := newReloadLab(t)
	n := setupNode(t, x.l, x.dirs[0], "dir1", fastTimings+"bcast eth0 eth1\nnode dir1\n", sha256Keys)
	must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"),
		[]byte("dir1 IPaddr2::"+lvsVIP+"/24/eth0 IPaddr2::"+lvsGW+"/24/eth1 ldirectord::ldirectord.cf\n"), 0o644))
	cf := filepath.Join(n.Dir, "ldirectord.cf")
	must(t, os.WriteFile(cf, []byte(reloadBefore), 0o644))
	must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte("monitor_interval 500ms\nstart_timeout 5s\nstop_timeout 5s\n"), 0o644))
	n.Start(t)
	d := x.dirs[0]
	if !waitFor(15*time.Second, func() bool { return holds(d, "198.18.1.11:7") && holds(d, "198.18.1.11:80") }) {
		t.Fatalf("the group never started:\n%s", n.Proc.Output())
	}
	held := holdConn(t, x, lvsVIP+":7")

	must(t, os.WriteFile(cf, []byte(reloadAfter), 0o644))
	must(t, n.Proc.Signal(syscall.SIGHUP))
	if !waitFor(5*time.Second, func() bool { return holds(d, "198.18.1.12:80") && !holds(d, "198.18.1.11:80") }) {
		t.Fatalf("the daemon's SIGHUP did not change the real server:\n%s", n.Proc.Output())
	}
	if err := held.echo("after the daemon's reload"); err != nil {
		t.Errorf("the connection through the unchanged service broke: %v", err)
	}
	if got := x.fetch(t, 3); len(got) != 1 || got[0] != "rs2" {
		t.Errorf("after the reload: answers %v, want rs2", got)
	}

	must(t, os.WriteFile(cf, []byte(reloadBroken), 0o644))
	must(t, n.Proc.Signal(syscall.SIGHUP))
	where := fmt.Sprintf("%s:%d: forward method must be gate, masq or ipip", cf, reloadBrokenLine)
	if !waitFor(5*time.Second, func() bool {
		return strings.Contains(n.Proc.Output(), where) && strings.Contains(n.Proc.Output(), "NOT reloaded")
	}) {
		t.Errorf("the refused reload is not logged with FILE:LINE:\n%s", n.Proc.Output())
	}
	if !holds(d, "198.18.1.12:80") {
		t.Errorf("a broken file changed the table:\n%s", n.Proc.Output())
	}
	if err := held.echo("after a refused reload"); err != nil {
		t.Errorf("the held connection broke at a refused reload: %v", err)
	}

	// lubdub ldirectord FILE reload reaches the resource in the daemon
	// (no standalone one has a pid file): back to rs1.
	must(t, os.WriteFile(cf, []byte(reloadBefore), 0o644))
	runIn(t, d, e2ekit.CLI, "ldirectord", "--pid-dir", x.l.Dir, "--socket", n.Sock, cf, "reload")
	if !waitFor(5*time.Second, func() bool { return holds(d, "198.18.1.11:80") && !holds(d, "198.18.1.12:80") }) {
		t.Fatalf("ldirectord reload did not reach the daemon's resource:\n%s", n.Proc.Output())
	}
	if err := held.echo("after ldirectord reload"); err != nil {
		t.Errorf("the held connection broke at ldirectord reload: %v", err)
	}
}
