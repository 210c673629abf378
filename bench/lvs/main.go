// Command lvs measures lubdub's load-balancing data path on this kernel
// (nftables when it has no IPVS), in one run:
//
//   - requests per second and p99 latency (wrk, from Debian) from a client
//     to nginx real servers: straight to one real server (routed through
//     the director, which only forwards), through the VIP with one real
//     server (the director's cost), with two (the gain), and through
//     haproxy in TCP mode on the same director with one and two, and
//     through the VIP with conntrackd on the director syncing every
//     connection to a backup director's conntrackd (the cost of
//     connection sync), each with keep-alive connections and with a new
//     connection per request;
//
//   - the time rule changes take with 1, 100 and 1,000 virtual services in
//     the kernel: a real server added, re-weighted and removed, and a
//     service added and removed, in process (read the service, change it,
//     one nftables transaction), and the `lubdub lvs -a`/`-d` commands an
//     operator types;
//
//   - connection sync: how long a running session stalls across the
//     active director's crash, with conntrackd on nftables (this kernel),
//     without sync (it is reset), and with IPVS's sync daemons in a VM with
//     Debian's kernel (internal/lab/vm/lvsvm), when QEMU is there.
//
//     sudo go run ./bench/lvs [-duration 10s] [-rounds 3] [-conns 50] [-only none|sync]
//
// It installs nothing: apt-get install wrk nginx-light haproxy conntrackd
// first (-only sync needs conntrackd alone).
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/ti-mo/conntrack"
)

const (
	vip = "198.18.0.10"
	gw  = "198.18.1.254"
)

var bin string

