package faults

import (
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/probe"
	"golang.org/x/sys/unix"
)

var (
	longFlag = flag.Bool("faults.long", false, "long mode (also LUBDUB_FAULTS=long): the issue's durations (20 s of loss, ...), 5 runs of each scenario unless -faults.runs says otherwise")
	runsFlag = flag.Int("faults.runs", 0, "runs of each scenario, each with its own seed (default 1, 5 in long mode)")
	logsFlag = flag.String("faults.logs", "", "keep every run's logs (daemons, client, web servers) in DIR/SCENARIO-SEED (a failed run shows their tails anyway)")
	seedFlag = flag.Uint64("faults.seed", 0, "seed of the first run (run i has seed+i); 0 picks one from the clock. A failing run prints its seed: passing it with -run replays that run")
)

// The cluster's deadtime (e2ekit.FastTimings) and lubdub.cf's
// failback_delay default (3 deadtimes), which the bounds derive from.
const (
	deadtime     = 400 * time.Millisecond
	failbackWait = 3 * deadtime
)

// figures collects every run's figures for the table TestMain prints.
var figures = struct {
	sync.Mutex
	rows map[string][]Figures
}{rows: map[string][]Figures{}}

func TestMain(m *testing.M) {
	flag.Parse()
	code := e2ekit.Main(m, "../../cmd/lubdub")
	var rows []Row
	for _, s := range scenarios {
		if f := figures.rows[s.name]; len(f) > 0 {
			rows = append(rows, Row{Scenario: s.name, Runs: f})
		}
	}
	if len(rows) > 0 {
		fmt.Printf("\nfaults: figures (%s mode; times in seconds)\n", modeName())
		Table(os.Stdout, rows)
	}
	os.Exit(code)
}

func long() bool { return *longFlag || os.Getenv("LUBDUB_FAULTS") == "long" }

func modeName() string {
	if long() {
		return "long"
	}
	return "short"
}

// short or long: a duration by mode.
func byMode(short, long_ time.Duration) time.Duration {
	if long() {
		return long_
	}
	return short
}

// scenario is one fault, injected into a running cluster.
type scenario struct {
	name string
	// why says what the run shows, and what it does not assert.
	why string
	// spec builds the cluster (the seed's, two nodes, unless it says).
	spec func(x *run) e2ekit.HASpec
	// inject injects the fault and sets x.start and x.end; it may check
	// what must hold meanwhile.
	inject func(x *run)
	// owner is the node that must hold the VIP, alone, at the end (node1).
	owner string
	// What must hold of the figures; a zero bound is not checked.
	noDouble bool          // no two reachable nodes ever hold the VIP
	noOutage bool          // the client is never unanswered
	maxMoves int           // moves during the fault (-1: not checked)
	recovery time.Duration // the client answered within this after the fault ends
	converge time.Duration // one owner serving the client within this after the fault ends
	// doubleAfter bounds double ownership after the fault ends (healing).
	doubleAfter time.Duration
	// movesAfter bounds the moves after the fault ends (0 means 1: the
	// failback).
	movesAfter int
	// check, if set, checks more of the run.
	check func(x *run, r Record, f Figures)
}

// run is one run of a scenario.
type run struct {
	t    *testing.T
	seed uint64
	rng  *rand.Rand
	c    *e2ekit.HACluster
	// start and end of the fault, set by inject.
	start, end time.Time
	// notes are the seed's choices, logged and printed with a failure.
	notes []string
}

func (x *run) note(format string, args ...any) {
	x.notes = append(x.notes, fmt.Sprintf(format, args...))
}

// between picks a duration in [lo, hi] from the run's seed.
func (x *run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(x.rng.Int64N(int64(hi-lo)+1))
}

func (x *run) node(name string) *e2ekit.Node { return x.c.Nodes[name] }

func (x *run) signal(name string, s syscall.Signal) {
	x.t.Helper()
	e2ekit.Must(x.t, x.node(name).Proc.Signal(s))
}

