package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"

	"github.com/lubdub/lubdub/e2e/e2ekit"
)

// conntrackdConf is a director's conntrackd.conf: FTFW over UDP on the
// real servers' segment to the other director, TCP only, nothing of the
// directors' own connections (health checks, heartbeats); its files in
// the director's configuration directory DIR.
const conntrackdConf = `Sync {
	Mode FTFW {
	}
	UDP {
		IPv4_address 198.18.1.%d
		IPv4_Destination_Address 198.18.1.%d
		Port 3780
		Interface eth1
		Checksum on
	}
}
General {
	HashSize 8192
	HashLimit 65535
	LogFile DIR/conntrackd.log
	Syslog off
	LockFile DIR/conntrackd.lock
	UNIX {
		Path DIR/conntrackd.Sock
	}
	Filter From Userspace {
		Protocol Accept {
			TCP
		}
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv4_address 198.18.0.1
			IPv4_address 198.18.0.2
			IPv4_address 198.18.1.1
			IPv4_address 198.18.1.2
		}
	}
}
`

// echoCf balances port 7 (lubdub serve --echo on the real servers) round
// robin on the nftables data path.
const echoCf = `checkinterval=1
checktimeout=1
quiescent=no
virtual=198.18.0.10:7
	real=198.18.1.11:7 masq
	real=198.18.1.12:7 masq
	scheduler=rr
	protocol=tcp
	checktype=connect
`

