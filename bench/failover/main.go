// Command failover measures the client-visible outage of a failover for
// lubdub, Debian's Heartbeat 3.0.6 and keepalived on the same topology in
// one run: two nodes sharing the VIP 198.18.0.10, a web server always
// running on each node (lubdub serve, answering the node's name), and a
// client polling the VIP over HTTP every 20 ms (lubdub probe). Every
// system moves only the VIP, so the figures compare the cluster managers.
//
// Events: crash (the daemon SIGKILLed and the node's link cut), standby or
// clean stop (lubdub standby, hb_standby, keepalived stopped with
// SIGTERM), and failback (the node's return, with auto_failback on or
// VRRP preemption).
//
//	sudo go run ./bench/failover [-rounds 3] [-soak 10m]
//
// -soak runs lubdub alone at keepalive 100ms / deadtime 300ms with both
// cores kept busy and counts false failovers.
//
// The row "lubdub + notify" is lubdub at 100ms / 300ms with a notify hook
// that takes a second per event and Debian's Pacemaker file alert agent
// (alert_file.sh.sample, from pacemaker-common) configured on both nodes,
// so that its crash figure can be compared with the row without them:
// programs run for events must not delay a failover.
//
// The row "lubdub + fence_ipmilan" is lubdub at 100ms / 300ms with
// fencing: each node has a BMC simulated by Debian's ipmi_sim (openipmi)
// on the segment, and each node fences the other through fence_ipmilan
// (fence-agents) before it takes the VIP over (fence_delay at its default,
// 2 deadtimes, since the survivor holds nothing). Its crash figure is
// deadtime + fence_delay + the fence itself, next to the row without.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"
)

const vip = "198.18.0.10"

var bin string // the lubdub binary under test

