package placement

import (
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seeds is how many random histories TestRandomHistoriesNeverDoubleOwn runs.
var seeds = flag.Int("seeds", 300, "random histories to run")

// sim is a cluster of engines with instant, reliable messaging and an
// executor whose operations succeed unless told otherwise. It checks after
// every event that no two connected nodes hold a group.
type sim struct {
	t       *testing.T
	epoch   uint64
	cfg     Config
	nodes   map[string]*simNode
	queue   []envelope
	trace   strings.Builder
	failOn  map[string]bool // "node/op/group" fails
	shuffle *rand.Rand      // when set, messages and operations interleave at random
	// initReach: ping counts the nodes know when bootAll starts them.
	initReach map[string]int
	// sent: each node's last report.
	sent map[string]*wire.Message
}

type simNode struct {
	e   *Engine
	up  bool
	ops []Run
}

type envelope struct {
	from string
	msg  *wire.Message
}

func newSim(t *testing.T, nodes []string, groups []Group, autoFailback string) *sim {
	return &sim{t: t, cfg: Config{Nodes: nodes, Groups: groups, AutoFailback: autoFailback, MaxRestarts: 2},
		nodes: map[string]*simNode{}, failOn: map[string]bool{}}
}

func (s *sim) handle(node string, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			s.queue = append(s.queue, envelope{from: node, msg: a.Msg})
			if _, ok := a.Msg.Get("rev"); ok {
				if s.sent == nil {
					s.sent = map[string]*wire.Message{}
				}
				s.sent[node] = a.Msg
			}
		case Run:
			s.nodes[node].ops = append(s.nodes[node].ops, a)
		}
	}
	s.check()
}

// check: at most one connected node may hold each group.
func (s *sim) check() {
	for g := range s.cfg.Groups {
		var holders []string
		for _, n := range s.cfg.Nodes {
			if sn := s.nodes[n]; sn != nil && sn.up && sn.e.Acting(g) {
				holders = append(holders, n+"="+string(sn.e.local[g]))
			}
		}
		if len(holders) > 1 {
			s.t.Fatalf("group %d held by %v at once\n%s", g, holders, s.trace.String())
		}
	}
}

// settle delivers messages and completes operations until nothing moves.
func (s *sim) settle() {
	for round := 0; round < 2000; round++ {
		if len(s.queue) > 0 && (s.shuffle == nil || s.shuffle.IntN(3) > 0 || !s.anyOps()) {
			i := 0
			if s.shuffle != nil {
				i = s.shuffle.IntN(len(s.queue))
			}
			env := s.queue[i]
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			for _, n := range s.cfg.Nodes {
				if sn := s.nodes[n]; sn != nil && sn.up && n != env.from && s.nodes[env.from].up {
					s.handle(n, sn.e.Receive(env.from, env.msg))
				}
			}
			continue
		}
		progressed := false
		for _, n := range s.cfg.Nodes {
			sn := s.nodes[n]
			if sn == nil || !sn.up || len(sn.ops) == 0 {
				continue
			}
			op := sn.ops[0]
			sn.ops = sn.ops[1:]
			ok := !s.failOn[fmt.Sprintf("%s/%s/%d", n, op.Op, op.Group)]
			fmt.Fprintf(&s.trace, "  %s %s %s: %s\n", n, op.Op, s.cfg.Groups[op.Group].ID, map[bool]string{true: "ok", false: "FAILED"}[ok])
			s.handle(n, sn.e.Done(op.Group, op.Op, ok))
			progressed = true
			break
		}
		if !progressed {
			return
		}
	}
	s.t.Fatal("the cluster did not settle")
}

func (s *sim) anyOps() bool {
	for _, sn := range s.nodes {
		if sn.up && len(sn.ops) > 0 {
			return true
		}
	}
	return false
}

func (s *sim) step(desc string, f func()) {
	fmt.Fprintf(&s.trace, "%s\n", desc)
	f()
	s.settle()
	for g, grp := range s.cfg.Groups {
		var parts []string
		for _, n := range s.cfg.Nodes {
			if sn := s.nodes[n]; sn != nil && sn.up {
				parts = append(parts, n+"="+string(sn.e.local[g]))
			}
		}
		fmt.Fprintf(&s.trace, "  => %s: %s\n", grp.ID, strings.Join(parts, " "))
	}
}

