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
	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"
)

// lvsLab is the seed's LVS-NAT setup: a client on the public segment, one
// or two directors on both segments, and real servers on the private
// segment whose default route is the directors' inside gateway address.
type lvsLab struct {
	l       *lab.Lab
	client  *lab.Host
	dirs    []*lab.Host
	reals   []*lab.Host
	servers []*lab.Proc
}

const (
	lvsVIP = "198.18.0.10"
	lvsGW  = "198.18.1.254" // the real servers' gateway; moves with the VIP
)

func newLVSLab(t *testing.T, directors int) *lvsLab {
	t.Helper()
	x := &lvsLab{l: newLab(t)}
	must(t, x.l.Segment("pub", 0))
	must(t, x.l.Segment("priv", 1))
	x.client = addHost(t, x.l, "client", 100, "pub")
	for i := range directors {
		d := addHost(t, x.l, fmt.Sprintf("dir%d", i+1), i+1, "pub", "priv")
		must(t, d.Sysctl("net.ipv4.ip_forward", "1"))
		x.dirs = append(x.dirs, d)
	}
	for i := range 2 {
		r := addHost(t, x.l, fmt.Sprintf("rs%d", i+1), 11+i, "priv")
		runIn(t, r, "ip", "route", "add", "default", "via", lvsGW)
		x.reals = append(x.reals, r)
		x.servers = append(x.servers, nil)
		x.startServer(t, i)
	}
	return x
}

// startServer runs real server i's web server, answering with its name.
func (x *lvsLab) startServer(t *testing.T, i int) {
	t.Helper()
	r := x.reals[i]
	p, err := r.Start(r.Name+"-http.log", e2ekit.Bin, "serve", "--listen", ":80", r.Name)
	must(t, err)
	x.servers[i] = p
	if !waitFor(5*time.Second, func() bool {
		_, _, code := r.Output(2*time.Second, e2ekit.CLI, "probe", "--until-ok", "--duration", "1s", "http://"+r.Addr["eth0"]+"/")
		return code == 0
	}) {
		t.Fatalf("%s's web server did not come up", r.Name)
	}
}

// fetch asks the VIP n times from the client, a new connection each time,
// and returns who answered, in order (consecutive equal answers once).
func (x *lvsLab) fetch(t *testing.T, n int) []string {
	t.Helper()
	out, _, _ := x.client.Output(time.Duration(n)*time.Second+5*time.Second, e2ekit.CLI, "probe", "--count", fmt.Sprint(n),
		"--interval", "10ms", "--timeout", "1s", "http://"+lvsVIP+"/")
	return probe.Answers(out)
}

func alternates(answers []string, n int, a, b string) bool {
	if len(answers) != n {
		return false
	}
	for i := 1; i < n; i++ {
		if answers[i] == answers[i-1] || (answers[i] != a && answers[i] != b) {
			return false
		}
	}
	return true
}

