package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
)

func controlRequest(cmd, arg string) control.Request { return control.Request{Cmd: cmd, Name: arg} }

const simGroups = "node1 IPaddr::198.18.0.10\nnode2 IPaddr::198.18.0.11 httpd\n"

// A cold start places every group on its preferred node.
func TestSimColdStart(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(n, " nodes"), func(t *testing.T) {
			groups := simGroups
			if n == 1 {
				groups = "node1 IPaddr::198.18.0.10\n"
			}
			s := newSim(t, 1, n, groups, "auto_failback on\n")
			for _, name := range s.names {
				s.boot(name)
			}
			s.settle(5 * time.Second)
			for g, grp := range s.cfg.Groups {
				if h := s.holders(g); len(h) != 1 || h[0] != grp.Node {
					t.Errorf("group %s runs on %v, want its preferred node %s", grp.ID(), h, grp.Node)
				}
			}
		})
	}
}

// simStep is one step of a random history.
type simStep struct {
	name   string
	unsafe bool // may give two owners without quorum or fencing
	do     func(s *sim, node string)
}

var simSteps = []simStep{
	{"standby", false, func(s *sim, n string) { s.control(n, "standby", "all") }},
	{"takeover", false, func(s *sim, n string) { s.control(n, "takeover", "all") }},
	{"sigterm", false, func(s *sim, n string) {
		nd := s.nodes[n]
		if nd.node == nil || nd.paused {
			return
		}
		s.logf("%s: SIGTERM", n)
		nd.node.Leave(s.now)
		nd.schedule()
		node := nd.node
		// The daemon exits once it has given its groups up.
		var poll func()
		poll = func() {
			if nd.node != node {
				return
			}
			if node.Done() && !nd.paused {
				node.Shutdown(s.now)
				nd.node = nil
				s.logf("%s: daemon exited", n)
				return
			}
			s.after(10*time.Millisecond, poll)
		}
		s.after(10*time.Millisecond, poll)
	}},
	{"power off", false, func(s *sim, n string) { s.powerOff(n) }},
	{"boot", false, func(s *sim, n string) {
		if s.nodes[n].node == nil {
			s.boot(n)
		}
	}},
	{"partition", true, func(s *sim, n string) {
		for _, o := range s.names {
			if o != n {
				s.drop[[2]string{n, o}], s.drop[[2]string{o, n}] = true, true
			}
		}
		s.logf("%s cut off", n)
	}},
	{"one-way", true, func(s *sim, n string) {
		for _, o := range s.names {
			if o != n {
				s.drop[[2]string{n, o}] = true
			}
		}
		s.logf("%s's frames dropped", n)
	}},
	{"deaf", true, func(s *sim, n string) {
		for _, o := range s.names {
			if o != n {
				s.drop[[2]string{o, n}] = true
			}
		}
		s.logf("frames to %s dropped", n)
	}},
	{"loss", true, func(s *sim, n string) {
		s.loss[n] = 0.3
		s.logf("30%% of %s's frames lost", n)
	}},
	{"pause", true, func(s *sim, n string) { s.pause(n, time.Duration(1+s.rng.IntN(30))*100*time.Millisecond) }},
	{"heal", false, func(s *sim, n string) { s.healAll() }},
}

func (s *sim) healAll() {
	clear(s.drop)
	clear(s.loss)
	clear(s.noRouter)
	clear(s.cutOff)
	s.logf("network healed")
}

// runHistory runs one random history of two or three nodes, with the
// fencing (or none) and auto_failback the seed picks.
func runHistory(t *testing.T, seed uint64) {
	s := newSim(t, seed, 2+int(seed%2), simGroups, []string{"auto_failback on\n", "auto_failback off\n", "auto_failback legacy\n"}[seed%3])
	switch {
	case len(s.names) >= 3 && seed%4 == 1:
		s.powerFencing(300 * time.Millisecond)
	case len(s.names) >= 3:
		s.selfFencing(time.Second, 2500*time.Millisecond)
	case seed%4 == 0:
		s.powerFencing(300 * time.Millisecond)
	}
	s.history(simSteps)
	s.checkEvents()
}

// history boots every node, runs random steps 100 ms to 3 s apart for 20 s
// of virtual time, then ends every fault and boots every machine; the
// cluster must converge within the bound.
func (s *sim) history(steps []simStep) {
	for _, name := range s.names {
		s.boot(name)
	}
	s.settle(5 * time.Second)
	end := s.now.Add(20 * time.Second)
	for s.now.Before(end) {
		s.runFor(time.Duration(100+s.rng.IntN(2900)) * time.Millisecond)
		step := steps[s.rng.IntN(len(steps))]
		node := s.names[s.rng.IntN(len(s.names))]
		if step.unsafe {
			s.unsafe = true
		}
		step.do(s, node)
	}
	s.healAll()
	s.runFor(50 * time.Millisecond) // a daemon given SIGTERM exits within 10 ms of giving up its groups
	for _, name := range s.names {
		if s.nodes[name].node == nil {
			s.boot(name)
		}
	}
	// Paused nodes resume within 3 s; then 2 s of initdead and deadtime,
	// a hand-over and its operations.
	s.settle(8 * time.Second)
}

// TestSimHistories runs -seeds random histories (200 by default); -seed N
// replays one.
func TestSimHistories(t *testing.T) {
	if *simSeed != 0 {
		runHistory(t, *simSeed)
		return
	}
	n := *simSeeds
	if testing.Short() {
		n = 20
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runHistory(t, seed) })
	}
}

// selfFencing gives every machine a watchdog of timeout w and the cluster
// watchdog_fence_timeout f: then no history may give two owners.
func (s *sim) selfFencing(w, f time.Duration) {
	s.cfg.Tuning.WatchdogFenceTimeout = f
	for _, n := range s.nodes {
		n.watchdog = w
	}
	s.fenced = true
	s.after(10*time.Millisecond, s.watchdogs)
}

// powerFencing gives the cluster a power switch that resets a node d after
// it is asked: then no history may give two owners.
func (s *sim) powerFencing(d time.Duration) {
	s.fenceTime = d
	s.fenced = true
	// The configuration says so too, as the daemon's has a device when it
	// has a fencer (on_fail's default follows it).
	s.cfg.Fencing.Devices = append(s.cfg.Fencing.Devices, haconf.FenceDevice{Name: "sim", Agent: "fence_sim", Kind: "agent", Plugin: "fence_sim"})
}