// boot starts a node: it learns of the live peers, then joins.
func (s *sim) boot(n string, probe ...bool) {
	cfg := s.cfg
	cfg.Local = n
	s.epoch++
	cfg.Epoch = s.epoch
	sn := &simNode{e: New(cfg, slog.New(slog.DiscardHandler)), up: true}
	s.nodes[n] = sn
	if len(probe) > 0 {
		sn.e.Probe(probe)
	}
	for _, p := range s.cfg.Nodes {
		if pn := s.nodes[p]; pn != nil && pn.up && p != n {
			s.handle(p, pn.e.NodeUp(n))
			s.handle(n, sn.e.NodeUp(p))
			// failback_delay 0: settled at once
			s.handle(p, pn.e.Settled(n))
			s.handle(n, sn.e.Settled(p))
		}
	}
	s.views()
	s.handle(n, sn.e.Ready())
}

// views tells every live node who is alive, as membership does.
func (s *sim) views() {
	var up []string
	for _, n := range s.cfg.Nodes {
		if sn := s.nodes[n]; sn != nil && sn.up {
			up = append(up, n)
		}
	}
	for _, n := range up {
		s.handle(n, s.nodes[n].e.View(up, up))
	}
}

// bootAll starts nodes together: they hear each other before joining.
func (s *sim) bootAll(names ...string) {
	for _, n := range names {
		cfg := s.cfg
		cfg.Local = n
		s.epoch++
		cfg.Epoch = s.epoch
		s.nodes[n] = &simNode{e: New(cfg, slog.New(slog.DiscardHandler)), up: true}
	}
	for _, n := range names {
		for _, p := range names {
			if p != n {
				s.handle(n, s.nodes[n].e.NodeUp(p))
				s.handle(n, s.nodes[n].e.Settled(p))
			}
		}
	}
	s.views()
	for _, n := range names {
		if r, ok := s.initReach[n]; ok {
			s.handle(n, s.nodes[n].e.Reach(r)) // the daemon knows its ping count before it joins
		}
		s.handle(n, s.nodes[n].e.Ready())
	}
}

func (s *sim) kill(n string) {
	s.nodes[n].up = false
	s.nodes[n].ops = nil
	// Its messages still in flight die with it: membership drops messages
	// of an older generation once the node restarts.
	kept := s.queue[:0]
	for _, env := range s.queue {
		if env.from != n {
			kept = append(kept, env)
		}
	}
	s.queue = kept
	for _, p := range s.cfg.Nodes {
		if pn := s.nodes[p]; pn != nil && pn.up {
			s.handle(p, pn.e.NodeDown(n))
		}
	}
	s.views()
}

func (s *sim) golden(name string) {
	s.t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got := s.trace.String()
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		s.t.Errorf("trace differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func (s *sim) owner(g int) string {
	var out []string
	for _, n := range s.cfg.Nodes {
		if sn := s.nodes[n]; sn != nil && sn.up && sn.e.local[g] == Running {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

var web = []Group{{ID: "IPaddr2::198.18.0.10/24/eth0", Preferred: "node1"}}

func TestTwoNodeFailoverAndFailback(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("node1 and node2 start", func() { s.bootAll("node1", "node2") })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q, want the preferred node1", s.owner(0))
	}
	s.step("node1 dies", func() { s.kill("node1") })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q after node1's death", s.owner(0))
	}
	s.step("node1 returns (auto_failback on)", func() { s.boot("node1") })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q after failback", s.owner(0))
	}
	s.golden("failover-failback-on")
}

func TestAutoFailbackOffKeepsOwner(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "off")
	s.step("node2 starts alone; node1 is down", func() { s.boot("node2") })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q", s.owner(0))
	}
	s.step("node1 starts (auto_failback off)", func() { s.boot("node1") })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q: the group moved back with auto_failback off", s.owner(0))
	}
	s.step("takeover all on node1", func() {
		acts, err := s.nodes["node1"].e.Takeover(All)
		if err != nil {
			t.Fatal(err)
		}
		s.handle("node1", acts)
	})
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q after takeover", s.owner(0))
	}
	s.step("node1 dies; node2 takes over", func() { s.kill("node1") })
	s.step("node1 returns: the group stays on node2", func() { s.boot("node1") })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q: a lapsed takeover pulled the group back", s.owner(0))
	}
	s.golden("failback-off")
}

func TestStandbyAndTakeover(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("start", func() { s.bootAll("node1", "node2") })
	s.step("standby all on node1", func() {
		acts, err := s.nodes["node1"].e.Standby(All)
		if err != nil {
			t.Fatal(err)
		}
		s.handle("node1", acts)
	})
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q after standby", s.owner(0))
	}
	s.step("takeover all on node1", func() {
		acts, _ := s.nodes["node1"].e.Takeover(All)
		s.handle("node1", acts)
	})
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q after takeover", s.owner(0))
	}
	s.step("standby on node1, then node1 restarts: failback (auto_failback on)", func() {
		acts, _ := s.nodes["node1"].e.Standby(Local)
		s.handle("node1", acts)
		s.settle()
		s.kill("node1")
		s.settle()
		s.boot("node1")
	})
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q", s.owner(0))
	}
	s.golden("standby-takeover")
}

