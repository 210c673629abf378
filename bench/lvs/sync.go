package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/lab/vm"
	"github.com/lubdub/lubdub/internal/lab/vm/lvsvm"
	"github.com/lubdub/lubdub/internal/probe"
)

// syncPath is one way two directors handle a running session when the
// active one crashes.
type syncPath struct {
	name, timings string
	round         func(round int) (stall time.Duration, kept bool, err error)
}

// runSync measures, for each path, the stall of a running session (lubdub
// probe --echo through the VIP, a line every 20 ms) across the active
// director's crash (its daemon killed, its links cut), from the last
// answer before it to the first after: with connection sync (conntrackd
// on nftables on this kernel; IPVS's sync daemons, swapped by
// LVSSyncDaemonSwap, in a VM with Debian's kernel) and, for comparison,
// without (the session is reset). rounds per path; the median shown.
func runSync(dir, bin string, rounds int) error {
	paths := []syncPath{
		{"nftables + conntrackd (this kernel)", "keepalive 100ms, deadtime 300ms", func(r int) (time.Duration, bool, error) {
			return nftCrash(dir, bin, r, true)
		}},
		{"nftables, no sync (this kernel)", "keepalive 100ms, deadtime 300ms", func(r int) (time.Duration, bool, error) {
			return nftCrash(dir, bin, r, false)
		}},
	}
	im, why := syncImage(dir)
	if im != nil {
		paths = append(paths, syncPath{"IPVS + sync daemons (Debian's 6.1 in QEMU, TCG)", "keepalive 500ms, deadtime 3s", func(int) (time.Duration, bool, error) {
			return ipvsCrash(im)
		}})
	}
	fmt.Printf("\nconnection sync: a session (a line every 20 ms) through the VIP across the active director's crash, %d rounds per path:\n\n", rounds)
	fmt.Printf("| path | timings | sessions kept | stall across the crash, median (min-max) |\n| --- | --- | --- | --- |\n")
	for _, p := range paths {
		var stalls []time.Duration
		kept := 0
		for r := range rounds {
			stall, ok, err := p.round(r)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if ok {
				kept++
				stalls = append(stalls, stall)
			}
		}
		fmt.Printf("| %s | %s | %d of %d | %s |\n", p.name, p.timings, kept, rounds, durations(stalls))
	}
	if im == nil {
		fmt.Printf("\n(IPVS path not measured: %s)\n", why)
	}
	return nil
}

// durations is "median (min-max)" in seconds, or "-" for none.
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "- (reset)"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%.2f s (%.2f-%.2f)", s[len(s)/2].Seconds(), s[0].Seconds(), s[len(s)-1].Seconds())
}

// nftCrash builds the seed's NAT setup with two lubdub directors on
// nftables (ldirectord, conntrackd when sync, then the addresses in the
// group), runs a session on rs2 (behind a first connection to rs1, so that
// without the synced entry the new director's round robin would send it
// to rs1) and crashes dir1.
func nftCrash(dir, bin string, round int, sync bool) (time.Duration, bool, error) {
	ldir := filepath.Join(dir, fmt.Sprintf("sync-%v-%d", sync, round))
	if err := os.MkdirAll(ldir, 0o755); err != nil {
		return 0, false, err
	}
	l, err := lab.New(ldir)
	if err != nil {
		return 0, false, err
	}
	defer l.Close()
	for i, s := range []string{"pub", "priv"} {
		if err := l.Segment(s, i); err != nil {
			return 0, false, err
		}
	}
	client, err := l.AddHost("client", 100, "pub")
	if err != nil {
		return 0, false, err
	}
	for i := range 2 {
		name := fmt.Sprintf("rs%d", i+1)
		h, err := l.AddHost(name, 11+i, "priv")
		if err != nil {
			return 0, false, err
		}
		if err := do(h, "ip", "route", "add", "default", "via", gw); err != nil {
			return 0, false, err
		}
		if _, err := h.Start(name+"-echo.log", bin, "serve", "--echo", "--listen", ":7", name); err != nil {
			return 0, false, err
		}
	}
	group := "ldirectord::ldirectord.cf "
	if sync {
		group += "conntrackd::conntrackd.conf "
	}
	group += "IPaddr2::" + vip + "/24/eth0 IPaddr2::" + gw + "/24/eth1"
	var dirs []*lab.Host
	var daemons []*lab.Proc
	var confs []string
	for i := range 2 {
		name := fmt.Sprintf("dir%d", i+1)
		h, err := l.AddHost(name, i+1, "pub", "priv")
		if err != nil {
			return 0, false, err
		}
		if err := h.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
			return 0, false, err
		}
		cdir := filepath.Join(ldir, name+"-ha.d")
		files := map[string]string{
			"ha.cf":           "keepalive 100ms\ndeadtime 300ms\nwarntime 200ms\ninitdead 3\nbcast eth0 eth1\nauto_failback off\nnode dir1 dir2\n",
			"authkeys":        "auth 1\n1 sha256 lubdub-bench-sync\n",
			"haresources":     "dir1 " + group + "\n",
			"lubdub.cf":       "lvs_datapath nftables\nmonitor_interval 1s\n",
			"ldirectord.cf":   "checkinterval=1\nchecktimeout=1\nquiescent=no\nvirtual=" + vip + ":7\n\treal=198.18.1.11:7 masq\n\treal=198.18.1.12:7 masq\n\tscheduler=rr\n\tprotocol=tcp\n\tchecktype=connect\n",
			"conntrackd.conf": conntrackdConf(fmt.Sprintf("198.18.1.%d", i+1), fmt.Sprintf("198.18.1.%d", 2-i), "eth1", cdir, "198.18.1.1", "198.18.1.2"),
		}
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return 0, false, err
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(cdir, f), []byte(body), 0o600); err != nil {
				return 0, false, err
			}
		}
		p, err := h.Start(name+".log", bin, "run", "-c", cdir, "--node", name,
			"--state-dir", filepath.Join(ldir, name+"-state"), "--socket", filepath.Join(ldir, name+".sock"))
		if err != nil {
			return 0, false, err
		}
		dirs, daemons, confs = append(dirs, h), append(daemons, p), append(confs, filepath.Join(cdir, "conntrackd.conf"))
	}
	if sync {
		// conntrackd outlives the lab's processes (it forks away): stop
		// it through its socket before the namespaces go.
		defer func() {
			for i, h := range dirs {
				h.Output(5*time.Second, "conntrackd", "-C", confs[i], "-k")
			}
		}()
	}
	if !waitUntil(20*time.Second, func() bool {
		out, _, _ := dirs[0].Output(5*time.Second, bin, "lvs", "-L", "-n")
		return strings.Contains(out, "198.18.1.12:7")
	}) {
		return 0, false, errors.New("dir1 did not put the virtual service in")
	}
	client.Output(5*time.Second, bin, "probe", "--echo", "--duration", "300ms", vip+":7")
	p, err := client.Start("session.log", bin, "probe", "--echo", "--interval", "20ms", "--timeout", "100ms", vip+":7")
	if err != nil {
		return 0, false, err
	}
	if !waitUntil(5*time.Second, func() bool { return len(probe.Answers(p.Output())) > 0 }) || probe.Answers(p.Output())[0] != "rs2" {
		return 0, false, fmt.Errorf("the session did not start on rs2:\n%s", p.Output())
	}
	time.Sleep(time.Second) // the sync's time
	crashed := len(p.Output())
	for _, c := range []func() error{func() error { return dirs[0].Cut("eth0") }, func() error { return dirs[0].Cut("eth1") },
		func() error { return daemons[0].Signal(syscall.SIGKILL) }} {
		if err := c(); err != nil {
			return 0, false, err
		}
	}
	waitUntil(10*time.Second, func() bool { return len(probe.Outages(p.Output()[crashed:])) > 0 || !p.Running() })
	out := p.Output()[crashed:]
	if o := probe.Outages(out); len(o) > 0 && !strings.Contains(out, "fail EOF") && !strings.Contains(out, "fail connection") {
		p.Signal(syscall.SIGTERM)
		return o[0], true, nil
	}
	return 0, false, nil
}

