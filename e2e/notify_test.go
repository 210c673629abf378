package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lubdub/lubdub/e2e/e2ekit"
)

// sdMessage is one datagram a fake systemd received: when, from which
// process (SCM_CREDENTIALS, as systemd checks NotifyAccess=main), what.
type sdMessage struct {
	at   time.Time
	pid  int
	text string
}

func (m sdMessage) String() string { return fmt.Sprintf("%s (pid %d)", m.text, m.pid) }

// fakeSystemd is a NOTIFY_SOCKET: the datagram socket systemd gives a
// Type=notify service, read as systemd reads it.
type fakeSystemd struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []sdMessage
	done chan struct{}
}

func newFakeSystemd(t *testing.T, dir string) *fakeSystemd {
	t.Helper()
	f := &fakeSystemd{path: filepath.Join(dir, "notify.sock"), done: make(chan struct{})}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: f.path, Net: "unixgram"})
	must(t, err)
	f.conn = c
	raw, err := c.SyscallConn()
	must(t, err)
	var serr error
	must(t, raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) }))
	must(t, serr)
	go func() {
		defer close(f.done)
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			m := sdMessage{at: time.Now(), text: string(buf[:n])}
			if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cms) > 0 {
				if cred, err := unix.ParseUnixCredentials(&cms[0]); err == nil {
					m.pid = int(cred.Pid)
				}
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, m)
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-f.done })
	return f
}

func (f *fakeSystemd) messages() []sdMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

// states are the messages other than keep-alives, from index from on.
func (f *fakeSystemd) states(from int) []sdMessage {
	var out []sdMessage
	for _, m := range f.messages()[from:] {
		if m.text != "WATCHDOG=1" {
			out = append(out, m)
		}
	}
	return out
}

// waitState waits for a state message (after index from) containing want;
// it returns the message and the index after it.
func (f *fakeSystemd) waitState(timeout time.Duration, from int, want string) (sdMessage, int, bool) {
	var found sdMessage
	next := from
	ok := waitFor(timeout, func() bool {
		for i, m := range f.messages()[from:] {
			if m.text != "WATCHDOG=1" && strings.Contains(m.text, want) {
				found, next = m, from+i+1
				return true
			}
		}
		return false
	})
	return found, next, ok
}