// The seed's three ipvsadm lines, typed into lubdub lvs on a kernel
// without IPVS: round robin alternates, -L -n shows the seed's table, and
// the table lives in the kernel (no daemon runs).
func TestLVSSeedRoundRobin(t *testing.T) {
	x := newLVSLab(t, 1)
	d := x.dirs[0]
	runIn(t, d, "ip", "addr", "add", lvsVIP+"/24", "brd", "+", "dev", "eth0")
	runIn(t, d, "ip", "addr", "add", lvsGW+"/24", "brd", "+", "dev", "eth1")
	ipvsadm := filepath.Join(x.l.Dir, "ipvsadm")
	must(t, os.Symlink(e2ekit.CLI, ipvsadm))
	runIn(t, d, ipvsadm, "-A", "-t", lvsVIP+":80", "-s", "rr")
	runIn(t, d, ipvsadm, "-a", "-t", lvsVIP+":80", "-r", "198.18.1.11:80", "-m")
	runIn(t, d, ipvsadm, "-a", "-t", lvsVIP+":80", "-r", "198.18.1.12:80", "-m")

	if got := x.fetch(t, 10); !alternates(got, 10, "rs1", "rs2") {
		t.Errorf("round robin: answers %v, want rs1 and rs2 alternating 10 times", got)
	}
	list := runIn(t, d, ipvsadm, "-L", "-n")
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  198.18.0.10:80 rr\n" +
		"  -> 198.18.1.11:80               Masq    1      0          5         \n" +
		"  -> 198.18.1.12:80               Masq    1      0          5         \n"
	if list != want {
		t.Errorf("-L -n:\n%s\nwant\n%s", list, want)
	}
	stats := runIn(t, d, ipvsadm, "-L", "-n", "--stats")
	if f := strings.Fields(strings.Split(stats, "\n")[3]); len(f) < 4 || f[2] != "10" || f[3] == "0" {
		t.Errorf("--stats does not count 10 connections:\n%s", stats)
	}
	runIn(t, d, ipvsadm, "-Z")
	if f := strings.Fields(strings.Split(runIn(t, d, ipvsadm, "-L", "-n", "--stats"), "\n")[3]); len(f) < 4 || f[2] != "0" {
		t.Errorf("-Z left counters: %v", f)
	}
	if rate := runIn(t, d, ipvsadm, "-L", "-n", "--rate"); !strings.Contains(rate, "CPS    InPPS   OutPPS    InBPS   OutBPS") ||
		!strings.Contains(rate, "TCP  198.18.0.10:80") {
		t.Errorf("--rate:\n%s", rate)
	}
	conns := runIn(t, d, ipvsadm, "-L", "-n", "-c")
	if !strings.HasPrefix(conns, "IPVS connection entries\npro expire state       source             virtual            destination\n") ||
		!strings.Contains(conns, "198.18.0.100:") || !strings.Contains(conns, "198.18.0.10:80") || !strings.Contains(conns, "198.18.1.12:80") {
		t.Errorf("-L -c:\n%s", conns)
	}
	if save := runIn(t, d, e2ekit.CLI, "lvs", "-S", "-n"); save != "-A -t 198.18.0.10:80 -s rr\n"+
		"-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1\n-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1\n" {
		t.Errorf("-S:\n%s", save)
	}
	// Field cases 4 and 5 of issue 12: plain ipvsadm lists the table with
	// names (exit 0), and what plain -S writes (service names), -R reads.
	if list := runIn(t, d, ipvsadm); !strings.Contains(list, "TCP  198.18.0.10:http rr\n") || !strings.Contains(list, "  -> 198.18.1.11:http ") {
		t.Errorf("ipvsadm with no arguments:\n%s", list)
	}
	saved := runIn(t, d, ipvsadm, "-S")
	if !strings.HasPrefix(saved, "-A -t 198.18.0.10:http -s rr\n-a -t 198.18.0.10:http -r 198.18.1.11:http -m -w 1\n") {
		t.Errorf("-S without -n:\n%s", saved)
	}
	numeric := runIn(t, d, ipvsadm, "-S", "-n")
	runIn(t, d, ipvsadm, "-C")
	restore := d.Command(ipvsadm, "-R")
	restore.Stdin = strings.NewReader(saved)
	if out, err := restore.CombinedOutput(); err != nil {
		t.Errorf("ipvsadm -R of plain -S output: %v %s", err, out)
	}
	if again := runIn(t, d, ipvsadm, "-S", "-n"); again != numeric {
		t.Errorf("-S, -C, -R gave\n%s\nwant\n%s", again, numeric)
	}
	if v := runIn(t, d, ipvsadm, "--version"); !strings.HasPrefix(v, "ipvsadm v1.31 ") {
		t.Errorf("--version: %q", v)
	}

	// A client on the real servers' own segment is masqueraded, or the
	// real server would answer it directly and the answer be dropped.
	inside := addHost(t, x.l, "inside", 50, "priv")
	runIn(t, inside, "ip", "route", "add", "default", "via", lvsGW)
	out, _, _ := inside.Output(10*time.Second, e2ekit.CLI, "probe", "--count", "4", "--interval", "10ms", "--timeout", "1s", "http://"+lvsVIP+"/")
	if got := probe.Answers(out); !alternates(got, 4, "rs1", "rs2") {
		t.Errorf("client on the real servers' segment: answers %v\n%s", got, out)
	}

	// Persistence: one client sticks to one server.
	runIn(t, d, ipvsadm, "-E", "-t", lvsVIP+":80", "-s", "rr", "-p", "60")
	if got := x.fetch(t, 6); len(got) != 1 {
		t.Errorf("persistent service: answers %v, want one server throughout", got)
	}
	runIn(t, d, ipvsadm, "-E", "-t", lvsVIP+":80", "-s", "rr")

	// Weight 0 takes a server out of rotation.
	runIn(t, d, ipvsadm, "-e", "-t", lvsVIP+":80", "-r", "198.18.1.12:80", "-m", "-w", "0")
	if got := x.fetch(t, 4); len(got) != 1 || got[0] != "rs1" {
		t.Errorf("with rs2 at weight 0: answers %v, want only rs1", got)
	}

	// Bad input: ipvsadm's messages and exit codes (255 for its kernel
	// refusals, 2 for a bad command line).
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-A", "-t", lvsVIP + ":80", "-s", "rr"}, 255, "Service already exists"},
		{[]string{"-A", "-t", lvsVIP + ":81"}, 1, "give -s rr, wrr, sh or dh"},
		{[]string{"-a", "-t", lvsVIP + ":80", "-r", "198.18.1.13"}, 1, "forwarding method Route"},
		{[]string{"-a", "-t", lvsVIP + ":82", "-r", "198.18.1.13", "-m"}, 255, "Service not defined"},
		{[]string{"-A", "-t", "nonsense"}, 2, "illegal virtual server"},
	} {
		_, errOut, code := d.Output(10*time.Second, ipvsadm, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("ipvsadm %s: exit %d, %q; want exit %d and %q", strings.Join(c.args, " "), code, errOut, c.code, c.msg)
		}
	}
	runIn(t, d, ipvsadm, "-C")
	if list := runIn(t, d, ipvsadm, "-L", "-n"); strings.Contains(list, "TCP") {
		t.Errorf("after -C:\n%s", list)
	}
}