func main() {
	duration := flag.Duration("duration", 10*time.Second, "length of each wrk run (1s-60s)")
	conns := flag.Int("conns", 50, "wrk connections (1-1000)")
	rounds := flag.Int("rounds", 3, "wrk runs per path and mode, interleaved; the median is shown (1-9)")
	only := flag.String("only", "", "measure only paths whose name contains this (none: rule changes only; sync: connection sync only)")
	flush := flag.Bool("flush-conntrack", false, "internal: empty conntrack's table in the current namespace")
	inner := flag.Int("inner-rules", 0, "internal: time rule changes with this many services in the current namespace")
	flag.Parse()
	if *flush {
		c, err := conntrack.Dial(nil)
		if err == nil {
			err = c.Flush()
			c.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: flushing conntrack:", err)
			os.Exit(1)
		}
		return
	}
	if *inner > 0 {
		if err := innerRules(*inner); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *duration < time.Second || *duration > time.Minute || *conns < 1 || *conns > 1000 || *rounds < 1 || *rounds > 9 {
		fmt.Fprintln(os.Stderr, "bench: -duration 1s-60s, -conns 1-1000, -rounds 1-9")
		os.Exit(2)
	}
	if err := run(*duration, *conns, *rounds, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	l      *lab.Lab
	dir    string
	client *lab.Host
	dirh   *lab.Host
	backup *lab.Host // a backup director, on the sync link only
	rs     []*lab.Host
}

func run(duration time.Duration, conns, rounds int, only string) (err error) {
	if only == "sync" {
		ws, err := lab.NewWorkspace("lvs")
		if err != nil {
			return err
		}
		defer ws.Close(&err)
		if _, err := exec.LookPath("conntrackd"); err != nil {
			return fmt.Errorf("conntrackd is not installed: apt-get install conntrackd")
		}
		return runSync(ws.Dir, ws.Bin, rounds)
	}
	for _, tool := range []string{"wrk", "nginx", "haproxy"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: apt-get install wrk nginx-light haproxy", tool)
		}
	}
	ws, err := lab.NewWorkspace("lvs")
	if err != nil {
		return err
	}
	defer ws.Close(&err)
	dir := ws.Dir
	bin = ws.Bin
	l, err := lab.New(dir)
	if err != nil {
		return err
	}
	defer l.Close()
	b := &bench{l: l, dir: dir}
	if err := b.build(); err != nil {
		return err
	}
	fmt.Printf("LVS benchmark: client -> director -> nginx real servers in namespaces; wrk -t2 -c%d -d%s, median of %d interleaved runs; machine: %d cores, %s\n\n",
		conns, duration, rounds, runtime.NumCPU(), kernel())
	fmt.Printf("| path | keep-alive req/s | p99 | new connection per request req/s | p99 |\n| --- | --- | --- | --- | --- |\n")
	type path struct {
		name  string
		url   string
		setup func() error
		check func() error // after the runs, that the path did what it is named for
	}
	lvsSetup := func(n int) func() error {
		return func() error {
			if err := b.lubdubLVS("-C"); err != nil {
				return err
			}
			if err := b.lubdubLVS("-A", "-t", vip+":80", "-s", "rr"); err != nil {
				return err
			}
			for i := range n {
				if err := b.lubdubLVS("-a", "-t", vip+":80", "-r", b.rs[i].Addr["eth0"]+":80", "-m"); err != nil {
					return err
				}
			}
			return nil
		}
	}
	var haproxy *lab.Proc
	haSetup := func(n int) func() error {
		return func() error {
			if err := b.lubdubLVS("-C"); err != nil {
				return err
			}
			cfg := fmt.Sprintf("global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\nlisten vip\n  bind %s:80\n  balance roundrobin\n", vip)
			for i := range n {
				cfg += fmt.Sprintf("  server rs%d %s:80\n", i+1, b.rs[i].Addr["eth0"])
			}
			f := filepath.Join(b.dir, fmt.Sprintf("haproxy%d.cfg", n))
			if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
				return err
			}
			p, err := b.dirh.Start(fmt.Sprintf("haproxy%d.log", n), "haproxy", "-db", "-f", f)
			if err != nil {
				return err
			}
			haproxy = p
			return waitHTTP(b.client, "http://"+vip+"/")
		}
	}
	// conntrackd on the director syncing to the backup's, as a pair of
	// directors with connection sync runs (FTFW over UDP): what keeping
	// the backup's copy of every balanced connection costs.
	var syncd []*lab.Proc
	syncSetup := func() error {
		if err := lvsSetup(1)(); err != nil {
			return err
		}
		for _, s := range []struct {
			h           *lab.Host
			local, peer string
			iface       string
		}{{b.backup, "198.18.2.2", "198.18.2.1", "eth0"}, {b.dirh, "198.18.2.1", "198.18.2.2", "eth2"}} {
			d := filepath.Join(b.dir, s.h.Name+"-conntrackd")
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			conf := filepath.Join(d, "conntrackd.conf")
			if err := os.WriteFile(conf, []byte(conntrackdConf(s.local, s.peer, s.iface, d, "198.18.2.1", "198.18.2.2")), 0o600); err != nil {
				return err
			}
			p, err := s.h.Start(s.h.Name+"-conntrackd.out", "conntrackd", "-C", conf)
			if err != nil {
				return err
			}
			syncd = append(syncd, p)
			if !waitUntil(10*time.Second, func() bool { _, _, code := s.h.Output(5*time.Second, "conntrackd", "-C", conf, "-s"); return code == 0 }) {
				return fmt.Errorf("conntrackd on %s did not answer on its socket:\n%s", s.h.Name, p.Output())
			}
		}
		return nil
	}
	stopSyncd := func() {
		for _, p := range syncd {
			p.Signal(15)
			p.Wait(10 * time.Second)
		}
		syncd = nil
	}
	defer stopSyncd()
	// backupHolds checks that the backup's conntrackd received the
	// connections (its external cache, conntrackd -e).
	backupHolds := func() error {
		conf := filepath.Join(b.dir, "backup-conntrackd", "conntrackd.conf")
		out, errOut, code := b.backup.Output(30*time.Second, "conntrackd", "-C", conf, "-e")
		if code != 0 || !strings.Contains(out, vip) {
			return fmt.Errorf("the backup's conntrackd holds no connection to %s (exit %d): %.300s%s", vip, code, out, errOut)
		}
		return nil
	}
	paths := []path{
		{"straight to one real server (director only routes)", "http://198.18.1.11/", func() error { return b.lubdubLVS("-C") }, nil},
		{"lubdub lvs (nftables), 1 real server", "http://" + vip + "/", lvsSetup(1), nil},
		{"lubdub lvs (nftables), 2 real servers", "http://" + vip + "/", lvsSetup(2), nil},
		{"lubdub lvs (nftables) + conntrackd syncing to a backup, 1 real server", "http://" + vip + "/", syncSetup, backupHolds},
		{"haproxy 2.6 TCP mode, 1 real server", "http://" + vip + "/", haSetup(1), nil},
		{"haproxy 2.6 TCP mode, 2 real servers", "http://" + vip + "/", haSetup(2), nil},
	}
	if _, err := exec.LookPath("conntrackd"); err != nil {
		fmt.Printf("(the conntrackd row is left out: conntrackd is not installed)\n\n")
		paths = slices.DeleteFunc(paths, func(p path) bool { return strings.Contains(p.name, "conntrackd") })
	}
	// Rounds interleave the paths, so that a slow spell of the machine
	// does not land on one path only.
	type res struct{ ka, nc []wrkResult }
	results := make([]res, len(paths))
	for range rounds {
		for i, p := range paths {
			if !strings.Contains(p.name, only) {
				continue
			}
			// Each run starts with an empty conntrack table on the
			// director: a run of new connections leaves tens of thousands
			// of entries in TIME_WAIT for 2 minutes, and a full table
			// would slow whichever path came next.
			if err := b.flushConntrack(); err != nil {
				return err
			}
			if err := p.setup(); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			ka, err := b.wrk(p.url, duration, conns, false)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if err := b.flushConntrack(); err != nil {
				return err
			}
			nc, err := b.wrk(p.url, duration, conns, true)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			results[i].ka, results[i].nc = append(results[i].ka, ka), append(results[i].nc, nc)
			if p.check != nil {
				if err := p.check(); err != nil {
					return fmt.Errorf("%s: %w", p.name, err)
				}
			}
			stopSyncd()
			if haproxy != nil {
				haproxy.Signal(15)
				haproxy.Wait(5 * time.Second)
				haproxy = nil
			}
		}
	}
	for i, p := range paths {
		if len(results[i].ka) == 0 {
			continue
		}
		ka, nc := median(results[i].ka), median(results[i].nc)
		fmt.Printf("| %s | %.0f | %s | %.0f | %s |\n", p.name, ka.rps, ka.p99, nc.rps, nc.p99)
	}

	fmt.Printf("\nrule changes, median (min-max) of 60 real-server changes (-a, -e -w 0, -d) and of 40 service changes (-A, -D):\n\n")
	fmt.Printf("| services in the kernel | real server added/changed/removed, in process | service added/removed, in process | `lubdub lvs -a`/`-d` command |\n| --- | --- | --- | --- |\n")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, n := range []int{1, 100, 1000} {
		h, err := l.Host(fmt.Sprintf("rules%d", n))
		if err != nil {
			return err
		}
		out, errOut, code := h.Output(5*time.Minute, self, "-inner-rules", strconv.Itoa(n))
		if code != 0 {
			return fmt.Errorf("rule timing with %d services: %s%s", n, out, errOut)
		}
		inproc := strings.TrimSpace(out)
		cli, err := b.cliTiming(h, n)
		if err != nil {
			return err
		}
		fmt.Printf("| %d | %s | %s |\n", n, inproc, cli)
	}
	if only == "" {
		if _, err := exec.LookPath("conntrackd"); err != nil {
			fmt.Printf("\n(connection sync not measured: conntrackd is not installed)\n")
			return nil
		}
		return runSync(dir, bin, rounds)
	}
	return nil
}