// lubdub run as systemd starts a Type=notify unit with WatchdogSec=2s: the
// readiness and reload messages arrive in order on NOTIFY_SOCKET, from the
// daemon's own pid, READY=1 only once the node has joined (initdead, its
// peer absent), STATUS= naming the group it holds once it holds it; the
// keep-alives never leave a gap of WatchdogSec. Meanwhile the bash
// completion names the daemon's groups, nodes and links.
func TestSystemdNotify(t *testing.T) {
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	sd := newFakeSystemd(t, l.Dir)
	const group = "IPaddr2::198.18.0.10/24/eth0"
	hacf := fastTimings + "bcast eth0\nnode node1 node2\n"
	var nodes [2]*node
	for i, name := range []string{"node1", "node2"} {
		nodes[i] = setupNode(t, l, addHost(t, l, name, i+1, "br0"), name, hacf, sha256Keys)
		must(t, os.WriteFile(filepath.Join(nodes[i].Dir, "haresources"), []byte("node1 "+group+"\n"), 0o644))
	}
	n1, n2 := nodes[0], nodes[1]
	started := time.Now()
	p, err := n1.Host.Start("node1.log", "sh", "-c",
		`export WATCHDOG_PID=$$ NOTIFY_SOCKET="$1" WATCHDOG_USEC=2000000; shift; exec "$@"`, "sh", sd.path,
		e2ekit.Bin, "run", "-c", n1.Dir, "--node", "node1", "--state-dir", n1.State, "--socket", n1.Sock)
	must(t, err)
	n1.Proc = p

	ready, next, ok := sd.waitState(15*time.Second, 0, "READY=1")
	if !ok {
		t.Fatalf("no READY=1; received %q", sd.messages())
	}
	if first := sd.states(0)[0].text; first != "STATUS=joining the cluster: waiting to hear every node (initdead 3s)\nEXTEND_TIMEOUT_USEC=33000000" {
		t.Errorf("first message %q, want the joining status and the start extended by initdead", first)
	}
	if took := ready.at.Sub(started); took < 3*time.Second {
		t.Errorf("READY=1 %s after the start, before initdead (3s) with node2 not heard", took.Round(time.Millisecond))
	}
	if ready.text != "READY=1\nSTATUS=active, holding no group" {
		t.Errorf("ready: %q", ready.text)
	}
	if v, ok := n1.View("node2"); !ok || v.Status != "dead" {
		t.Errorf("node1 ready, but it sees node2 as %+v", v)
	}
	t.Logf("READY=1 %s after the start (initdead 3s)", ready.at.Sub(started).Round(time.Millisecond))

	n2.Start(t)
	if _, next, ok = sd.waitState(15*time.Second, next, "STATUS=active, holding "+group); !ok {
		t.Fatalf("STATUS never named the group; states %q", sd.states(0))
	}
	out, _, _ := n1.Host.Output(5*time.Second, "ip", "-o", "addr", "show", "dev", "eth0")
	if !strings.Contains(out, "198.18.0.10/24") {
		t.Errorf("STATUS says node1 holds %s, but eth0 has %q", group, out)
	}

	t.Run("completion from the daemon", func(t *testing.T) {
		script := filepath.Join(l.Dir, "lubdub.bash")
		out, err := exec.Command(e2ekit.CLI, "completion", "bash").Output()
		must(t, err)
		must(t, os.WriteFile(script, out, 0o644))
		complete := func(line string) []string {
			prog := `source "$1" && COMP_LINE=$2 COMP_POINT=${#2} && _lubdub && printf '%s\n' "${COMPREPLY[@]}"`
			cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog, "bash", script, line)
			cmd.Env = []string{"PATH=" + filepath.Dir(e2ekit.CLI) + ":/usr/bin:/bin", "LUBDUB_SOCKET=" + n1.Sock}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("completing %q: %v: %s", line, err, out)
			}
			return strings.Fields(string(out))
		}
		for _, c := range []struct {
			line string
			want []string
		}{
			{"lubdub cleanup ", []string{group, "all"}},
			{"lubdub cleanup --socket " + n1.Sock + " IPaddr2::198", []string{"198.18.0.10/24/eth0"}},
			{"cl_status nodestatus ", []string{"node1", "node2"}},
			{"cl_status hblinkstatus node2 ", []string{"eth0"}},
			{"meatclient -c node", []string{"node1", "node2"}},
		} {
			if got := complete(c.line); !slices.Equal(got, c.want) {
				t.Errorf("%q completes to %q, want %q", c.line, got, c.want)
			}
		}
	})

	must(t, p.Signal(syscall.SIGHUP))
	reloading, next, ok := sd.waitState(10*time.Second, next, "RELOADING=1")
	if !ok {
		t.Fatalf("no RELOADING=1 after SIGHUP; states %q", sd.states(0))
	}
	after := sd.states(next - 1)
	if !strings.HasPrefix(reloading.text, "RELOADING=1\nMONOTONIC_USEC=") || !waitFor(5*time.Second, func() bool { after = sd.states(next - 1); return len(after) >= 2 }) ||
		after[1].text != "READY=1\nSTATUS=active, holding "+group {
		t.Fatalf("around SIGHUP: %q", after)
	}
	next += len(after) - 1

	must(t, os.WriteFile(filepath.Join(n1.Dir, "ha.cf"), []byte("node node1\nkeepalive 5\ndeadtime 6\nbcast eth0\n"), 0o644))
	must(t, p.Signal(syscall.SIGHUP))
	if _, next, ok = sd.waitState(10*time.Second, next, "READY=1\nSTATUS=configuration NOT reloaded (errors in the log), the old one in force; active, holding "+group); !ok {
		t.Fatalf("a refused reload not said; states %q", sd.states(0))
	}

	must(t, p.Signal(syscall.SIGTERM))
	stopping, _, ok := sd.waitState(10*time.Second, next, "STOPPING=1\nSTATUS=leaving the cluster")
	if !ok {
		t.Fatalf("no STOPPING=1 after SIGTERM; states %q", sd.states(0))
	}
	if exited, _ := p.Wait(30 * time.Second); !exited {
		t.Fatal("node1 did not stop")
	}

	all := sd.messages()
	var order []string
	var keepAlives []time.Time
	for _, m := range all {
		if m.pid != p.Pid() {
			t.Errorf("%q came from pid %d, not the daemon's %d", m.text, m.pid, p.Pid())
		}
		if m.text == "WATCHDOG=1" {
			keepAlives = append(keepAlives, m.at)
			continue
		}
		if first := strings.SplitN(m.text, "\n", 2)[0]; !strings.HasPrefix(first, "STATUS=") {
			order = append(order, first)
		}
	}
	if want := []string{"READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1", "STOPPING=1"}; !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
	// systemd's watchdog runs while the service runs: until STOPPING=1.
	gaps := append(keepAlives, stopping.at)
	var worst time.Duration
	for i := 1; i < len(gaps); i++ {
		worst = max(worst, gaps[i].Sub(gaps[i-1]))
	}
	if len(keepAlives) < 4 || worst >= 2*time.Second {
		t.Errorf("%d keep-alives, longest gap %s: systemd (WatchdogSec=2s) would have killed the daemon", len(keepAlives), worst)
	}
	var at []string
	for _, k := range keepAlives {
		at = append(at, k.Sub(started).Round(time.Millisecond).String())
	}
	t.Logf("%d messages, %d keep-alives (at %s after the start), longest gap %s", len(all), len(keepAlives), strings.Join(at, " "), worst.Round(time.Millisecond))
}