func TestFailedStartMovesGroup(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.failOn["node1/start/0"] = true
	s.step("start; node1 cannot start the group", func() { s.bootAll("node1", "node2") })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q", s.owner(0))
	}
	if st := s.nodes["node1"].e.local[0]; st != Failed {
		t.Fatalf("node1 state %s", st)
	}
	s.golden("failed-start")
}

func TestFailedStopBlocksGroupEverywhere(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("start", func() { s.bootAll("node1", "node2") })
	s.failOn["node1/stop/0"] = true
	s.step("standby on node1; its stop fails", func() {
		acts, _ := s.nodes["node1"].e.Standby(All)
		s.handle("node1", acts)
	})
	if s.owner(0) != "" || s.nodes["node1"].e.local[0] != Blocked || s.nodes["node2"].e.local[0] != Stopped {
		t.Fatalf("owner %q, node1 %s, node2 %s", s.owner(0), s.nodes["node1"].e.local[0], s.nodes["node2"].e.local[0])
	}
	delete(s.failOn, "node1/stop/0")
	s.step("operator clears node1 (lubdub cleanup)", func() { s.handle("node1", s.nodes["node1"].e.Cleanup(0)) })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q after cleanup", s.owner(0))
	}
	s.golden("failed-stop")
}

func TestMonitorRestartsThenMoves(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("start", func() { s.bootAll("node1", "node2") })
	for i := 1; i <= 3; i++ {
		s.step(fmt.Sprintf("monitor failure %d on node1", i), func() { s.handle("node1", s.nodes["node1"].e.MonitorFailed(0)) })
	}
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q after repeated monitor failures", s.owner(0))
	}
	s.golden("monitor")
}

// Three nodes: the documented rule picks the first live node after the
// preferred one in ha.cf order.
func TestThreeNodesDeterministic(t *testing.T) {
	groups := []Group{{ID: "g1", Preferred: "a"}, {ID: "g2", Preferred: "b"}, {ID: "g3", Preferred: "c"}}
	s := newSim(t, []string{"a", "b", "c"}, groups, "on")
	s.step("a, b, c start", func() { s.bootAll("a", "b", "c") })
	s.step("b dies: g2 goes to c", func() { s.kill("b") })
	if s.owner(1) != "c" {
		t.Fatalf("g2 owner %q", s.owner(1))
	}
	s.step("c dies too: a alone has no quorum (1 of 3): it stops every group", func() { s.kill("c") })
	if s.owner(0) != "" || s.owner(1) != "" || s.owner(2) != "" {
		t.Fatalf("owners %q %q %q", s.owner(0), s.owner(1), s.owner(2))
	}
	s.step("b returns: a and b have quorum", func() { s.boot("b") })
	if s.owner(0) != "a" || s.owner(1) != "b" || s.owner(2) != "a" {
		t.Fatalf("owners %q %q %q", s.owner(0), s.owner(1), s.owner(2))
	}
	s.golden("three-nodes")
}

// A group that would not stop at start-up is blocked: nobody starts it.
func TestProbeBlocks(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "on")
	s.step("node1 starts with the group stuck running; node2 starts", func() {
		s.boot("node1", true)
		s.boot("node2")
	})
	if s.owner(0) != "" || s.nodes["node1"].e.Local(0) != Blocked {
		t.Fatalf("owner %q, node1 %s", s.owner(0), s.nodes["node1"].e.Local(0))
	}
	s.step("operator clears it on node1", func() { s.handle("node1", s.nodes["node1"].e.Cleanup(0)) })
	if s.owner(0) != "node1" {
		t.Fatalf("owner %q", s.owner(0))
	}
	s.golden("probe")
}

func TestHeldAndViews(t *testing.T) {
	groups := []Group{{ID: "g1", Preferred: "node1"}, {ID: "g2", Preferred: "node2"}}
	s := newSim(t, []string{"node1", "node2"}, groups, "on")
	s.step("start", func() { s.bootAll("node1", "node2") })
	if h := s.nodes["node1"].e.Held(); h != "local" {
		t.Errorf("node1 holds %s", h)
	}
	s.step("node2 dies", func() { s.kill("node2") })
	if h := s.nodes["node1"].e.Held(); h != "all" {
		t.Errorf("node1 holds %s", h)
	}
	v := s.nodes["node1"].e.Groups()
	if v[1].Owner != "node1" || v[1].Preferred != "node2" {
		t.Errorf("views %+v", v)
	}
	// Heartbeat 3.0.6 answers "transition" until it has joined.
	if !slices.Contains([]string{"transition"}, newSim(t, []string{"x"}, groups, "on").heldOfNew("x")) {
		t.Error("a fresh engine does not say transition")
	}
}

