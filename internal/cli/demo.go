package cli

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"
)

//go:embed demo_websrv.sh
var demoWebsrv string

const demoVIP = "198.18.0.10"

// cmdDemo runs the seed's test on this machine: two nodes and a client in
// network namespaces, lubdub on both nodes with a VIP and a web server
// that says which node serves, the client polling the VIP. It crashes the
// active node, brings it back, moves the service by hand, prints a
// timeline with the client-visible outage of each step, and removes
// everything it made.
func cmdDemo(env *Env, args []string) int {
	fs := newFlags(env, "demo", "[--keepalive T] [--deadtime T] [--part all|failover|lvs]")
	part := fs.String("part", "all", "failover (the seed's two-node cluster), lvs (the seed's LVS director) or all")
	keepalive := fs.String("keepalive", "100ms", "ha.cf keepalive `TIME`")
	deadtime := fs.String("deadtime", "300ms", "ha.cf deadtime `TIME`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	ka, err1 := haconf.ParseTime(*keepalive)
	dt, err2 := haconf.ParseTime(*deadtime)
	if *part != "all" && *part != "failover" && *part != "lvs" {
		fmt.Fprintln(env.Stderr, "lubdub demo: --part is all, failover or lvs")
		return 2
	}
	if err1 != nil || err2 != nil || dt <= 2*ka {
		fmt.Fprintln(env.Stderr, "lubdub demo: --keepalive and --deadtime must be times, deadtime more than twice keepalive")
		return 2
	}
	if err := lab.Available(); err != nil {
		fmt.Fprintf(env.Stderr, "lubdub demo: %v (run it as root)\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub demo: finding the lubdub binary: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(env.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{out: env.Stdout, self: self, keepalive: ka, deadtime: dt, start: time.Now(), part: *part, nodes: map[string]*demoNode{}}
	err = d.run(ctx)
	if cerr := d.cleanup(); cerr != nil {
		fmt.Fprintf(env.Stderr, "lubdub demo: %v\n", cerr)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub demo: %v\n", err)
		return 1
	}
	return 0
}

type demo struct {
	out       io.Writer
	self      string
	keepalive time.Duration
	deadtime  time.Duration
	start     time.Time
	dir       string
	lab       *lab.Lab
	lvsLab    *lab.Lab
	part      string
	nodes     map[string]*demoNode
	client    *lab.Host
	probe     *lab.Proc
	steps     [][2]string
}

type demoNode struct {
	name, dir, state, sock string
	host                   *lab.Host
	proc                   *lab.Proc
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.out, "[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, a...))
}

func (d *demo) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "lubdub-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	lab.SweepStale()
	if d.part == "lvs" {
		if err := d.runLVS(ctx); err != nil {
			return err
		}
		d.say("done; removing the demo network")
		return nil
	}
	if d.lab, err = lab.New(dir); err != nil {
		return fmt.Errorf("building the demo network: %w", err)
	}
	if err := d.lab.Segment("br0", 0); err != nil {
		return err
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	hacf := fmt.Sprintf("keepalive %s\ndeadtime %s\ninitdead 5\nudpport 694\nbcast eth0\nauto_failback on\nnode node1 node2\n",
		haconf.FormatHeartbeatTime(d.keepalive), haconf.FormatHeartbeatTime(d.deadtime))
	haresources := "node1 IPaddr2::" + demoVIP + "/24/eth0 websrv\n"
	fmt.Fprintf(d.out, "lubdub demo: the seed's cluster on one machine. Two nodes and a client on one Ethernet segment\n")
	fmt.Fprintf(d.out, "(198.18.0.0/24, each in a network namespace of its own); the VIP %s and a web server that\n", demoVIP)
	fmt.Fprintf(d.out, "says which node serves; the client asks for http://%s/ every 20 ms.\n\n", demoVIP)
	fmt.Fprintf(d.out, "ha.cf:\n  %s\nharesources:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(hacf), "\n", "\n  "), strings.TrimSpace(haresources))
	for i, name := range []string{"node1", "node2"} {
		h, err := d.lab.Host(name)
		if err != nil {
			return err
		}
		addr, err := h.Attach("br0", "eth0", i+1)
		if err != nil {
			return err
		}
		n := &demoNode{name: name, host: h, dir: filepath.Join(dir, name), state: filepath.Join(dir, name+"-state"), sock: filepath.Join(dir, name+".sock")}
		files := map[string]string{
			"ha.cf":             hacf,
			"haresources":       haresources,
			"authkeys":          "auth 1\n1 sha256 " + hex.EncodeToString(secret) + "\n",
			"lubdub.cf":         "monitor_interval 1s\n",
			"resource.d/websrv": strings.ReplaceAll(demoWebsrv, "@LUBDUB@", d.self),
		}
		for f, body := range files {
			p := filepath.Join(n.dir, f)
			os.MkdirAll(filepath.Dir(p), 0o755)
			mode := os.FileMode(0o644)
			if f == "authkeys" {
				mode = 0o600
			} else if strings.HasPrefix(f, "resource.d/") {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(body), mode); err != nil {
				return err
			}
		}
		d.nodes[name] = n
		d.say("%s is %s", name, addr)
	}
	if d.client, err = d.lab.Host("client"); err != nil {
		return err
	}
	if _, err := d.client.Attach("br0", "eth0", 100); err != nil {
		return err
	}
	d.say("client is 198.18.0.100")
	n1, n2 := d.nodes["node1"], d.nodes["node2"]
	for _, n := range []*demoNode{n1, n2} {
		if err := d.startNode(n); err != nil {
			return err
		}
	}
	if d.probe, err = d.client.Start("client.log", d.self, "probe", "--interval", "20ms", "--timeout", "300ms", "http://"+demoVIP+"/"); err != nil {
		return err
	}
	if err := d.servedBy(ctx, "node1", 20*time.Second); err != nil {
		return fmt.Errorf("the service did not come up on node1: %w", err)
	}
	d.say("node1 holds the VIP and serves the client")
	d.showStatus(n1)
	d.pause(ctx, time.Second)

	d.say("crash: lubdub on node1 is killed (SIGKILL) and its link is cut")
	n1.host.Cut("eth0")
	n1.proc.Signal(syscall.SIGKILL)
	n1.proc.Wait(5 * time.Second)
	if err := d.step(ctx, "crash of node1", "node2"); err != nil {
		return err
	}
	d.pause(ctx, time.Second)

	d.say("node1 comes back: lubdub starts (it clears what the killed daemon left), then its link returns")
	if err := d.startNode(n1); err != nil {
		return err
	}
	if err := d.wait(ctx, 10*time.Second, func() bool {
		_, err := control.Call(n1.sock, control.Request{Cmd: "status"}, time.Second)
		return err == nil
	}); err != nil {
		return err
	}
	n1.host.Heal("eth0")
	if err := d.step(ctx, "failback to node1 (auto_failback on)", "node1"); err != nil {
		return err
	}
	d.pause(ctx, time.Second)

	d.say("$ lubdub standby   # on node1 (hb_standby)")
	if _, err := control.Call(n1.sock, control.Request{Cmd: "standby", Name: "all"}, 5*time.Second); err != nil {
		return err
	}
	if err := d.step(ctx, "standby on node1", "node2"); err != nil {
		return err
	}
	d.pause(ctx, time.Second)

	d.say("$ lubdub takeover  # on node1 (hb_takeover)")
	if _, err := control.Call(n1.sock, control.Request{Cmd: "takeover", Name: "all"}, 5*time.Second); err != nil {
		return err
	}
	if err := d.step(ctx, "takeover by node1", "node1"); err != nil {
		return err
	}
	d.pause(ctx, time.Second)

	d.say("clean stop: SIGTERM to lubdub on node1 (hands over, no waiting for deadtime)")
	n1.proc.Signal(syscall.SIGTERM)
	if err := d.step(ctx, "SIGTERM on node1", "node2"); err != nil {
		return err
	}
	d.showStatus(n2)

	fmt.Fprintf(d.out, "timeline (keepalive %s, deadtime %s):\n\n| step | client-visible outage |\n| --- | --- |\n",
		haconf.FormatDuration(d.keepalive), haconf.FormatDuration(d.deadtime))
	for _, s := range d.steps {
		fmt.Fprintf(d.out, "| %s | %s |\n", s[0], s[1])
	}
	fmt.Fprintln(d.out)
	if d.part == "all" {
		if err := d.runLVS(ctx); err != nil {
			return err
		}
	}
	d.say("done; removing the demo network")
	return nil
}

// step waits for the client to be served by `by` and records the outage
// the client saw.
func (d *demo) step(ctx context.Context, what, by string) error {
	before := len(probe.Outages(d.probe.Output()))
	if err := d.servedBy(ctx, by, 30*time.Second); err != nil {
		return fmt.Errorf("%s: the client was not served by %s: %w", what, by, err)
	}
	outage := "none"
	if o := probe.Outages(d.probe.Output()); len(o) > before {
		outage = fmt.Sprintf("%.3fs", o[len(o)-1].Seconds())
	}
	d.say("the client is served by %s; it saw an outage of %s", by, outage)
	d.steps = append(d.steps, [2]string{what, outage})
	return nil
}

// servedBy waits until the client's last answer came from the node.
func (d *demo) servedBy(ctx context.Context, node string, timeout time.Duration) error {
	return d.wait(ctx, timeout, func() bool { return probe.ServedBy(d.probe.Output(), node) })
}

// pause lets the cluster run so that a reader can follow.
func (d *demo) pause(ctx context.Context, t time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(t):
	}
}

func (d *demo) startNode(n *demoNode) error {
	p, err := n.host.Start(n.name+".log", d.self, "run", "-c", n.dir, "--node", n.name, "--state-dir", n.state, "--socket", n.sock)
	if err != nil {
		return fmt.Errorf("starting lubdub on %s: %w", n.name, err)
	}
	n.proc = p
	return nil
}

func (d *demo) showStatus(on *demoNode) {
	r, err := control.Call(on.sock, control.Request{Cmd: "status"}, time.Second)
	if err != nil {
		return
	}
	fmt.Fprintf(d.out, "\n$ lubdub status   # on %s\n", on.name)
	printStatus(d.out, r.Status)
	fmt.Fprintln(d.out)
}

// wait polls cond every 5ms, bounded by timeout and ctx.
func (d *demo) wait(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (d *demo) cleanup() error {
	// Daemons first, cleanly, so that they take down what they started.
	for _, n := range d.nodes {
		if n.proc != nil && n.proc.Running() {
			n.proc.Signal(syscall.SIGTERM)
			n.proc.Wait(10 * time.Second)
		}
	}
	var err error
	for _, l := range []*lab.Lab{d.lab, d.lvsLab} {
		if l == nil {
			continue
		}
		if cerr := l.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
	return err
}