func main() {
	rounds := flag.Int("rounds", 3, "repetitions of each event (1-20)")
	soak := flag.Duration("soak", 0, "also run the false-failover soak for this long (at most 30m)")
	only := flag.String("only", "", "run only systems whose name contains this (notify: the lubdub row with a hook and an alert agent; fencing: the lubdub row with fence_ipmilan)")
	flag.Parse()
	if *rounds < 1 || *rounds > 20 || *soak < 0 || *soak > 30*time.Minute {
		fmt.Fprintln(os.Stderr, "bench: -rounds 1-20, -soak at most 30m")
		os.Exit(2)
	}
	if err := run(*rounds, *soak, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type scenario struct {
	system              string
	keepalive, deadtime time.Duration
	notify              bool // lubdub with a notify hook and an alert agent
	fencing             bool // lubdub fencing through fence_ipmilan and ipmi_sim
}

func (s scenario) String() string {
	if s.system == "keepalived" {
		return "keepalived, advert_int 0.1"
	}
	if s.fencing {
		return fmt.Sprintf("%s + fence_ipmilan (ipmi_sim BMCs), keepalive %s / deadtime %s", s.system, fmtDur(s.keepalive), fmtDur(s.deadtime))
	}
	if s.notify {
		return fmt.Sprintf("%s + notify hook (1 s a run) and alert_file agent, keepalive %s / deadtime %s", s.system, fmtDur(s.keepalive), fmtDur(s.deadtime))
	}
	return fmt.Sprintf("%s, keepalive %s / deadtime %s", s.system, fmtDur(s.keepalive), fmtDur(s.deadtime))
}

// alertFileSample is Debian's Pacemaker file alert agent (pacemaker-common).
const alertFileSample = "/usr/share/pacemaker/alerts/alert_file.sh.sample"

func fmtDur(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func run(rounds int, soak time.Duration, only string) (err error) {
	ws, err := lab.NewWorkspace("failover")
	if err != nil {
		return err
	}
	defer ws.Close(&err)
	dir := ws.Dir
	bin = ws.Bin
	scenarios := []scenario{
		{system: "lubdub", keepalive: 2 * time.Second, deadtime: 10 * time.Second},
		{system: "lubdub", keepalive: 100 * time.Millisecond, deadtime: 300 * time.Millisecond},
		{system: "lubdub", keepalive: 100 * time.Millisecond, deadtime: 300 * time.Millisecond, notify: true},
		{system: "lubdub", keepalive: 100 * time.Millisecond, deadtime: 300 * time.Millisecond, fencing: true},
		{system: "Heartbeat 3.0.6", keepalive: 2 * time.Second, deadtime: 10 * time.Second},
		{system: "Heartbeat 3.0.6", keepalive: 100 * time.Millisecond, deadtime: 500 * time.Millisecond},
		{system: "keepalived", keepalive: 100 * time.Millisecond},
	}
	var notes []string
	fmt.Printf("failover benchmark: 2 nodes + client in namespaces, VIP only, client polling every 20 ms (100 ms timeout), %d rounds, median (min-max)\n", rounds)
	fmt.Printf("machine: %d cores, %s\n\n", runtime.NumCPU(), kernel())
	fmt.Printf("| | crash | standby / clean stop | failback |\n| --- | --- | --- | --- |\n")
	for _, sc := range scenarios {
		if only != "" && !strings.Contains(sc.system, only) && !(sc.notify && strings.Contains("notify", only)) && !(sc.fencing && strings.Contains("fencing", only)) {
			continue
		}
		if sc.system == "Heartbeat 3.0.6" {
			if _, err := os.Stat(lab.HeartbeatBin); err != nil {
				fmt.Printf("| %s | (heartbeat not installed: apt-get install heartbeat) | | |\n", sc)
				continue
			}
		}
		if sc.system == "keepalived" {
			if _, err := exec.LookPath("keepalived"); err != nil {
				fmt.Printf("| %s | (keepalived not installed: apt-get install keepalived) | | |\n", sc)
				continue
			}
		}
		if sc.notify {
			if _, err := os.Stat(alertFileSample); err != nil {
				fmt.Printf("| %s | (%s missing: apt-get install pacemaker-common) | | |\n", sc, alertFileSample)
				continue
			}
		}
		if sc.fencing {
			if missing := missingFencingTools(); missing != "" {
				fmt.Printf("| %s | (%s missing: apt-get install openipmi ipmitool fence-agents) | | |\n", sc, missing)
				continue
			}
		}
		sub := strings.Fields(sc.system)[0] + fmtDur(sc.keepalive)
		if sc.notify {
			sub += "-notify"
		}
		if sc.fencing {
			sub += "-fencing"
		}
		var res map[string][]time.Duration
		var note string
		res, note, err = measure(sc, rounds, filepath.Join(dir, sub))
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		fmt.Printf("| %s | %s | %s | %s |\n", sc, summary(res["crash"]), summary(res["standby"]), summary(res["failback"]))
		if note != "" {
			notes = append(notes, note)
		}
	}
	for _, n := range notes {
		fmt.Println("\n" + n)
	}
	if soak > 0 {
		return soakTest(soak, filepath.Join(dir, "soak"))
	}
	return nil
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	// The client polls every 20 ms: a move between two polls shows as no
	// outage at all.
	f := func(d time.Duration) string {
		if d == 0 {
			return "<0.02"
		}
		return fmt.Sprintf("%.2f", d.Seconds())
	}
	return fmt.Sprintf("%s s (%s-%s)", f(s[len(s)/2]), f(s[0]), f(s[len(s)-1]))
}

// cluster is one system on the bench topology.
type cluster struct {
	sc    scenario
	l     *lab.Lab
	hosts map[string]*lab.Host
	procs map[string]*lab.Proc      // lubdub and keepalived daemons
	hbs   map[string]*lab.Heartbeat // Heartbeat daemons
	bmcs  map[string]*lab.BMC       // with fencing: each node's simulated BMC
	socks map[string]string
	probe *lab.Proc
}

// build makes the topology: the segment, the two nodes with their web
// servers and the system's configuration, and the client; it starts the
// system on both nodes and the client's probe.
func build(sc scenario, dir string) (*cluster, error) {
	os.MkdirAll(dir, 0o755)
	l, err := lab.New(dir)
	if err != nil {
		return nil, err
	}
	c := &cluster{sc: sc, l: l, hosts: map[string]*lab.Host{}, procs: map[string]*lab.Proc{}, hbs: map[string]*lab.Heartbeat{}, socks: map[string]string{}, bmcs: map[string]*lab.BMC{}}
	if err := l.Segment("br0", 0); err != nil {
		return c, err
	}
	for i, name := range []string{"node1", "node2", "client"} {
		num := i + 1
		if name == "client" {
			num = 100
		}
		h, err := l.Host(name)
		if err != nil {
			return c, err
		}
		if _, err := h.Attach("br0", "eth0", num); err != nil {
			return c, err
		}
		c.hosts[name] = h
		if name == "client" {
			continue
		}
		if _, err := h.Start(name+"-web.log", bin, "serve", "--listen", "0.0.0.0:80", name); err != nil {
			return c, err
		}
		if err := c.prepare(name); err != nil {
			return c, err
		}
	}
	if sc.fencing {
		if err := c.addFencing(); err != nil {
			return c, err
		}
	}
	for _, n := range []string{"node1", "node2"} {
		if err := c.start(n); err != nil {
			return c, err
		}
	}
	c.probe, err = c.hosts["client"].Start("probe.log", bin, "probe", "--interval", "20ms", "--timeout", "100ms", "http://"+vip+"/")
	return c, err
}

func measure(sc scenario, rounds int, dir string) (res map[string][]time.Duration, note string, err error) {
	c, err := build(sc, dir)
	if c != nil {
		defer c.l.Close()
	}
	if err != nil {
		return nil, "", err
	}
	res, err = c.rounds(rounds)
	if err == nil && sc.notify {
		note = c.notifyNote()
	}
	if err == nil && sc.fencing {
		note = c.fencingNote()
	}
	return res, note, err
}

func (c *cluster) rounds(rounds int) (map[string][]time.Duration, error) {
	sc := c.sc
	settle := max(10*time.Second, 3*sc.deadtime+5*time.Second)
	if err := c.servedBy("node1", 60*time.Second); err != nil {
		return nil, fmt.Errorf("the VIP did not come up on node1: %w\n%s", err, c.probe.Output())
	}
	time.Sleep(2 * time.Second)
	res := map[string][]time.Duration{}
	for r := 0; r < rounds; r++ {
		// crash
		c.hosts["node1"].Cut("eth0")
		c.kill("node1")
		o, err := c.outage("node2", settle)
		if err != nil {
			return nil, fmt.Errorf("crash, round %d: %w", r+1, err)
		}
		res["crash"] = append(res["crash"], o)
		time.Sleep(time.Second)
		// the node returns (as after a reboot: its address is gone)
		c.hosts["node1"].Output(5*time.Second, "ip", "addr", "del", vip+"/24", "dev", "eth0")
		c.hosts["node1"].Heal("eth0")
		if err := c.start("node1"); err != nil {
			return nil, err
		}
		if o, err = c.outage("node1", 60*time.Second); err != nil {
			return nil, fmt.Errorf("failback, round %d: %w", r+1, err)
		}
		res["failback"] = append(res["failback"], o)
		time.Sleep(max(3*time.Second, 2*sc.deadtime))
		// standby or clean stop, then back
		if err := c.standby("node1"); err != nil {
			return nil, err
		}
		if o, err = c.outage("node2", settle); err != nil {
			return nil, fmt.Errorf("standby, round %d: %w", r+1, err)
		}
		res["standby"] = append(res["standby"], o)
		time.Sleep(2 * time.Second)
		if err := c.back("node1"); err != nil {
			return nil, err
		}
		if _, err = c.outage("node1", 60*time.Second); err != nil {
			return nil, fmt.Errorf("back to node1, round %d: %w", r+1, err)
		}
		time.Sleep(max(3*time.Second, 2*sc.deadtime))
	}
	for _, n := range []string{"node1", "node2"} {
		c.stop(n)
	}
	return res, nil
}

// outage waits until the client is served by node and returns the outage
// it saw on the way (0 if it saw none).
func (c *cluster) outage(node string, timeout time.Duration) (time.Duration, error) {
	before := len(probe.Outages(c.probe.Output()))
	if err := c.servedBy(node, timeout); err != nil {
		return 0, fmt.Errorf("not served by %s: %w\n%s", node, err, tail(c.probe.Output(), 10))
	}
	o := probe.Outages(c.probe.Output())
	if len(o) <= before {
		return 0, nil
	}
	return o[len(o)-1], nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *cluster) servedBy(node string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if probe.ServedBy(c.probe.Output(), node) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("gave up after %s", timeout)
}

func (c *cluster) dir(node string) string { return filepath.Join(c.l.Dir, node+"-conf") }

func (c *cluster) prepare(node string) error {
	ka, dt := c.sc.keepalive, c.sc.deadtime
	initdead := max(2*dt, 10*time.Second)
	// Heartbeat reads plain seconds, ms and us, not "2s".
	hbDur := haconf.FormatHeartbeatTime
	hacf := fmt.Sprintf("keepalive %s\ndeadtime %s\ninitdead %s\nudpport 694\nbcast eth0\nauto_failback on\nnode node1 node2\n", hbDur(ka), hbDur(dt), hbDur(initdead))
	haresources := "node1 IPaddr2::" + vip + "/24/eth0\n"
	switch c.sc.system {
	case "lubdub":
		d := c.dir(node)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "ha.cf"), []byte(hacf), 0o644)
		os.WriteFile(filepath.Join(d, "haresources"), []byte(haresources), 0o644)
		if c.sc.notify {
			// A hook as slow as one that mails or pages: a second a run.
			hook := filepath.Join(c.l.Dir, node+"-notify-hook")
			body := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nsleep 1\n", filepath.Join(c.l.Dir, node+"-notify.txt"))
			if err := os.WriteFile(hook, []byte(body), 0o755); err != nil {
				return err
			}
			cf := fmt.Sprintf("notify %s\nalert %s %s\n", hook, alertFileSample, filepath.Join(c.l.Dir, node+"-alerts.txt"))
			os.WriteFile(filepath.Join(d, "lubdub.cf"), []byte(cf), 0o644)
		}
		os.WriteFile(filepath.Join(d, "authkeys"), []byte("auth 1\n1 sha256 bench\n"), 0o600)
		c.socks[node] = filepath.Join(c.l.Dir, node+".sock")
	case "keepalived":
		prio := map[string]int{"node1": 150, "node2": 100}[node]
		conf := fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_version 3
  script_user root
  enable_script_security
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %d
  advert_int 0.1
  virtual_ipaddress {
    %s/24 dev eth0
  }
}
`, node, prio, vip)
		os.MkdirAll(c.dir(node), 0o755)
		os.WriteFile(filepath.Join(c.dir(node), "keepalived.conf"), []byte(conf), 0o644)
	default:
		hb, err := c.hosts[node].PrepareHeartbeat(node, map[string]string{
			"ha.cf":       hacf,
			"authkeys":    "auth 1\n1 sha1 bench\n",
			"haresources": haresources,
		})
		if err != nil {
			return err
		}
		c.hbs[node] = hb
	}
	return nil
}

func (c *cluster) start(node string) error {
	h := c.hosts[node]
	var err error
	switch c.sc.system {
	case "lubdub":
		c.procs[node], err = h.Start(node+".log", bin, "run", "-c", c.dir(node), "--node", node,
			"--state-dir", filepath.Join(c.l.Dir, node+"-state"), "--socket", c.socks[node])
		if b := c.bmcs[node]; err == nil && b != nil {
			err = b.Guard(c.procs[node].Pid()) // its BMC's power-off kills it
		}
	case "keepalived":
		d := c.dir(node)
		// Killed instances leave pid files behind, and their processes may
		// linger as zombies that this machine's init reaps late: keepalived
		// would take them for a running instance.
		for _, f := range []string{"k.pid", "v.pid", "c.pid"} {
			os.Remove(filepath.Join(d, f))
		}
		c.procs[node], err = h.Start(node+"-keepalived.log", "keepalived", "-n", "-l", "-D", "-P",
			"-f", filepath.Join(d, "keepalived.conf"), "-p", filepath.Join(d, "k.pid"), "-r", filepath.Join(d, "v.pid"), "-c", filepath.Join(d, "c.pid"))
	default:
		err = c.hbs[node].Start(node + "-heartbeat.log")
	}
	return err
}

func (c *cluster) kill(node string) {
	switch c.sc.system {
	case "lubdub":
		c.procs[node].KillGroup(syscall.SIGKILL)
		c.procs[node].Wait(5 * time.Second)
	case "keepalived":
		c.procs[node].KillGroup(syscall.SIGKILL)
		c.hosts[node].KillByName("keepalived") // its VRRP child too
		c.procs[node].Wait(5 * time.Second)
	default:
		c.hbs[node].Proc.KillGroup(syscall.SIGKILL)
		c.hosts[node].KillByName("heartbeat")
		c.hbs[node].Proc.Wait(5 * time.Second)
	}
}

func (c *cluster) standby(node string) error {
	switch c.sc.system {
	case "lubdub":
		_, err := control.Call(c.socks[node], control.Request{Cmd: "standby", Name: "all"}, 5*time.Second)
		return err
	case "keepalived":
		c.procs[node].Signal(syscall.SIGTERM)
		return nil
	default:
		if out, code := c.hbs[node].Exec("/usr/share/heartbeat/hb_standby", "all"); code != 0 {
			return fmt.Errorf("hb_standby: %s (exit %d)", out, code)
		}
		return nil
	}
}

func (c *cluster) back(node string) error {
	switch c.sc.system {
	case "lubdub":
		_, err := control.Call(c.socks[node], control.Request{Cmd: "takeover", Name: "all"}, 5*time.Second)
		return err
	case "keepalived":
		c.procs[node].Wait(5 * time.Second)
		return c.start(node)
	default:
		if out, code := c.hbs[node].Exec("/usr/share/heartbeat/hb_takeover", "all"); code != 0 {
			return fmt.Errorf("hb_takeover: %s (exit %d)", out, code)
		}
		return nil
	}
}

func (c *cluster) stop(node string) {
	switch c.sc.system {
	case "lubdub", "keepalived":
		if p := c.procs[node]; p != nil && p.Running() {
			p.Signal(syscall.SIGTERM)
			p.Wait(10 * time.Second)
		}
	default:
		c.hbs[node].Stop(20 * time.Second)
	}
}

// missingFencingTools names what the fencing row needs and lacks ("" if
// nothing).
func missingFencingTools() string {
	for _, p := range []string{lab.IPMISimBin, "/usr/bin/ipmitool", "/usr/sbin/fence_ipmilan"} {
		if _, err := os.Stat(p); err != nil {
			return p
		}
	}
	return ""
}

// addFencing gives each node a simulated BMC (ipmi_sim, on the segment)
// and both nodes the fence_device lines for them: each fences the other
// through fence_ipmilan.
func (c *cluster) addFencing() error {
	var cf strings.Builder
	for i, node := range []string{"node1", "node2"} {
		b, err := c.l.AddBMC("bmc"+node[4:], 11+i, "br0", c.hosts[node], "eth0")
		if err != nil {
			return err
		}
		c.bmcs[node] = b
		fmt.Fprintf(&cf, "fence_device ipmi-%s fence_ipmilan ip=%s username=%s password=%s lanplus=1 cipher=3 pcmk_host_list=%s\n", node, b.Addr, b.User, b.Password, node)
	}
	for _, node := range []string{"node1", "node2"} {
		if err := os.WriteFile(filepath.Join(c.dir(node), "lubdub.cf"), []byte(cf.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// fencingNote says how long the fences took (node2's log: "node1 fenced
// (reset) at level 1 by ipmi-node1 in 5.2s") and that node1's BMC saw them.
func (c *cluster) fencingNote() string {
	b, _ := os.ReadFile(filepath.Join(c.l.Dir, "node2.log"))
	var took []time.Duration
	for _, l := range strings.Split(string(b), "\n") {
		const mark = "node node1 fenced: node1 fenced (reset) at level 1 by ipmi-node1 in "
		if i := strings.Index(l, mark); i >= 0 {
			if f := strings.Fields(l[i+len(mark):]); len(f) > 0 {
				if d, err := time.ParseDuration(f[0]); err == nil {
					took = append(took, d)
				}
			}
		}
	}
	return fmt.Sprintf("lubdub + fence_ipmilan: node2 fenced node1 %d times, fence_ipmilan taking %s; node1's BMC saw %d power events",
		len(took), summary(took), len(c.bmcs["node1"].Events()))
}

// notifyNote says how much the notification programs ran, to show they
// were at work during the rounds.
func (c *cluster) notifyNote() string {
	var parts []string
	for _, n := range []string{"node1", "node2"} {
		hooks, _ := os.ReadFile(filepath.Join(c.l.Dir, n+"-notify.txt"))
		alerts, _ := os.ReadFile(filepath.Join(c.l.Dir, n+"-alerts.txt"))
		parts = append(parts, fmt.Sprintf("%s: the hook ran %d times, the alert agent wrote %d lines", n,
			strings.Count(string(hooks), "\n"), strings.Count(string(alerts), "\n")))
	}
	return "lubdub + notify: " + strings.Join(parts, "; ")
}

// soakTest runs lubdub at keepalive 100ms / deadtime 300ms with both cores
// kept busy and counts false failovers: nodes declared dead, moves of the
// VIP, failed client requests.
func soakTest(d time.Duration, dir string) error {
	sc := scenario{system: "lubdub", keepalive: 100 * time.Millisecond, deadtime: 300 * time.Millisecond}
	c, err := build(sc, dir)
	if c != nil {
		defer c.l.Close()
	}
	if err != nil {
		return err
	}
	if err := c.servedBy("node1", 30*time.Second); err != nil {
		return err
	}
	// Both cores busy: one spinning process per core, for the soak only.
	var hogs []*exec.Cmd
	for i := 0; i < runtime.NumCPU(); i++ {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		hog.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := hog.Start(); err != nil {
			return err
		}
		hogs = append(hogs, hog)
	}
	defer func() {
		for _, h := range hogs {
			h.Process.Kill()
			h.Wait()
		}
	}()
	time.Sleep(d)
	deaths := 0
	late := 0
	for _, n := range []string{"node1", "node2"} {
		b, _ := os.ReadFile(filepath.Join(c.l.Dir, n+".log"))
		deaths += strings.Count(string(b), ": is dead")
		late += strings.Count(string(b), "Late heartbeat")
	}
	out := c.probe.Output()
	moves := strings.Count(out, " ok node2")
	fails := strings.Count(out, " fail ")
	fmt.Printf("\nsoak: lubdub keepalive 100ms / deadtime 300ms, %d busy processes on %d cores, %s:\n", len(hogs), runtime.NumCPU(), d)
	fmt.Printf("nodes declared dead: %d; VIP moves: %d; client failures: %d; late heartbeats logged: %d\n", deaths, moves, fails, late)
	return nil
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}
