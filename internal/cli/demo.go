package cli

import (
	"context"
	"crypto/rand"
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
)

// cmdDemo builds a cluster in network namespaces on this machine, runs
// lubdub on every node, crashes and restarts a node, stops one cleanly,
// prints a timeline, and removes everything it made.
func cmdDemo(env *Env, args []string) int {
	fs := newFlags(env, "demo", "[--nodes N] [--keepalive T] [--deadtime T]")
	count := fs.Int("nodes", 3, "number of nodes (2-9)")
	keepalive := fs.String("keepalive", "100ms", "ha.cf keepalive")
	deadtime := fs.String("deadtime", "400ms", "ha.cf deadtime")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *count < 2 || *count > 9 {
		fmt.Fprintln(env.Stderr, "lubdub demo: --nodes must be from 2 to 9")
		return 2
	}
	ka, err1 := haconf.ParseTime(*keepalive)
	dt, err2 := haconf.ParseTime(*deadtime)
	if err1 != nil || err2 != nil || dt <= 2*ka {
		fmt.Fprintln(env.Stderr, "lubdub demo: --keepalive and --deadtime must be times, deadtime more than twice keepalive")
		return 2
	}
	if err := lab.Available(); err != nil {
		fmt.Fprintf(env.Stderr, "lubdub demo: %v (run it as root: sudo lubdub demo)\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub demo: finding the lubdub binary: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(env.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{out: env.Stdout, self: self, keepalive: ka, deadtime: dt, start: time.Now()}
	err = d.run(ctx, *count)
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
	nodes     []*demoNode
}

type demoNode struct {
	name, dir, state, sock string
	host                   *lab.Host
	proc                   *lab.Proc
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.out, "[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, a...))
}

func (d *demo) run(ctx context.Context, count int) error {
	dir, err := os.MkdirTemp("", "lubdub-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	lab.SweepStale()
	d.lab, err = lab.New(dir)
	if err != nil {
		return fmt.Errorf("building the demo network: %w", err)
	}
	if err := d.lab.Segment("br0", 0); err != nil {
		return err
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	var names []string
	for i := 1; i <= count; i++ {
		names = append(names, fmt.Sprintf("node%d", i))
	}
	hacf := fmt.Sprintf("keepalive %s\ndeadtime %s\ninitdead 5s\nudpport 694\nbcast eth0\nnode %s\n",
		haconf.FormatDuration(d.keepalive), haconf.FormatDuration(d.deadtime), strings.Join(names, " "))
	fmt.Fprintf(d.out, "lubdub demo: %d nodes on one Ethernet segment (198.18.0.0/24, each in its own network namespace)\n", count)
	fmt.Fprintf(d.out, "ha.cf:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(hacf), "\n", "\n  "))
	for i, name := range names {
		h, err := d.lab.Host(name)
		if err != nil {
			return err
		}
		addr, err := h.Attach("br0", "eth0", i+1)
		if err != nil {
			return err
		}
		n := &demoNode{name: name, host: h, dir: filepath.Join(dir, name), state: filepath.Join(dir, name+"-state"), sock: filepath.Join(dir, name+".sock")}
		os.MkdirAll(n.dir, 0o755)
		os.WriteFile(filepath.Join(n.dir, "ha.cf"), []byte(hacf), 0o644)
		os.WriteFile(filepath.Join(n.dir, "authkeys"), []byte("auth 1\n1 sha256 "+hex.EncodeToString(secret)+"\n"), 0o600)
		d.nodes = append(d.nodes, n)
		d.say("%s is %s", name, addr)
	}
	for _, n := range d.nodes {
		if err := d.startNode(n); err != nil {
			return err
		}
	}
	first, victim, leaver := d.nodes[0], d.nodes[len(d.nodes)-1], d.nodes[1]

	t0 := time.Now()
	if err := d.wait(ctx, 15*time.Second, func() bool { return d.allActive() }); err != nil {
		return fmt.Errorf("nodes did not come up: %w", err)
	}
	d.say("all %d nodes list each other as active (%.0f ms after start)", count, ms(time.Since(t0)))
	d.showStatus(first)
	d.pause(ctx, time.Second)

	gen := d.view(first, victim.name).Generation
	d.say("crash: SIGKILL to lubdub on %s", victim.name)
	t0 = time.Now()
	victim.proc.Signal(syscall.SIGKILL)
	if err := d.wait(ctx, 10*time.Second, func() bool { return d.view(first, victim.name).Status == "dead" }); err != nil {
		return err
	}
	took := time.Since(t0)
	d.say("%s reports %s dead %.0f ms after the crash (deadtime %s, keepalive %s)", first.name, victim.name, ms(took),
		haconf.FormatDuration(d.deadtime), haconf.FormatDuration(d.keepalive))

	d.say("restart: lubdub run on %s", victim.name)
	t0 = time.Now()
	if err := d.startNode(victim); err != nil {
		return err
	}
	if err := d.wait(ctx, 15*time.Second, func() bool { return d.allActive() }); err != nil {
		return err
	}
	d.say("%s is back, active, %.0f ms after its restart; generation %d -> %d", victim.name, ms(time.Since(t0)), gen, d.view(first, victim.name).Generation)
	d.pause(ctx, time.Second)

	if leaver != first && leaver != victim {
		d.say("clean stop: SIGTERM to lubdub on %s", leaver.name)
		t0 = time.Now()
		leaver.proc.Signal(syscall.SIGTERM)
		if err := d.wait(ctx, 10*time.Second, func() bool { return d.view(first, leaver.name).Status == "dead" }); err != nil {
			return err
		}
		d.say("%s reports %s stopped %.0f ms after SIGTERM (no waiting for deadtime)", first.name, leaver.name, ms(time.Since(t0)))
	}
	d.showStatus(first)
	d.say("done; removing the demo network")
	return nil
}

// pause lets the cluster run so that a reader can follow.
func (d *demo) pause(ctx context.Context, t time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(t):
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (d *demo) startNode(n *demoNode) error {
	p, err := n.host.Start(n.name+".log", d.self, "run", "-c", n.dir, "--node", n.name, "--state-dir", n.state, "--socket", n.sock)
	if err != nil {
		return fmt.Errorf("starting lubdub on %s: %w", n.name, err)
	}
	n.proc = p
	return nil
}

func (d *demo) view(on *demoNode, name string) control.Node {
	r, err := control.Call(on.sock, control.Request{Cmd: "status"}, time.Second)
	if err != nil {
		return control.Node{}
	}
	for _, v := range r.Status.Nodes {
		if v.Name == name {
			return v
		}
	}
	return control.Node{}
}

func (d *demo) allActive() bool {
	for _, on := range d.nodes {
		for _, n := range d.nodes {
			if d.view(on, n.name).Status != "active" {
				return false
			}
		}
	}
	return true
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
	var err error
	if d.lab != nil {
		err = d.lab.Close()
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
	return err
}