// hold runs begin, the fault's start, and end d later; the fault ends
// once end has returned (the partition healed, the daemon restarted).
func (x *run) hold(d time.Duration, begin, end func()) {
	x.start = time.Now()
	begin()
	time.Sleep(d)
	end()
	x.end = time.Now()
}

var scenarios = []scenario{
	{
		name: "pause",
		why:  "the active daemon SIGSTOPped 3 s, then SIGCONT: node2 takes over meanwhile (two nodes without fencing: double ownership is expected and recorded); on the resume one owner within deadtime, the client answered within 1 s",
		inject: func(x *run) {
			x.hold(3*time.Second, func() { x.signal("node1", syscall.SIGSTOP) }, func() { x.signal("node1", syscall.SIGCONT) })
		},
		maxMoves: -1, recovery: time.Second, converge: time.Second, doubleAfter: deadtime,
	},
	{
		name: "partition",
		why:  "UDP 694 dropped both ways on the active node 3 s: node2 takes over (double ownership expected and recorded, no fencing); on the heal one owner within deadtime, the client answered within 1 s",
		inject: func(x *run) {
			n := x.node("node1")
			x.hold(3*time.Second, func() { n.DropHeartbeats(x.t, true) }, func() { n.DropHeartbeats(x.t, false) })
		},
		maxMoves: -1, recovery: time.Second, converge: time.Second, doubleAfter: deadtime,
	},
	{
		name: "partition+ping",
		why:  "as partition, with a ping node both nodes reach (ha.cf's ping line): node2 finds the VIP still answering ARP and takes nothing over; nothing moves, the client is never unanswered, never two owners",
		spec: func(x *run) e2ekit.HASpec { return e2ekit.HASpec{Ping: true} },
		inject: func(x *run) {
			n := x.node("node1")
			x.hold(3*time.Second, func() { n.DropHeartbeats(x.t, true) }, func() { n.DropHeartbeats(x.t, false) })
		},
		noDouble: true, noOutage: true, maxMoves: 0, converge: time.Second,
	},
	{
		name: "pause+ping",
		why:  "as pause, with a ping node both nodes reach: the paused node's VIP still answers ARP (its kernel and web server run on), so node2 takes nothing over; nothing moves, the client is never unanswered, never two owners",
		spec: func(x *run) e2ekit.HASpec { return e2ekit.HASpec{Ping: true} },
		inject: func(x *run) {
			x.hold(3*time.Second, func() { x.signal("node1", syscall.SIGSTOP) }, func() { x.signal("node1", syscall.SIGCONT) })
		},
		noDouble: true, noOutage: true, maxMoves: 0, converge: time.Second,
	},
	{
		name: "partition+fence",
		why:  "as partition, with fencing (a simulated BMC per node, fence_ipmilan): node1, which holds the group, fences node2 at once; node2, which holds nothing, waits fence_delay and is shot first; it never takes the VIP, so never two owners and the client is never unanswered; node2 stays off",
		spec: func(x *run) e2ekit.HASpec { return e2ekit.HASpec{Fence: true} },
		inject: func(x *run) {
			n := x.node("node1")
			x.hold(3*time.Second, func() { n.DropHeartbeats(x.t, true) }, func() { n.DropHeartbeats(x.t, false) })
		},
		noDouble: true, noOutage: true, maxMoves: 0, converge: time.Second,
		check: func(x *run, r Record, f Figures) {
			if n := len(x.c.BMCs["node1"].Events()); n != 0 {
				x.t.Errorf("node1 was shot (%d power events): the node that holds the group must win", n)
			}
		},
	},
	{
		name:  "pause+fence",
		why:   "as pause, with fencing: node2 fences the silent node1 through fence_ipmilan before it takes anything over (the fence, once begun, ends even though node1 resumes meanwhile), then takes the VIP: never two owners; the client is unanswered from node1's power-off to node2's start",
		spec:  func(x *run) e2ekit.HASpec { return e2ekit.HASpec{Fence: true} },
		owner: "node2",
		inject: func(x *run) {
			x.hold(3*time.Second, func() { x.signal("node1", syscall.SIGSTOP) }, func() {
				// Fenced meanwhile, the daemon may be gone already.
				if err := x.node("node1").Proc.Signal(syscall.SIGCONT); err != nil && !errors.Is(err, os.ErrProcessDone) {
					x.t.Fatal(err)
				}
			})
		},
		noDouble: true, maxMoves: -1, converge: 30 * time.Second,
		check: func(x *run, r Record, f Figures) {
			if n := len(x.c.BMCs["node2"].Events()); n != 0 {
				x.t.Errorf("node2 was shot (%d power events)", n)
			}
		},
	},
	{
		name: "loss",
		why:  "30 % of the active node's packets dropped both ways, its loopback excepted (nftables numgen random; 20 s in long mode, 6 s in short): at most one move during the loss and none back until it ends; the client answered within 1 s after it; one owner within failback_delay + 1 s",
		inject: func(x *run) {
			n := x.node("node1")
			// The node's own loopback is left alone: the resource scripts
			// check their servers over it.
			rule := "numgen random mod 10 < 3 drop"
			in, out := `iifname != "lo" `+rule, `oifname != "lo" `+rule
			x.hold(byMode(6*time.Second, 20*time.Second),
				func() { n.Filter(x.t, "ldbloss", true, map[string]string{"input": in, "output": out}) },
				func() { n.Filter(x.t, "ldbloss", false, nil) })
		},
		maxMoves: 1, recovery: time.Second, converge: failbackWait + time.Second,
	},
	{
		name: "deaf",
		why:  "the active node stops hearing its peer (UDP 694 dropped inbound only) 3 s: its peer still hears it, so nothing moves, nobody else holds the VIP, the client is always answered",
		inject: func(x *run) {
			n := x.node("node1")
			x.hold(3*time.Second,
				func() { n.Filter(x.t, "ldbdeaf", true, map[string]string{"input": "udp dport 694 drop"}) },
				func() { n.Filter(x.t, "ldbdeaf", false, nil) })
		},
		noDouble: true, noOutage: true, maxMoves: 0,
	},
	{
		name: "kill",
		why:  "the active daemon SIGKILLed (its VIP and web server stay behind), restarted 1.5-3 s later: node2 takes over meanwhile (double ownership with the dead daemon's leftover address is expected and recorded: no fencing); the restarted daemon clears what the dead one left before it joins, the group fails back after failback_delay",
		inject: func(x *run) {
			d := x.between(1500*time.Millisecond, 3*time.Second)
			x.note("restart after %v", d)
			x.hold(d, func() {
				x.signal("node1", syscall.SIGKILL)
				x.node("node1").Proc.Wait(5 * time.Second)
			}, func() { x.node("node1").Start(x.t) })
		},
		// The address the killed daemon left hides node2's takeover from the
		// count of sole holders until the restarted daemon clears it: that
		// counts as a move after the fault, then the failback.
		// Converged within the daemon's start and join (a race-built daemon
		// takes about a second to start), failback_delay, and the move.
		maxMoves: -1, movesAfter: 2, converge: failbackWait + 2*time.Second,
	},
	{
		name: "quorum",
		why: "three nodes, the active one cut off from the other two (UDP 694 both ways) 3 s: it loses quorum and stops its copy within deadtime + 1 s, the majority runs the group, and the group never runs on two nodes once the cut-off node has stopped; after the heal it fails back after failback_delay. " +
			"Double ownership while the cut-off node stops is recorded, not asserted zero: both sides act when deadtime runs out, and without fencing or self-fencing (watchdog_fence_timeout, which needs a watchdog device this kernel lacks) nothing makes the majority wait for the minority's stop (lubdub check says so)",
		spec: func(x *run) e2ekit.HASpec { return e2ekit.HASpec{Nodes: []string{"node1", "node2", "node3"}} },
		inject: func(x *run) {
			n := x.node("node1")
			x.hold(3*time.Second, func() { n.DropHeartbeats(x.t, true) }, func() { n.DropHeartbeats(x.t, false) })
		},
		maxMoves: 1, converge: failbackWait + time.Second,
		check: func(x *run, r Record, f Figures) {
			// When node1 let go after the cut.
			i := slices.IndexFunc(r.Samples, func(s e2ekit.Sample) bool {
				return s.At.After(r.FaultStart) && !slices.Contains(s.Holders, "node1")
			})
			if i < 0 || r.Samples[i].At.After(r.FaultEnd) {
				x.t.Fatal("node1, without quorum, kept the VIP through the partition")
			}
			released := r.Samples[i].At
			x.note("node1 let go %v after the cut", released.Sub(r.FaultStart).Round(time.Millisecond))
			if d := released.Sub(r.FaultStart); d > deadtime+time.Second {
				x.t.Errorf("node1, without quorum, let go of the VIP %v after the cut, want within deadtime + 1 s", d)
			}
			for _, s := range r.Samples[i:] {
				if len(s.Reachable()) > 1 {
					x.t.Errorf("%s: %v held the VIP at once after node1 had let go", s.At.Format("15:04:05.000"), s.Holders)
					break
				}
			}
		},
	},
	{
		name: "medium",
		why:  "two heartbeat media (bcast eth0 and eth1), eth1 of one node (seeded) cut 3 s: the link is dead but the node is not, nothing moves, the client (on eth0's segment) is always answered",
		spec: func(x *run) e2ekit.HASpec { return e2ekit.HASpec{Media: 2} },
		inject: func(x *run) {
			n := x.node([]string{"node1", "node2"}[x.rng.IntN(2)])
			x.note("eth1 of %s cut", n.Name)
			x.hold(3*time.Second, func() { e2ekit.Must(x.t, n.Host.Cut("eth1")) }, func() { e2ekit.Must(x.t, n.Host.Heal("eth1")) })
		},
		noDouble: true, noOutage: true, maxMoves: 0,
	},
	{
		name: "flap",
		why:  "the active node's link (its only medium, and the client's way in) down and up every N ms (seeded, 150-600 ms, some shorter and some longer than deadtime) 4 times (10 in long mode): at most one move during the flapping (double ownership while the link is down is expected and recorded), the client answered within 1 s after it, one owner within failback_delay + 1 s",
		inject: func(x *run) {
			n := x.node("node1")
			every := x.between(150*time.Millisecond, 600*time.Millisecond)
			count := 4
			if long() {
				count = 10
			}
			x.note("down and up every %v, %d times", every, count)
			x.start = time.Now()
			for range count {
				e2ekit.Must(x.t, n.Host.Cut("eth0"))
				time.Sleep(every)
				e2ekit.Must(x.t, n.Host.Heal("eth0"))
				time.Sleep(every)
			}
			x.end = time.Now()
		},
		maxMoves: 1, recovery: time.Second, converge: failbackWait + time.Second,
	},
	{
		name: "stopfail",
		why:  "a script resource of the group refuses to stop when node1 is put in standby (stop_retries 1): the group is blocked on node1, which stops what it can (the VIP goes), and nobody starts it (the client is unanswered: expected); once the operator has stopped it by hand and run lubdub cleanup, node2 serves within 1 s; never two owners",
		spec: func(x *run) e2ekit.HASpec {
			return e2ekit.HASpec{
				Haresources: "node1 IPaddr2::" + e2ekit.VIP + "/24/eth0 websrv stuck\n",
				LubdubCf:    []string{"stop_retries 1\n"},
				Prepare: func(n *e2ekit.Node) {
					e2ekit.Must(x.t, os.WriteFile(filepath.Join(n.Dir, "resource.d", "stuck"), []byte(stuckScript), 0o755))
				},
			}
		},
		inject: func(x *run) {
			n := x.node("node1")
			refuse := filepath.Join(n.Dir, "stuck.refuse")
			e2ekit.Must(x.t, os.WriteFile(refuse, nil, 0o644))
			x.start = time.Now()
			if o, e, code := n.Lubdub("standby"); code != 0 {
				x.t.Fatalf("standby: %s %s", o, e)
			}
			if !e2ekit.WaitFor(15*time.Second, func() bool { s, err := n.Status(); return err == nil && s.Groups[0].Local == "blocked" }) {
				x.t.Fatalf("the group is not blocked on node1 after its stop failed: %+v", n.Group(x.t))
			}
			blocked := time.Now()
			x.note("blocked %v after the standby", blocked.Sub(x.start).Round(time.Millisecond))
			time.Sleep(x.between(time.Second, 2*time.Second))
			for _, s := range x.c.Watch.Samples() {
				if s.At.After(blocked) && len(s.Holders) > 0 {
					x.t.Errorf("%s: %v held the VIP while the group was blocked on node1", s.At.Format("15:04:05.000"), s.Holders)
					break
				}
			}
			// The operator stops it by hand (the fault ends), then clears the
			// group.
			e2ekit.Must(x.t, os.Remove(refuse))
			e2ekit.Must(x.t, os.Remove(filepath.Join(n.Dir, "stuck.running")))
			x.end = time.Now()
			if o, e, code := n.Lubdub("cleanup", "all"); code != 0 {
				x.t.Fatalf("cleanup: %s %s", o, e)
			}
		},
		// After the cleanup node2 starts the group at once: no timer is in
		// the way, only the group's start.
		owner:    "node2",
		noDouble: true, maxMoves: 0, converge: time.Second,
	},
	{
		name: "clock",
		why: "a node (seeded) runs in a time namespace whose CLOCK_MONOTONIC and CLOCK_BOOTTIME are offset by a seeded amount (years ahead, or back to a few seconds after boot) from its peer's; node1 then crashes (daemon killed, link cut) and reboots 2 s later, into a new offset if it is the one (its clocks stepped across the restart). " +
			"What it tests: that no monotonic or boot-time reading crosses the wire or outlives a daemon, and that takeover, rejoin and failback keep their timing under such clocks. What it cannot test: a step of the wall clock (CLOCK_REALTIME is not namespaced: changing it would change the host's) or a step while a daemon runs (a time namespace's offsets are fixed before its first process). " +
			"The crashed node's leftover address is unreachable (its link is cut), so double ownership must be zero",
		spec: func(x *run) e2ekit.HASpec {
			who := []string{"node1", "node2"}[x.rng.IntN(2)]
			return e2ekit.HASpec{Prepare: func(n *e2ekit.Node) {
				if n.Name == who {
					n.Wrap = x.timeNamespace(n.Name)
				}
			}}
		},
		inject: func(x *run) {
			for _, n := range x.c.Nodes {
				if n.Wrap != nil {
					x.checkOffsets(n)
				}
			}
			n := x.node("node1")
			x.hold(2*time.Second, func() { x.c.Crash("node1") }, func() {
				if n.Wrap != nil {
					n.Wrap = x.timeNamespace("node1")
				}
				x.c.Reboot("node1")
				if n.Wrap != nil {
					x.checkOffsets(n)
				}
			})
		},
		noDouble: true, maxMoves: 1, converge: failbackWait + 2*time.Second,
	},
}

