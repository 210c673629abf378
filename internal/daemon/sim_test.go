package daemon

import (
	"container/heap"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/media"
	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/resource"
	"github.com/lubdub/lubdub/internal/wire"
)

// The simulation runs whole nodes (Node, with the real membership and
// placement machines, codec and authentication) in one process over an
// in-memory network, on a virtual clock, with faults injected from a seed.
// An oracle checks after every event that no group runs on two nodes
// while the rules promise it cannot, and that the cluster converges once
// the faults end.

var (
	simSeeds = flag.Int("seeds", 200, "simulation: random histories to run")
	simSeed  = flag.Uint64("seed", 0, "simulation: run this one seed (replay a failure)")
)

// event is one thing due at a virtual time.
type event struct {
	at  time.Time
	seq int
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	return q[i].at.Before(q[j].at) || (q[i].at.Equal(q[j].at) && q[i].seq < q[j].seq)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// sim is a cluster on a virtual clock.
type sim struct {
	t     *testing.T
	rng   *rand.Rand
	now   time.Time
	seq   int
	queue eventQueue
	cfg   *haconf.Config
	nodes map[string]*simNode
	names []string
	trace []string

	// faults
	drop   map[[2]string]bool // from, to: frames dropped
	loss   map[string]float64 // frames from or to the node lost with this chance
	delay  time.Duration      // added to every delivery
	unsafe bool               // a fault that may give two owners has happened
	// fencing: a power switch that resets its target fenceTime after it
	// is asked (0: none); fenceBroken makes it fail.
	fenceTime   time.Duration
	fenceBroken bool
	fenced      bool // quorum and watchdog self-fencing: no fault may give two owners
	// ping nodes (ha.cf's ping line, pingTieBreaker): a router every node
	// reaches unless its uplink is lost (noRouter) or it is cut off
	// altogether (cutOff: no frames, no ARP, no router).
	ping     bool
	noRouter map[string]bool
	cutOff   map[string]bool
}

// simNode is one node: its Node while its daemon runs, and the resources
// in use on its machine, which outlive the daemon.
type simNode struct {
	s       *sim
	name    string
	node    *Node
	gen     uint64
	paused  bool
	backlog []func()
	wake    int            // token of the current wake-up event
	inUse   map[int]string // group -> operation holding it (start begun until stop done)
	opDelay time.Duration
	// announced: when the node announced a group's addresses again;
	// started: when it began starting a group
	announced []time.Time
	started   []time.Time
	// watchdog: the machine resets when its daemon has not fed it for
	// this long (0: no watchdog); fed: when it last did.
	watchdog time.Duration
	fed      time.Time
	// events: what the node's daemons reported, in order; failStart: its
	// starts fail.
	events    []events.Event
	failStart bool
	// failStop: its stops fail and leave the group running (until the
	// machine is powered off).
	failStop bool
}

// simMedium is a broadcast segment endpoint.
type simMedium struct {
	n    *simNode
	link string
}

func (m *simMedium) Link() string        { return m.link }
func (m *simMedium) Format() wire.Format { return wire.Netstring }
func (m *simMedium) Close() error        { return nil }
func (m *simMedium) Send(frame []byte) error {
	s := m.n.s
	for _, to := range s.names {
		if to == m.n.name || s.drop[[2]string{m.n.name, to}] || s.cutOff[m.n.name] || s.cutOff[to] {
			continue
		}
		if p := max(s.loss[m.n.name], s.loss[to]); p > 0 && s.rng.Float64() < p {
			continue
		}
		data := append([]byte(nil), frame...)
		from, dst := m.n.name, s.nodes[to]
		s.after(s.delay+time.Duration(s.rng.IntN(500))*time.Microsecond, func() {
			dst.deliver(func() {
				if dst.node != nil {
					dst.node.Packet(s.now, media.Packet{Link: m.link, From: from, Data: data})
				}
			})
		})
	}
	return nil
}

// Run is the node's executor: operations end after opDelay, always well.
func (n *simNode) Run(g int, op resource.Op) {
	gen := n.gen
	if op == resource.Announce {
		n.announced = append(n.announced, n.s.now)
		n.s.logf("%s announces group %d", n.name, g)
		return
	}
	if op == resource.Start {
		n.inUse[g] = "start"
		n.started = append(n.started, n.s.now)
	}
	if op != resource.Monitor {
		extra := ""
		if n.node != nil {
			extra = " quorum " + n.node.eng.QuorumStatus() + " desired " + n.node.eng.(*placement.Engine).Desired(g)
			for _, v := range n.node.eng.Groups() {
				extra += fmt.Sprintf(" %v", v.Nodes)
			}
		}
		n.s.logf("%s %s group %d%s", n.name, op, g, extra)
	}
	n.s.after(n.opDelay, func() {
		n.deliver(func() {
			if op == resource.Stop && !n.failStop {
				delete(n.inUse, g)
			}
			if n.gen == gen && n.node != nil {
				ok := (op != resource.Start || !n.failStart) && (op != resource.Stop || !n.failStop)
				var err error
				if !ok {
					err = fmt.Errorf("websrv: exit 1")
				}
				n.node.Result(n.s.now, resource.Result{Group: g, Op: op, OK: ok, Err: err})
			}
		})
	})
}

// deliver runs fn now, or when the node resumes if it is paused.
func (n *simNode) deliver(fn func()) {
	if n.paused {
		n.backlog = append(n.backlog, fn)
		return
	}
	fn()
	n.feed()
	n.schedule()
}

// feed feeds the watchdog as the daemon's loop does: only while the node
// may (quorum, or nothing held).
func (n *simNode) feed() {
	if n.node != nil && !n.paused && n.node.WatchdogOK() {
		n.fed = n.s.now
	}
}

// watchdogs resets every machine whose watchdog was not fed in time, and
// checks again 10ms later.
func (s *sim) watchdogs() {
	for _, name := range s.names {
		n := s.nodes[name]
		if n.watchdog > 0 && n.node != nil && s.now.Sub(n.fed) > n.watchdog {
			s.logf("%s: watchdog reset (not fed for %v)", name, s.now.Sub(n.fed))
			s.powerOff(name)
		}
	}
	s.after(10*time.Millisecond, s.watchdogs)
}

// schedule sets the node's next wake-up.
func (n *simNode) schedule() {
	if n.node == nil {
		return
	}
	n.wake++
	tok := n.wake
	at := n.node.NextWakeup()
	if at.Before(n.s.now) {
		at = n.s.now
	}
	n.s.at(at, func() {
		if tok != n.wake || n.node == nil {
			return
		}
		n.deliver(func() { n.node.Tick(n.s.now) })
	})
}

func (s *sim) at(t time.Time, fn func()) {
	s.seq++
	heap.Push(&s.queue, &event{at: t, seq: s.seq, fn: fn})
}

func (s *sim) after(d time.Duration, fn func()) { s.at(s.now.Add(d), fn) }

// simVerbose puts the nodes' own log lines into the trace (-v with a
// replayed -seed).
var simVerbose = flag.Bool("simlog", false, "simulation: trace the nodes' log lines")

// nodeLog is a node's logger: its lines go into the trace with -simlog.
func (s *sim) nodeLog(name string) *slog.Logger {
	if !*simVerbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(traceHandler{s: s, node: name})
}

type traceHandler struct {
	s    *sim
	node string
}

func (h traceHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h traceHandler) Handle(_ context.Context, r slog.Record) error {
	h.s.logf("  [%s %s] %s", h.node, r.Level, r.Message)
	return nil
}
func (h traceHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h traceHandler) WithGroup(string) slog.Handler      { return h }

func (s *sim) logf(format string, a ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%8.3fs ", s.now.Sub(simEpoch).Seconds())+fmt.Sprintf(format, a...))
}

var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newSim builds n nodes from a real configuration directory.
func newSim(t *testing.T, seed uint64, nodes int, groups string, extraHacf string) *sim {
	t.Helper()
	var names []string
	for i := 1; i <= nodes; i++ {
		names = append(names, fmt.Sprintf("node%d", i))
	}
	dir := t.TempDir()
	files := map[string]string{
		"ha.cf":       "keepalive 100ms\ndeadtime 400ms\nwarntime 250ms\ninitdead 1\nbcast eth0\nnode " + strings.Join(names, " ") + "\n" + extraHacf,
		"authkeys":    "auth 1\n1 sha256 sim\n",
		"haresources": groups,
		"lubdub.cf":   "monitor_interval 0\n",
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, rep := haconf.Load(dir, haconf.Options{})
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: simEpoch, cfg: cfg,
		nodes: map[string]*simNode{}, names: names, drop: map[[2]string]bool{}, loss: map[string]float64{},
		noRouter: map[string]bool{}, cutOff: map[string]bool{}}
	for _, name := range names {
		s.nodes[name] = &simNode{s: s, name: name, inUse: map[int]string{}, opDelay: 20 * time.Millisecond}
	}
	return s
}

// boot starts a node's daemon (a new generation), as a machine that boots.
func (s *sim) boot(name string) {
	n := s.nodes[name]
	n.gen++
	seams := Seams{
		OpenMedium: func(m haconf.Medium) (media.Medium, error) { return &simMedium{n: n, link: m.Name()}, nil },
		Exec:       n,
		Event:      func(e events.Event) { n.events = append(n.events, e) },
	}
	if s.fenceTime > 0 {
		gen := n.gen
		seams.Fence = func(peer string) {
			s.logf("%s fences %s", name, peer)
			s.after(s.fenceTime, func() {
				ok := !s.fenceBroken
				if ok {
					s.logf("%s: power switch resets %s", name, peer)
					s.powerOff(peer)
				}
				if n.gen == gen && n.node != nil {
					n.deliver(func() { n.node.Fenced(s.now, peer, FenceResult{OK: ok, Detail: "sim"}) })
				}
			})
		}
	}
	if s.ping {
		s.pingSeams(n, &seams)
	}
	id := Identity{Node: name, Generation: n.gen, UUID: []byte(fmt.Sprintf("uuid-%-11s", name)), Started: s.now}
	blocked := make([]bool, len(s.cfg.Groups))
	for g := range n.inUse {
		blocked[g] = true // the daemon died with the group running: lubdub stops it or blocks it
	}
	n.node = NewNode(s.cfg, id, seams, blocked, s.now, s.nodeLog(name))
	n.paused = false
	n.fed = s.now
	s.logf("%s boots (generation %d)", name, n.gen)
	n.schedule()
}

// powerOff stops a machine: its daemon and its resources.
func (s *sim) powerOff(name string) {
	n := s.nodes[name]
	n.node, n.paused, n.backlog = nil, false, nil
	clear(n.inUse)
	s.logf("%s powered off", name)
}

func (s *sim) pause(name string, d time.Duration) {
	n := s.nodes[name]
	if n.node == nil || n.paused {
		return
	}
	n.paused = true
	s.logf("%s paused for %v", name, d)
	s.after(d, func() {
		if !n.paused {
			return
		}
		n.paused = false
		s.logf("%s resumes", name)
		backlog := n.backlog
		n.backlog = nil
		for _, fn := range backlog {
			if n.node != nil {
				fn()
			}
		}
		n.feed()
		n.schedule()
	})
}

// run processes events until until.
func (s *sim) run(until time.Time) {
	for s.queue.Len() > 0 && !s.queue[0].at.After(until) {
		e := heap.Pop(&s.queue).(*event)
		s.now = e.at
		e.fn()
		s.check()
	}
	s.now = until
}

func (s *sim) runFor(d time.Duration) { s.run(s.now.Add(d)) }

// control sends a control request to a node's daemon, as lubdub standby
// and takeover do.
func (s *sim) control(name, cmd, arg string) string {
	n := s.nodes[name]
	if n.node == nil || n.paused {
		return "not running"
	}
	r := n.node.Answer(s.now, controlRequest(cmd, arg))
	n.schedule()
	s.logf("%s: %s %s: %s%s", name, cmd, arg, r.Value, r.Error)
	return r.Error
}

// holders lists the machines on which group g is in use.
func (s *sim) holders(g int) []string {
	var out []string
	for _, name := range s.names {
		if _, ok := s.nodes[name].inUse[g]; ok {
			out = append(out, name)
		}
	}
	return out
}

// check is the safety oracle: no group is in use on two machines, while
// no fault that may give two owners has happened, or always where quorum
// and watchdog self-fencing are configured (fenced).
func (s *sim) check() {
	if s.unsafe && !s.fenced {
		return
	}
	for g := range s.cfg.Groups {
		if h := s.holders(g); len(h) > 1 {
			s.fail("group %s in use on %v at once", s.cfg.Groups[g].ID(), h)
		}
	}
}

func (s *sim) fail(format string, a ...any) {
	s.t.Helper()
	msg := fmt.Sprintf(format, a...)
	s.logf("FAILED: %s", msg)
	tail := s.trace
	if len(tail) > 60 {
		tail = tail[len(tail)-60:]
	}
	s.t.Fatalf("%s\n%s", msg, strings.Join(tail, "\n"))
}

// converged reports whether every running node agrees on one owner for
// every group, and the group is in use on that owner's machine alone.
func (s *sim) converged() (bool, string) {
	for g, grp := range s.cfg.Groups {
		owner := ""
		for _, name := range s.names {
			n := s.nodes[name]
			if n.node == nil || n.paused {
				continue
			}
			d := n.node.eng.(*placement.Engine).Desired(g)
			if owner == "" {
				owner = d
			}
			if d != owner || d == "" {
				return false, fmt.Sprintf("group %s: %s wants %q, another %q", grp.ID(), name, d, owner)
			}
		}
		if h := s.holders(g); len(h) != 1 || h[0] != owner || s.nodes[owner].inUse[g] != "start" {
			return false, fmt.Sprintf("group %s: owner %s, in use on %v", grp.ID(), owner, h)
		}
		if st := s.nodes[owner].node.eng.Local(g); st != "running" {
			return false, fmt.Sprintf("group %s: owner %s says %s", grp.ID(), owner, st)
		}
	}
	return true, ""
}

// settle runs until the cluster converges, failing after limit.
func (s *sim) settle(limit time.Duration) {
	s.t.Helper()
	deadline := s.now.Add(limit)
	for s.now.Before(deadline) {
		s.runFor(20 * time.Millisecond)
		if ok, _ := s.converged(); ok {
			return
		}
	}
	_, why := s.converged()
	s.fail("not converged %v after the last fault: %s", limit, why)
}