// rscstatus state by state, as a live Heartbeat 3.0.6 pair answered it
// (e2e TestClStatusDifferentialHeartbeat) with haresources "node1
// 198.18.9.10": a class counts even when no group is in it (issue 12,
// case 7).
func TestHeldAsHeartbeat(t *testing.T) {
	groups := []Group{{ID: "198.18.9.10", Preferred: "node1"}}
	s := newSim(t, []string{"node1", "node2"}, groups, "on")
	held := func(state string, want map[string]string) {
		t.Helper()
		for n, w := range want {
			if got := s.nodes[n].e.Held(); got != w {
				t.Errorf("%s: node %s rscstatus %q, Heartbeat says %q", state, n, got, w)
			}
		}
	}
	do := func(n string, f func(*Engine) ([]Action, error)) {
		acts, err := f(s.nodes[n].e)
		if err != nil {
			t.Fatal(err)
		}
		s.handle(n, acts)
	}
	s.step("start", func() { s.bootAll("node1", "node2") })
	held("healthy", map[string]string{"node1": "local", "node2": "local"})
	s.step("standby node1", func() { do("node1", func(e *Engine) ([]Action, error) { return e.Standby(All) }) })
	held("standby node1", map[string]string{"node1": "none", "node2": "all"})
	s.step("takeover node1", func() { do("node1", func(e *Engine) ([]Action, error) { return e.Takeover(All) }) })
	held("takeover node1", map[string]string{"node1": "all", "node2": "none"})
	s.step("node2 dies", func() { s.kill("node2") })
	held("crash node2", map[string]string{"node1": "all"})
	s.step("node2 returns", func() { s.boot("node2") })
	held("return node2", map[string]string{"node1": "local", "node2": "local"})
	s.step("node1 dies", func() { s.kill("node1") })
	held("crash node1", map[string]string{"node2": "all"})
	s.step("node1 returns", func() { s.boot("node1") })
	held("return node1", map[string]string{"node1": "local", "node2": "local"})
	// From healthy, a takeover by node2 of everything: node1 gives its
	// group and its class.
	s.step("takeover node2", func() { do("node2", func(e *Engine) ([]Action, error) { return e.Takeover(All) }) })
	held("takeover node2", map[string]string{"node1": "none", "node2": "all"})
}

func (s *sim) heldOfNew(n string) string {
	cfg := s.cfg
	cfg.Local = n
	return New(cfg, slog.New(slog.DiscardHandler)).Held()
}

// A report from a node with a different haresources blocks what it may hold.
func TestMismatchedConfigIsNotTrusted(t *testing.T) {
	cfg := Config{Local: "node2", Nodes: []string{"node1", "node2"}, Groups: web, AutoFailback: "on"}
	e := New(cfg, slog.New(slog.DiscardHandler))
	e.NodeUp("node1")
	e.Ready()
	m := &wire.Message{}
	m.Add(wire.FType, MsgType)
	m.Add("rev", "1")
	m.Add("ep", "1")
	m.Add("ack", "node2:0:1")
	m.Add("id0", "something-else")
	m.Add("st0", "stopped")
	m.Add("as0", "0 ")
	for _, a := range e.Receive("node1", m) {
		if r, ok := a.(Run); ok && r.Op == OpStart {
			t.Fatal("started a group that a node with another haresources may hold")
		}
	}
	if g := e.Groups()[0]; g.Nodes["node1"] != Blocked {
		t.Fatalf("node1's unknown state is %q, want blocked", g.Nodes["node1"])
	}
}