// stuckScript is a resource.d script that refuses to stop while the file
// stuck.refuse is in its configuration directory.
const stuckScript = `#!/bin/sh
DIR="${HA_DIR:?HA_DIR is not set}"
case "$1" in
start) touch "$DIR/stuck.running"; exit 0 ;;
stop)
	[ -e "$DIR/stuck.refuse" ] && { echo "stuck: refusing to stop"; exit 1; }
	rm -f "$DIR/stuck.running"; exit 0 ;;
status) if [ -e "$DIR/stuck.running" ]; then echo running; else echo stopped; fi; exit 0 ;;
esac
exit 1
`

// timeNamespace is the command that runs a daemon in a new time
// namespace, its monotonic and boot-time clocks offset by a seeded amount:
// 1 day to 3 years ahead, or back to 5-60 s after the host's boot.
func (x *run) timeNamespace(name string) []string {
	var off int64
	if x.rng.IntN(2) == 0 {
		off = 86400 + x.rng.Int64N(3*365*86400)
	} else {
		up := hostUptime(x.t)
		off = -(up - 5 - x.rng.Int64N(56))
	}
	x.note("%s's monotonic and boot-time clocks offset by %+ds", name, off)
	return []string{"unshare", "--time", fmt.Sprintf("--monotonic=%d", off), fmt.Sprintf("--boottime=%d", off)}
}