// conntrackdConf is a conntrackd.conf for one of two directors: FTFW over
// UDP from local to peer on iface, its files under dir, TCP connections
// only, none to or from the directors' own sync addresses (ignore).
func conntrackdConf(local, peer, iface, dir string, ignore ...string) string {
	var ign strings.Builder
	for _, a := range ignore {
		fmt.Fprintf(&ign, "\t\t\tIPv4_address %s\n", a)
	}
	return fmt.Sprintf(`Sync {
	Mode FTFW {
	}
	UDP {
		IPv4_address %[1]s
		IPv4_Destination_Address %[2]s
		Port 3780
		Interface %[3]s
	}
}
General {
	HashSize 8192
	HashLimit 65535
	LogFile %[4]s/conntrackd.log
	Syslog off
	LockFile %[4]s/conntrackd.lock
	UNIX {
		Path %[4]s/conntrackd.sock
	}
	Filter From Userspace {
		Protocol Accept {
			TCP
		}
		Address Ignore {
%[5]s		}
	}
}
`, local, peer, iface, dir, ign.String())
}

func waitUntil(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// syncImage builds the VM's image, or says why there is none.
func syncImage(dir string) (*vm.Image, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	vdir := filepath.Join(dir, "vm")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return nil, err.Error()
	}
	im, err := lvsvm.Build(ctx, vdir, "./cmd/lubdub")
	if err != nil {
		return nil, err.Error()
	}
	return im, ""
}

// ipvsCrash is e2e/ipvssync's first part in one boot: dir1 crashes under
// a session whose entry IPVS's sync daemons put in dir2's table.
func ipvsCrash(im *vm.Image) (time.Duration, bool, error) {
	res, err := im.Run(context.Background(), lvsvm.Prelude+lvsvm.TwoDirectors+`
daemon dir1; daemon dir2
d1up() { holds dir1 && on dir1 ipvsadm -L -n | grep -q 198.18.1.12:7; }
until_ok 150 d1up || exit 1
/usr/bin/ip netns exec client lubdub probe --echo --interval 20ms --timeout 300ms --duration 60s $VIP:7 >/tmp/probe.log 2>&1 &
pp=$!
synced() { on dir2 ipvsadm -L -n -c | grep -q "ESTABLISHED 198.18.0.100:"; }
until_ok 75 synced || exit 1
seen=$(wc -l </tmp/probe.log)
kill -9 $(cat /run/lubdub.dir1)
ip -n dir1 link set eth0 down; ip -n dir1 link set eth1 down
resumed() { tail -n +$((seen + 1)) /tmp/probe.log | grep -q "(outage\|fail connection\|fail EOF"; }
until_ok 100 resumed
kill $pp; wait $pp
echo "### after"; tail -n +$((seen + 1)) /tmp/probe.log; echo "### rc=0"
`, vm.RunOptions{Timeout: 4 * time.Minute})
	if err != nil {
		return 0, false, err
	}
	if res.Exit != 0 {
		return 0, false, fmt.Errorf("the guest's script exited %d:\n%s", res.Exit, res.Output)
	}
	out := lvsvm.ParseSections(res.Output)["after"].Out
	if o := probe.Outages(out); len(o) > 0 && !strings.Contains(out, "fail EOF") && !strings.Contains(out, "fail connection") {
		return o[0], true, nil
	}
	return 0, false, nil
}