// Random histories of joins, deaths, standbys, takeovers, failed starts and
// stops and monitor failures: no two connected nodes ever hold a group, and
// once things settle, every group that some live node may run is running.
func TestRandomHistoriesNeverDoubleOwn(t *testing.T) {
	names := []string{"a", "b", "c"}
	groups := []Group{{ID: "g1", Preferred: "a"}, {ID: "g2", Preferred: "b"}}
	for seed := uint64(0); seed < uint64(*seeds); seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		mode := []string{"on", "off"}[seed%2]
		s := newSim(t, names, groups, mode)
		if seed%3 == 0 {
			s.shuffle = rand.New(rand.NewPCG(seed, 11))
		}
		s.bootAll(names...)
		s.settle()
		for step := 0; step < 40; step++ {
			n := names[r.IntN(len(names))]
			sn := s.nodes[n]
			k := r.IntN(8)
			fmt.Fprintf(&s.trace, "step %d: %s action %d (up %v)\n", step, n, k, sn.up)
			switch {
			case k == 0 && sn.up:
				s.kill(n)
			case k == 1 && !sn.up:
				s.boot(n)
			case k == 2 && sn.up:
				acts, _ := sn.e.Standby([]Which{All, Local, Foreign}[r.IntN(3)])
				s.handle(n, acts)
			case k == 3 && sn.up:
				acts, _ := sn.e.Takeover([]Which{All, Local, Foreign}[r.IntN(3)])
				s.handle(n, acts)
			case k == 4:
				key := fmt.Sprintf("%s/%s/%d", n, []Op{OpStart, OpStop}[r.IntN(2)], r.IntN(2))
				s.failOn[key] = !s.failOn[key]
			case k == 5 && sn.up:
				s.handle(n, sn.e.MonitorFailed(r.IntN(2)))
			case k == 6 && sn.up:
				s.handle(n, sn.e.Cleanup(r.IntN(2)))
			case k == 7 && sn.up && r.IntN(2) == 0:
				s.handle(n, sn.e.Leave())
				s.settle()
				s.kill(n)
			}
			if r.IntN(3) > 0 {
				s.settle()
			}
		}
		// Heal everything and check liveness: clear failures, clean up.
		s.failOn = map[string]bool{}
		s.settle()
		for _, n := range names {
			if !s.nodes[n].up {
				s.boot(n)
				s.settle()
			}
		}
		for _, n := range names {
			for g := range groups {
				s.handle(n, s.nodes[n].e.Cleanup(g))
				s.settle()
			}
		}
		for g := range groups {
			if s.owner(g) == "" {
				var st strings.Builder
				for _, n := range names {
					e := s.nodes[n].e
					fmt.Fprintf(&st, "%s: up=%v local=%v busy=%v assign=%v claims=%v rev=%d seen=%v acksent=%v\n", n, s.nodes[n].up, e.local, e.busy, e.assign, e.claims, e.rev, e.seenRev, e.ackSent)
					for p, r := range e.reports {
						fmt.Fprintf(&st, "   report from %s: %+v\n", p, *r)
					}
				}
				t.Fatalf("seed %d (auto_failback %s): group %s runs nowhere after healing\n%s\n%s", seed, mode, groups[g].ID, s.trace.String(), st.String())
			}
		}
	}
}

// A clean shutdown hands every group over before the node goes.
func TestLeaveHandsOver(t *testing.T) {
	s := newSim(t, []string{"node1", "node2"}, web, "off")
	s.step("start", func() { s.bootAll("node1", "node2") })
	s.step("node1 shuts down cleanly", func() { s.handle("node1", s.nodes["node1"].e.Leave()) })
	if !s.nodes["node1"].e.Idle() {
		t.Fatal("node1 not idle after leaving")
	}
	s.step("node1 goes", func() { s.kill("node1") })
	if s.owner(0) != "node2" {
		t.Fatalf("owner %q", s.owner(0))
	}
	s.golden("leave")
}

// Whatever a peer reports, the engine neither panics nor starts a group
// that the peer may hold.
func FuzzReceiveReport(f *testing.F) {
	f.Add([]byte(">>>\nt=lubdub-rsc\nrev=1\nep=1\nack=node2:7:1\nid0=IPaddr2::198.18.0.10/24/eth0\nst0=stopped\nas0=0 \n<<<\n"))
	f.Add([]byte(">>>\nt=lubdub-rsc\nrev=99999999999999999999\nep=x\nid0=g\nst0=starting\ncr0=5\nas0=5 node1\nlv=1\n<<<\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := wire.Decode(b)
		if err != nil {
			return
		}
		e := New(Config{Local: "node2", Nodes: []string{"node1", "node2"}, Groups: web, AutoFailback: "on", Epoch: 7}, slog.New(slog.DiscardHandler))
		e.NodeUp("node1")
		e.Ready()
		acts := e.Receive("node1", p.Msg)
		r := e.reports["node1"]
		for _, a := range acts {
			if run, ok := a.(Run); ok && run.Op == OpStart && r != nil && r.states[0].holds() {
				t.Fatalf("started while node1 reports %s", r.states[0])
			}
		}
		e.Groups()
		e.Held()
	})
}