// hostUptime is the host's CLOCK_MONOTONIC in whole seconds (its boot
// time is no less: an offset that keeps one at 0 or more keeps both).
func hostUptime(t *testing.T) int64 {
	var ts unix.Timespec
	e2ekit.Must(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	return ts.Sec
}

// checkOffsets checks that the daemon runs with the offsets asked for.
func (x *run) checkOffsets(n *e2ekit.Node) {
	x.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timens_offsets", n.Proc.Pid()))
	e2ekit.Must(x.t, err)
	want := strings.TrimPrefix(n.Wrap[2], "--monotonic=")
	if !strings.Contains(strings.Join(strings.Fields(string(b)), " "), "monotonic "+want+" 0 boottime "+want+" 0") {
		x.t.Fatalf("%s's daemon runs with clock offsets %q, want %s s", n.Name, b, want)
	}
}

// seedOf is the seed of run i of a scenario.
func seedOf(base uint64, i int) uint64 { return base + uint64(i) }

func TestFaults(t *testing.T) {
	base := *seedFlag
	if base == 0 {
		base = uint64(time.Now().UnixNano()%1_000_000_000) + 1
	}
	runs := *runsFlag
	if runs <= 0 {
		runs = 1
		if long() {
			runs = 5
		}
	}
	t.Logf("faults: %s mode, %d run(s) of each scenario, seeds from %d", modeName(), runs, base)
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			t.Log(s.why)
			for i := range runs {
				seed := seedOf(base, i)
				t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) { runScenario(t, s, seed) })
			}
		})
	}
}