const ldirectordCf = `# the seed's director, checked (ldirectord.cf format)
checkinterval=1
checktimeout=1
quiescent=no
fallback=198.18.1.1:8080 masq

virtual=198.18.0.10:80
	real=198.18.1.11:80 masq
	real=198.18.1.12:80 masq
	service=http
	scheduler=rr
	protocol=tcp
	checktype=negotiate
	request="/"
	receive="rs[0-9]"
`

// listed reports whether lubdub lvs -L -n on h lists the real server.
func listed(h *lab.Host, real string) bool {
	out, _, _ := h.Output(5*time.Second, e2ekit.CLI, "lvs", "-L", "-n")
	return strings.Contains(out, "-> "+real+":")
}

// A killed real server leaves the table within checkinterval +
// checktimeout and returns when it comes back; with none left the
// fallback serves; SIGTERM takes the services out.
func TestLdirectordHealthChecks(t *testing.T) {
	x := newLVSLab(t, 1)
	d := x.dirs[0]
	runIn(t, d, "ip", "addr", "add", lvsVIP+"/24", "brd", "+", "dev", "eth0")
	runIn(t, d, "ip", "addr", "add", lvsGW+"/24", "brd", "+", "dev", "eth1")
	_, err := d.Start("sorry.log", e2ekit.Bin, "serve", "--listen", "198.18.1.1:8080", "sorry")
	must(t, err)
	cf := filepath.Join(x.l.Dir, "ldirectord.cf")
	must(t, os.WriteFile(cf, []byte(ldirectordCf), 0o644))
	ld, err := d.Start("ldirectord.log", e2ekit.Bin, "ldirectord", cf)
	must(t, err)
	if !waitFor(5*time.Second, func() bool { return listed(d, "198.18.1.11") && listed(d, "198.18.1.12") }) {
		t.Fatalf("the real servers never entered the table:\n%s", ld.Output())
	}
	if got := x.fetch(t, 6); !alternates(got, 6, "rs1", "rs2") {
		t.Errorf("answers %v, want rs1 and rs2 alternating", got)
	}

	bound := 2 * time.Second // checkinterval + checktimeout
	killed := time.Now()
	must(t, x.servers[0].Signal(syscall.SIGKILL))
	x.servers[0].Wait(5 * time.Second)
	if !waitFor(bound, func() bool { return !listed(d, "198.18.1.11") }) {
		t.Fatalf("rs1 still listed %s after it died:\n%s", bound, ld.Output())
	}
	t.Logf("rs1 left the table %.2fs after it died", time.Since(killed).Seconds())
	if got := x.fetch(t, 6); len(got) != 1 || got[0] != "rs2" {
		t.Errorf("with rs1 dead: answers %v, want only rs2", got)
	}

	x.startServer(t, 0)
	back := time.Now()
	if !waitFor(bound, func() bool { return listed(d, "198.18.1.11") }) {
		t.Fatalf("rs1 not back %s after it returned:\n%s", bound, ld.Output())
	}
	t.Logf("rs1 back in the table %.2fs after it returned", time.Since(back).Seconds())
	if got := x.fetch(t, 6); !alternates(got, 6, "rs1", "rs2") {
		t.Errorf("rs1 back: answers %v, want rs1 and rs2 alternating", got)
	}

	for _, s := range x.servers {
		must(t, s.Signal(syscall.SIGKILL))
		s.Wait(5 * time.Second)
	}
	if !waitFor(bound, func() bool { return listed(d, "198.18.1.1") && !listed(d, "198.18.1.11") && !listed(d, "198.18.1.12") }) {
		t.Fatalf("the fallback did not replace the dead servers:\n%s", ld.Output())
	}
	if list := runIn(t, d, e2ekit.CLI, "lvs", "-L", "-n"); !strings.Contains(list, "  -> 198.18.1.1:8080              Local   1 ") {
		t.Errorf("the fallback on the director itself should list as Local:\n%s", list)
	}
	if got := x.fetch(t, 3); len(got) != 1 || got[0] != "sorry" {
		t.Errorf("with every real server dead: answers %v, want the fallback's", got)
	}
	for _, want := range []string{"Deleted real server: 198.18.1.11:80", "Added real server: 198.18.1.11:80", "Added real server: 198.18.1.1:8080"} {
		if !strings.Contains(ld.Output(), want) {
			t.Errorf("the log lacks %q:\n%s", want, ld.Output())
		}
	}

	must(t, ld.Signal(syscall.SIGTERM))
	if exited, _ := ld.Wait(5 * time.Second); !exited {
		t.Fatal("ldirectord did not exit on SIGTERM")
	}
	if list := runIn(t, d, e2ekit.CLI, "lvs", "-L", "-n"); strings.Contains(list, "TCP") {
		t.Errorf("services left after SIGTERM:\n%s", list)
	}
}