// On the nftables data path, conntrackd carries a balanced session over a
// director's crash: two lubdub directors with ldirectord and conntrackd
// in the group (addresses last), a lubdub probe --echo session through
// the VIP. The standby's conntrackd holds the session's entry (NAT to its
// real server, lubdub's mark) before dir1 is killed and cut; dir2 commits
// it as it takes over, and the session goes on with the same real server
// and no line lost. The session is on rs2, so that it could not survive
// by chance: without the entry, dir2's nftables would take the session's
// next packet as a new connection (conntrack picks up mid-stream TCP) and
// send it to the first server of its round robin, rs1, which resets it.
// Then the control: dir1 returns as the standby, its conntrackd is killed,
// and a second session, also on rs2, is reset at dir2's crash.
func TestConntrackdSessionSurvivesCrash(t *testing.T) {
	if _, err := exec.LookPath("conntrackd"); err != nil {
		t.Skip("conntrackd is not installed (apt-get install conntrackd)")
	}
	x := newLVSLab(t, 2)
	for _, r := range x.reals {
		_, err := r.Start(r.Name+"-echo.log", e2ekit.Bin, "serve", "--echo", "--listen", ":7", r.Name)
		must(t, err)
	}
	hacf := fastTimings + "bcast eth0 eth1\nauto_failback off\nnode dir1 dir2\n"
	nodes := map[string]*node{}
	confs := map[string]string{}
	for i, name := range []string{"dir1", "dir2"} {
		n := setupNode(t, x.l, x.dirs[i], name, hacf, sha256Keys)
		conf := strings.ReplaceAll(fmt.Sprintf(conntrackdConf, i+1, 2-i), "DIR", n.Dir)
		must(t, os.WriteFile(filepath.Join(n.Dir, "conntrackd.conf"), []byte(conf), 0o644))
		must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"),
			[]byte("dir1 ldirectord::ldirectord.cf conntrackd::conntrackd.conf IPaddr2::"+lvsVIP+"/24/eth0 IPaddr2::"+lvsGW+"/24/eth1\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(n.Dir, "ldirectord.cf"), []byte(echoCf), 0o644))
		must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte("monitor_interval 500ms\nstart_timeout 5s\nstop_timeout 5s\n"), 0o644))
		confs[name] = filepath.Join(n.Dir, "conntrackd.conf")
		nodes[name] = n
	}
	for _, name := range []string{"dir1", "dir2"} {
		nodes[name].Start(t)
	}
	conntrackd := func(h *lab.Host, args ...string) (string, int) {
		out, errOut, code := h.Output(5*time.Second, "conntrackd", append([]string{"-C", confs[h.Name]}, args...)...)
		return out + errOut, code
	}
	if !waitFor(15*time.Second, func() bool { return listed(x.dirs[0], "198.18.1.12") }) {
		t.Fatal("dir1 did not put the virtual service in")
	}
	for _, d := range x.dirs {
		if out, code := conntrackd(d, "-s"); code != 0 {
			t.Fatalf("conntrackd does not run on %s: %s", d.Name, out)
		}
	}
	// session opens a throwaway connection (to rs1, the first of the
	// round robin), then the session itself (to rs2).
	session := func(log string) *lab.Proc {
		t.Helper()
		x.client.Output(5*time.Second, e2ekit.CLI, "probe", "--echo", "--duration", "300ms", lvsVIP+":7")
		p, err := x.client.Start(log, e2ekit.Bin, "probe", "--echo", "--interval", "20ms", "--timeout", "200ms", lvsVIP+":7")
		must(t, err)
		if !waitFor(5*time.Second, func() bool { return len(probe.Answers(p.Output())) > 0 }) {
			t.Fatalf("the session does not flow:\n%s", p.Output())
		}
		if a := probe.Answers(p.Output()); a[0] != "rs2" {
			t.Fatalf("the session went to %s, not rs2 behind a first connection to rs1", a[0])
		}
		return p
	}
	p := session("session.log")
	// dir1's conntrackd knows the session's entry, NATed to rs2 with
	// lubdub's mark for rs2 (its internal cache); dir2's must hold the
	// same connection with the same mark (its external cache, which lists
	// the original direction only).
	var local, cached string
	mine := regexp.MustCompile(`ESTABLISHED (src=198\.18\.0\.100 dst=198\.18\.0\.10 sport=\d+ dport=7) src=198\.18\.1\.12 dst=198\.18\.0\.100 sport=7 dport=\d+ \[ASSURED\] (mark=\d+)`)
	if !waitFor(5*time.Second, func() bool {
		local, _ = conntrackd(x.dirs[0], "-i")
		return mine.MatchString(local)
	}) {
		t.Fatalf("dir1's conntrackd does not have the session:\n%s", local)
	}
	m := mine.FindStringSubmatch(local)
	if m[2] == "mark=0" {
		t.Errorf("the session's entry lacks lubdub's mark:\n%s", local)
	}
	if !waitFor(5*time.Second, func() bool {
		cached, _ = conntrackd(x.dirs[1], "-e")
		return strings.Contains(cached, "ESTABLISHED "+m[1]+" [ASSURED] "+m[2]+" ")
	}) {
		internal, _ := conntrackd(x.dirs[0], "-i")
		kernel, _, _ := x.dirs[0].Output(5*time.Second, "conntrack", "-L")
		t.Fatalf("dir2's conntrackd did not get the session:\n%s\ndir1's internal cache:\n%s\ndir1's kernel:\n%s", cached, internal, kernel)
	}

	// dir1 crashes: its links go and its daemon is killed.
	crashed := len(p.Output())
	must(t, x.dirs[0].Cut("eth0"))
	must(t, x.dirs[0].Cut("eth1"))
	must(t, nodes["dir1"].Proc.Signal(syscall.SIGKILL))
	nodes["dir1"].Proc.Wait(5 * time.Second)
	if !waitFor(10*time.Second, func() bool { return len(probe.Outages(p.Output()[crashed:])) > 0 }) {
		t.Fatalf("the session did not go on after the takeover:\n%s", p.Output())
	}
	time.Sleep(500 * time.Millisecond)
	out := p.Output()
	if strings.Contains(out, "fail EOF") || strings.Contains(out, "fail connection") || !p.Running() {
		t.Fatalf("the session broke:\n%s", out)
	}
	for _, a := range probe.Answers(out) {
		if a != "rs2" {
			t.Fatalf("the session moved to %s:\n%s", a, out)
		}
	}
	o := probe.Outages(out[crashed:])
	t.Logf("the session stalled %.2fs across the crash (deadtime 400ms)", o[0].Seconds())
	if o[0] > 5*time.Second {
		t.Errorf("stall of %s", o[0])
	}
	must(t, p.Signal(syscall.SIGTERM))
	p.Wait(5 * time.Second)

	// dir1 returns: the killed daemon left it the primary; the new one
	// makes it a backup before joining, dir2 keeps the group.
	must(t, x.dirs[0].Heal("eth0"))
	must(t, x.dirs[0].Heal("eth1"))
	nodes["dir1"].Start(t)
	if !waitFor(10*time.Second, func() bool { v, ok := nodes["dir2"].View("dir1"); return ok && v.Status == "active" }) {
		t.Fatal("dir1 did not rejoin")
	}
	if listed(x.dirs[0], "198.18.1.12") {
		t.Fatal("the returning dir1 runs the virtual services")
	}
	// The control: without dir1's conntrackd, a session dies at dir2's
	// crash.
	if out, code := conntrackd(x.dirs[0], "-k"); code != 0 {
		t.Fatalf("conntrackd -k on dir1: %s", out)
	}
	p2 := session("session2.log")
	time.Sleep(time.Second) // what the sync would take
	crashed = len(p2.Output())
	must(t, x.dirs[1].Cut("eth0"))
	must(t, x.dirs[1].Cut("eth1"))
	must(t, nodes["dir2"].Proc.Signal(syscall.SIGKILL))
	nodes["dir2"].Proc.Wait(5 * time.Second)
	if exited, _ := p2.Wait(15 * time.Second); !exited || !strings.Contains(p2.Output()[crashed:], "fail connection reset") {
		t.Errorf("without conntrackd, the session across the crash: %v\n%s", exited, p2.Output())
	}
}