func runScenario(t *testing.T, s scenario, seed uint64) {
	h := fnv.New64a()
	h.Write([]byte(s.name))
	x := &run{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, h.Sum64()))}
	defer func() {
		if t.Failed() {
			mode := ""
			if long() {
				mode = "LUBDUB_FAULTS=long "
			}
			t.Logf("faults: %s failed with seed %d (%s); replay: %sgo test ./e2e/faults -run 'TestFaults/%s$' -faults.seed %d -faults.runs 1 -v",
				s.name, seed, strings.Join(x.notes, "; "), mode, s.name, seed)
		}
	}()
	spec := e2ekit.HASpec{}
	if s.spec != nil {
		spec = s.spec(x)
	}
	x.c = e2ekit.HASetup(t, spec)
	if *logsFlag != "" {
		t.Cleanup(func() { keepLogs(t, x.c.Lab.Dir, filepath.Join(*logsFlag, fmt.Sprintf("%s-%d", s.name, seed))) })
	}
	if !x.c.Served("node1", 20*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", x.c.Probe.Output())
	}
	// Steady: every node sees every other, and node1's start of the group
	// has ended (its web server may answer before its start script has
	// seen it do so).
	if !e2ekit.WaitFor(10*time.Second, func() bool {
		s, err := x.node("node1").Status()
		return err == nil && len(s.Groups) > 0 && s.Groups[0].Local == "running" && e2ekit.AllActive(x.c.Nodes, x.c.Names)
	}) {
		t.Fatal("the cluster did not settle: the nodes do not all see each other active, or node1 does not run the group")
	}
	// Where in the heartbeats' rhythm the fault falls.
	offset := x.between(0, 500*time.Millisecond)
	x.note("fault %v after the cluster was up", offset)
	time.Sleep(offset)
	ref := time.Now()
	s.inject(x)
	if t.Failed() {
		return
	}
	owner := s.owner
	if owner == "" {
		owner = "node1"
	}
	// Observe until the owner has held the VIP alone and served the client
	// for 1.5 s (at most 20 s).
	settled := func() bool {
		since := time.Now().Add(-1500 * time.Millisecond)
		if since.Before(x.end) {
			return false
		}
		for _, smp := range x.c.Watch.Since(since) {
			if !slices.Equal(smp.Reachable(), []string{owner}) {
				return false
			}
		}
		tl := probe.ReadTimeline(x.c.Probe.Output(), ref, time.Now())
		return tl.OK && tl.Last == owner && (len(tl.Outages) == 0 || tl.Outages[len(tl.Outages)-1].To.Before(since))
	}
	e2ekit.WaitFor(20*time.Second, settled)
	end := time.Now()
	x.c.Watch.Stop()
	r := Record{Samples: x.c.Watch.Samples(), Client: probe.ReadTimeline(x.c.Probe.Output(), ref, end),
		FaultStart: x.start, FaultEnd: x.end, End: end}
	f := Measure(r)
	for _, n := range x.c.Nodes {
		f.Late += lateHeartbeats(n.Proc.Output())
	}
	figures.Lock()
	figures.rows[s.name] = append(figures.rows[s.name], f)
	figures.Unlock()
	t.Logf("%s (seed %d: %s): moves %d during, %d after; double ownership %v (%v after the fault); outage %v during, %v after, longest after %v; converged %v after the fault; owner %q; %d late heartbeats, oracle's longest gap %v",
		s.name, seed, strings.Join(x.notes, "; "), f.Moves, f.MovesAfter, f.Double, f.DoubleAfter, f.OutageDuring, f.OutageAfter, f.Recovery, f.Converge, f.Owner, f.Late, f.Gap)
	for _, e := range x.c.Watch.Errors() {
		t.Errorf("oracle: %s", e)
	}
	judge(t, s, owner, f)
	if s.check != nil {
		s.check(x, r, f)
	}
}