// Two directors in a lubdub cluster share the VIP, the real servers'
// gateway and the virtual services (ldirectord::ldirectord.cf in
// haresources): when the active one dies, the other takes all three and
// the client is served again.
func TestDirectorFailover(t *testing.T) {
	x := newLVSLab(t, 2)
	hacf := fastTimings + "bcast eth0 eth1\nauto_failback on\nnode dir1 dir2\n"
	cf := strings.ReplaceAll(ldirectordCf, "fallback=198.18.1.1:8080 masq\n", "")
	nodes := map[string]*node{}
	for i, name := range []string{"dir1", "dir2"} {
		n := setupNode(t, x.l, x.dirs[i], name, hacf, sha256Keys)
		must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"),
			[]byte("dir1 IPaddr2::"+lvsVIP+"/24/eth0 IPaddr2::"+lvsGW+"/24/eth1 ldirectord::ldirectord.cf\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(n.Dir, "ldirectord.cf"), []byte(cf), 0o644))
		must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte("monitor_interval 500ms\nstart_timeout 5s\nstop_timeout 5s\n"), 0o644))
		n.Start(t)
		nodes[name] = n
	}
	p, err := x.client.Start("probe.log", e2ekit.Bin, "probe", "--interval", "20ms", "--timeout", "300ms", "http://"+lvsVIP+"/")
	must(t, err)
	// servedBoth waits for the probe to print, after offset, four answers
	// in a row alternating between the real servers.
	servedBoth := func(offset int, timeout time.Duration) bool {
		return waitFor(timeout, func() bool {
			a := probe.Answers(p.Output()[offset:])
			return len(a) >= 4 && alternates(a[len(a)-4:], 4, "rs1", "rs2")
		})
	}
	if !servedBoth(0, 15*time.Second) {
		t.Fatalf("the client is not balanced over rs1 and rs2:\n%s", p.Output())
	}
	if !listed(x.dirs[0], "198.18.1.11") || listed(x.dirs[1], "198.18.1.11") {
		t.Fatalf("dir1 should hold the virtual services, dir2 not")
	}

	// dir1 dies: its links go and its daemon is killed.
	crashed := len(p.Output())
	must(t, x.dirs[0].Cut("eth0"))
	must(t, x.dirs[0].Cut("eth1"))
	must(t, nodes["dir1"].Proc.Signal(syscall.SIGKILL))
	nodes["dir1"].Proc.Wait(5 * time.Second)
	if !waitFor(10*time.Second, func() bool { return listed(x.dirs[1], "198.18.1.11") && listed(x.dirs[1], "198.18.1.12") }) {
		t.Fatalf("dir2 did not take the virtual services over")
	}
	if !servedBoth(crashed, 10*time.Second) {
		t.Fatalf("the client is not balanced again after the takeover:\n%s", p.Output())
	}
	if o := probe.Outages(p.Output()[crashed:]); len(o) > 0 {
		t.Logf("client-visible outage at the takeover: %.2fs", o[len(o)-1].Seconds())
	}
	list := runIn(t, x.dirs[1], e2ekit.CLI, "lvs", "-L", "-n")
	if !strings.Contains(list, "TCP  198.18.0.10:80 rr") {
		t.Errorf("dir2's table:\n%s", list)
	}

	// dir1 comes back. The killed daemon left its VIP, gateway and
	// virtual services in dir1's kernel: the new daemon clears them before
	// it joins, then takes the group back (auto_failback on).
	if !listed(x.dirs[0], "198.18.1.11") {
		t.Fatal("the killed dir1 should still hold its stale virtual services")
	}
	nodes["dir1"].Start(t)
	if !waitFor(10*time.Second, func() bool { _, err := nodes["dir1"].Status(); return err == nil }) {
		t.Fatal("dir1's daemon did not come up")
	}
	if listed(x.dirs[0], "198.18.1.11") {
		t.Fatal("the restarted dir1 did not clear the stale virtual services before joining")
	}
	must(t, x.dirs[0].Heal("eth0"))
	must(t, x.dirs[0].Heal("eth1"))
	back := len(p.Output())
	if !waitFor(15*time.Second, func() bool { return listed(x.dirs[0], "198.18.1.11") && !listed(x.dirs[1], "198.18.1.11") }) {
		t.Fatalf("the virtual services did not move back to dir1")
	}
	if !servedBoth(back, 10*time.Second) {
		t.Fatalf("the client is not balanced after the failback:\n%s", p.Output())
	}
}