func (b *bench) build() error {
	l := b.l
	if err := l.Segment("pub", 0); err != nil {
		return err
	}
	if err := l.Segment("priv", 1); err != nil {
		return err
	}
	host := l.AddHost
	var err error
	if b.client, err = host("client", 100, "pub"); err != nil {
		return err
	}
	// The sync link: conntrackd on the director sends its connections to
	// a backup director's conntrackd there (the "+ conntrackd" path).
	if err := l.Segment("sync", 2); err != nil {
		return err
	}
	if b.dirh, err = host("dir", 1, "pub", "priv", "sync"); err != nil {
		return err
	}
	if b.backup, err = host("backup", 2, "sync"); err != nil {
		return err
	}
	if err := b.dirh.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", vip + "/24", "brd", "+", "dev", "eth0"},
		{"ip", "addr", "add", gw + "/24", "brd", "+", "dev", "eth1"},
	} {
		if err := do(b.dirh, c...); err != nil {
			return err
		}
	}
	if err := do(b.client, "ip", "route", "add", "198.18.1.0/24", "via", "198.18.0.1"); err != nil {
		return err
	}
	for i := range 2 {
		name := fmt.Sprintf("rs%d", i+1)
		h, err := host(name, 11+i, "priv")
		if err != nil {
			return err
		}
		if err := do(h, "ip", "route", "add", "default", "via", gw); err != nil {
			return err
		}
		conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/%[2]s.pid;
error_log %[1]s/%[2]s-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/%[2]s-tmp;
  proxy_temp_path %[1]s/%[2]s-tmp;
  fastcgi_temp_path %[1]s/%[2]s-tmp;
  uwsgi_temp_path %[1]s/%[2]s-tmp;
  scgi_temp_path %[1]s/%[2]s-tmp;
  server { listen 80; location / { return 200 "%[2]s\n"; } }
}
`, b.dir, name)
		f := filepath.Join(b.dir, name+"-nginx.conf")
		if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
			return err
		}
		if _, err := h.Start(name+"-nginx.log", "nginx", "-c", f, "-p", b.dir); err != nil {
			return err
		}
		if err := waitHTTP(h, "http://"+h.Addr["eth0"]+"/"); err != nil {
			return fmt.Errorf("%s's nginx: %w", name, err)
		}
		b.rs = append(b.rs, h)
	}
	return nil
}

func (b *bench) flushConntrack() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return do(b.dirh, self, "-flush-conntrack")
}

func do(h *lab.Host, args ...string) error {
	out, errOut, code := h.Output(10*time.Second, args[0], args[1:]...)
	if code != 0 {
		return fmt.Errorf("%s: %s: %s%s", h.Name, strings.Join(args, " "), out, errOut)
	}
	return nil
}

func (b *bench) lubdubLVS(args ...string) error {
	return do(b.dirh, append([]string{bin, "lvs", "--datapath=nftables"}, args...)...)
}

func waitHTTP(h *lab.Host, url string) error {
	_, errOut, code := h.Output(10*time.Second, bin, "probe", "--until-ok", "--duration", "5s", url)
	if code != 0 {
		return fmt.Errorf("%s did not answer: %s", url, errOut)
	}
	return nil
}

type wrkResult struct {
	rps float64
	p99 string
}

var (
	rpsRE = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99RE = regexp.MustCompile(`\n\s+99%\s+(\S+)`)
	errRE = regexp.MustCompile(`Non-2xx or 3xx responses|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func (b *bench) wrk(url string, d time.Duration, conns int, close bool) (wrkResult, error) {
	args := []string{"-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency"}
	if close {
		args = append(args, "-H", "Connection: close")
	}
	out, errOut, code := b.client.Output(d+30*time.Second, "wrk", append(args, url)...)
	if code != 0 {
		return wrkResult{}, fmt.Errorf("wrk: exit %d: %s%s", code, out, errOut)
	}
	m, p := rpsRE.FindStringSubmatch(out), p99RE.FindStringSubmatch(out)
	if m == nil || p == nil {
		return wrkResult{}, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	r := wrkResult{p99: p[1]}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if e := errRE.FindString(out); e != "" {
		r.p99 += " (" + e + ")"
	}
	return r, nil
}

// median is the run with the median rate.
func median(rs []wrkResult) wrkResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b wrkResult) int { return int(a.rps - b.rps) })
	return s[len(s)/2]
}