// keepLogs copies the logs of a run's lab into dir.
func keepLogs(t *testing.T, from, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return
	}
	for _, f := range e2ekit.LogFiles(from) {
		b, err := os.ReadFile(f)
		if err == nil {
			name := strings.ReplaceAll(strings.TrimPrefix(f, from+"/"), "/", "-")
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("logs kept in %s", dir)
}

var lateRE = regexp.MustCompile(`Late heartbeat: Node \S+: interval (\d+) ms`)

// lateHeartbeats counts the heartbeats a daemon's log calls late, but
// that came before deadtime: a busy machine's, not a fault's (except
// under random loss, where they are both).
func lateHeartbeats(log string) int {
	n := 0
	for _, m := range lateRE.FindAllStringSubmatch(log, -1) {
		if ms, _ := strconv.Atoi(m[1]); time.Duration(ms)*time.Millisecond < deadtime {
			n++
		}
	}
	return n
}

// judge checks a run's figures against its scenario's bounds.
func judge(t *testing.T, s scenario, owner string, f Figures) {
	t.Helper()
	if f.Owner != owner || !f.Served {
		t.Errorf("at the end %q holds the VIP alone (served: %v), want %s serving the client", f.Owner, f.Served, owner)
	}
	if s.noDouble && f.Double > 0 {
		t.Errorf("two nodes held the VIP for %v, want never", f.Double)
	}
	if s.doubleAfter > 0 && f.DoubleAfter > s.doubleAfter {
		t.Errorf("two nodes held the VIP %v after the fault ended, want one owner within deadtime (%v)", f.DoubleAfter, s.doubleAfter)
	}
	if s.noOutage && f.OutageDuring+f.OutageAfter > 0 {
		t.Errorf("the client went unanswered %v during the fault and %v after it, want never", f.OutageDuring, f.OutageAfter)
	}
	if s.maxMoves >= 0 && f.Moves > s.maxMoves {
		t.Errorf("the VIP moved %d times during the fault, want at most %d", f.Moves, s.maxMoves)
	}
	if movesAfter := max(s.movesAfter, 1); f.MovesAfter > movesAfter {
		t.Errorf("the VIP moved %d times after the fault ended, want at most %d", f.MovesAfter, movesAfter)
	}
	if s.recovery > 0 && f.Recovery > s.recovery {
		t.Errorf("the client went unanswered for %v after the fault ended, want at most %v", f.Recovery, s.recovery)
	}
	if s.converge > 0 && (f.Converge < 0 || f.Converge > s.converge) {
		t.Errorf("converged %v after the fault ended (-1: never), want within %v", f.Converge, s.converge)
	}
}