// innerRules runs inside a fresh namespace: n services with two real
// servers each, then 20 times: add a third real server to one service
// and remove it again, each a read of that service plus one transaction.
func innerRules(n int) error {
	dp, err := datapath.OpenNFT()
	if err != nil {
		return err
	}
	defer dp.Close()
	t := &lvs.Table{}
	for i := range n {
		k := lvs.Key{Proto: "TCP", Addr: svcAddr(i)}
		t.Services = append(t.Services, &lvs.Service{Key: k, Scheduler: "rr", Dests: []*lvs.Dest{
			{Addr: mustAP("198.18.1.11:80"), Fwd: lvs.Masq, Weight: 1}, {Addr: mustAP("198.18.1.12:80"), Fwd: lvs.Masq, Weight: 1}}})
	}
	if err := dp.Sync(&lvs.Table{}, t); err != nil {
		return fmt.Errorf("creating %d services: %w", n, err)
	}
	// change runs one ipvsadm command as the CLI does: read the
	// service, apply, write the difference.
	change := func(args ...string) (time.Duration, error) {
		c, err := lvs.Parse(args)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		old, err := dp.Load([]lvs.Key{c.Key}, false)
		if err != nil {
			return 0, err
		}
		nt := old.Clone()
		if err := nt.Apply(c); err != nil {
			return 0, err
		}
		if err := dp.Sync(old, nt); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	var times, svcTimes []time.Duration
	for i := range 20 {
		svc := svcAddr(i * 7919 % n).String()
		for _, args := range [][]string{
			{"-a", "-t", svc, "-r", "198.18.1.13:80", "-m"},
			{"-e", "-t", svc, "-r", "198.18.1.13:80", "-m", "-w", "0"},
			{"-d", "-t", svc, "-r", "198.18.1.13:80"},
		} {
			d, err := change(args...)
			if err != nil {
				return err
			}
			times = append(times, d)
		}
		// A new service, and its removal.
		for _, args := range [][]string{{"-A", "-u", svc, "-s", "rr"}, {"-D", "-u", svc}} {
			d, err := change(args...)
			if err != nil {
				return err
			}
			svcTimes = append(svcTimes, d)
		}
	}
	fmt.Printf("%s | %s\n", summary(times), summary(svcTimes))
	return nil
}

func (b *bench) cliTiming(h *lab.Host, n int) (string, error) {
	var times []time.Duration
	for i := range 10 {
		svc := svcAddr(i * 7919 % n).String()
		for _, args := range [][]string{
			{"lvs", "--datapath=nftables", "-a", "-t", svc, "-r", "198.18.1.13:80", "-m"},
			{"lvs", "--datapath=nftables", "-d", "-t", svc, "-r", "198.18.1.13:80"},
		} {
			start := time.Now()
			if err := do(h, append([]string{bin}, args...)...); err != nil {
				return "", err
			}
			times = append(times, time.Since(start))
		}
	}
	return summary(times), nil
}

// svcAddr spreads services over addresses and ports in 198.18.0.0/16.
func svcAddr(i int) netip.AddrPort {
	return mustAP(fmt.Sprintf("198.18.%d.%d:%d", 100+i/250, 1+i%250, 80))
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func summary(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("%s ms (%s-%s)", ms(s[len(s)/2]), ms(s[0]), ms(s[len(s)-1]))
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}
