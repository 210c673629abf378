package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
)

// pingTieBreaker configures a ping node (a router on the segment) for
// every node of the simulation.
func (s *sim) pingTieBreaker() {
	s.ping = true
	s.cfg.PingNodes = append(s.cfg.PingNodes, simRouter)
}

var simRouter = haconf.PingNode{Name: "198.18.0.254", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.254")}}

// pingSeams answers a node's echoes (unless its uplink is lost or it is
// cut off) after 1 ms, and its ARP questions about a silent peer's
// addresses as the segment would: answered at once while any other
// machine holds a group with such an address (its daemon may be paused or
// dead: the kernel answers), unanswered after three 100 ms tries.
func (s *sim) pingSeams(n *simNode, seams *Seams) {
	gen := n.gen
	seams.Ping = func(a netip.Addr) {
		if s.noRouter[n.name] || s.cutOff[n.name] {
			return
		}
		s.after(time.Millisecond, func() {
			n.deliver(func() {
				if n.gen == gen && n.node != nil {
					n.node.PingReply(s.now, a)
				}
			})
		})
	}
	seams.AddrInUse = func(peer string, token uint64, vips []control.VIP) {
		answer, wait := "", 300*time.Millisecond
		for _, other := range s.names {
			if other == n.name || s.cutOff[n.name] || s.cutOff[other] {
				continue
			}
			for g := range s.nodes[other].inUse {
				for _, v := range groupVIPs(s.cfg.Groups[g].Resources) {
					if slices.Contains(vips, v) {
						answer, wait = v.Address+" (from "+other+")", time.Millisecond
					}
				}
			}
		}
		s.after(wait, func() {
			n.deliver(func() {
				if n.gen == gen && n.node != nil {
					n.node.AddrsChecked(s.now, peer, token, answer, "")
				}
			})
		})
	}
}

// With the ping tie-breaker, two nodes never run a group at once, whatever
// the heartbeats suffer (partitions, one-way and inbound loss, 30 % loss,
// pauses, crashes, lost uplinks), unless a node is cut off altogether (its
// link gone: nobody can reach its copy, and only fencing stops it).
var pingSteps = func() []simStep {
	var out []simStep
	for _, st := range simSteps {
		st.unsafe = false
		out = append(out, st)
	}
	return append(out,
		simStep{"uplink lost", false, func(s *sim, n string) {
			s.noRouter[n] = true
			s.logf("%s's uplink lost: it reaches no ping node", n)
		}},
		simStep{"uplink back", false, func(s *sim, n string) {
			delete(s.noRouter, n)
			s.logf("%s's uplink back", n)
		}},
		simStep{"cut off", true, func(s *sim, n string) {
			s.cutOff[n] = true
			s.logf("%s cut off (link gone)", n)
		}})
}()

func runPingHistory(t *testing.T, seed uint64) {
	s := newSim(t, seed, 2, simGroups, []string{"auto_failback on\n", "auto_failback off\n"}[seed%2])
	s.pingTieBreaker()
	s.history(pingSteps)
}

// TestSimPingHistories runs -seeds random two-node histories with a ping
// node (200 by default); -seed N replays one.
func TestSimPingHistories(t *testing.T) {
	if *simSeed != 0 {
		runPingHistory(t, *simSeed)
		return
	}
	n := *simSeeds
	if testing.Short() {
		n = 20
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runPingHistory(t, seed) })
	}
}

// Two nodes cut apart (heartbeats only) while both reach the router: the
// group stays where it runs, and nothing moves when they hear each other
// again; the holder's crash during the partition moves the group within
// one check.
func TestSimPingPartition(t *testing.T) {
	s := newSim(t, 21, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
	s.pingTieBreaker()
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.drop[[2]string{"node1", "node2"}], s.drop[[2]string{"node2", "node1"}] = true, true
	s.runFor(3 * time.Second)
	if h := s.holders(0); len(h) != 1 || h[0] != "node1" {
		t.Fatalf("during the partition the group is in use on %v, want node1 alone", h)
	}
	if got := s.nodes["node2"].node.Status(s.now).AddrChecks["node1"]; got == "" {
		t.Errorf("node2's status says nothing about node1's address")
	}
	crash := s.now
	s.powerOff("node1")
	for s.now.Before(crash.Add(5*time.Second)) && len(s.holders(0)) == 0 {
		s.runFor(10 * time.Millisecond)
	}
	took := s.now.Sub(crash)
	if h := s.holders(0); len(h) != 1 || h[0] != "node2" || took > 1500*time.Millisecond {
		t.Fatalf("after node1's crash the group is in use on %v %v later, want node2 within a check (1 s) and its 300 ms", h, took)
	}
	t.Logf("holder crashed during the partition: group started on node2 %v later", took)
}

// starts counts the group starts and stops in the trace from line from.
func (s *sim) starts(from int) int {
	n := 0
	for _, l := range s.trace[from:] {
		if strings.Contains(l, " start group") || strings.Contains(l, " stop group") {
			n++
		}
	}
	return n
}

// The ping node down for every node: three nodes still take a dead node's
// group over (they hear each other: the ping node is down, not their
// link), and so does the survivor of two whose dead peer reached no ping
// node either.
func TestSimPingRouterDownNodeDies(t *testing.T) {
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprint(nodes, " nodes"), func(t *testing.T) {
			s := newSim(t, 22, nodes, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
			s.pingTieBreaker()
			for _, n := range s.names {
				s.boot(n)
			}
			s.settle(5 * time.Second)
			for _, n := range s.names {
				s.noRouter[n] = true
			}
			s.runFor(2 * time.Second)
			s.powerOff("node1")
			s.runFor(5 * time.Second)
			if h := s.holders(0); len(h) != 1 || h[0] != "node2" {
				st := s.nodes["node2"].node.Status(s.now)
				t.Errorf("node1's group runs on %v 5 s after node1 died, want node2: %q %v", h, st.Ping, st.AddrChecks)
			}
		})
	}
}

// A shared ping node dies for both nodes, their echo timers out of phase,
// and comes back: nothing starts or stops.
func TestSimPingRouterDiesForBoth(t *testing.T) {
	for seed := uint64(30); seed < 36; seed++ {
		s := newSim(t, seed, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
		s.pingTieBreaker()
		s.boot("node1")
		s.runFor(time.Duration(seed*17%100) * time.Millisecond)
		s.boot("node2")
		s.settle(5 * time.Second)
		before := len(s.trace)
		s.noRouter["node1"], s.noRouter["node2"] = true, true
		s.runFor(3 * time.Second)
		clear(s.noRouter)
		s.runFor(3 * time.Second)
		if n := s.starts(before); n > 0 {
			t.Errorf("seed %d: %d starts or stops because the shared ping node died and came back", seed, n)
		}
	}
}

// node1's uplink is broken from the start: its group starts on node2
// only, never on node1 first.
func TestSimPingStartWithUplinkBroken(t *testing.T) {
	s := newSim(t, 40, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
	s.pingTieBreaker()
	s.noRouter["node1"] = true
	s.boot("node1")
	s.boot("node2")
	s.runFor(5 * time.Second)
	if n := s.starts(0); n != 1 {
		t.Errorf("%d starts or stops, want one start on node2", n)
	}
	if h := s.holders(0); len(h) != 1 || h[0] != "node2" {
		t.Errorf("group on %v, want node2", h)
	}
}

// During a partition node1's heartbeats get through one way for a moment
// and stop again before node2 has a report of node1's: node2 still asks
// about the group's address before taking it.
func TestSimPingReturnWithoutReport(t *testing.T) {
	s := newSim(t, 50, 2, "node1 IPaddr::198.18.0.10\n", "auto_failback on\n")
	s.pingTieBreaker()
	s.boot("node1")
	s.boot("node2")
	s.settle(5 * time.Second)
	s.drop[[2]string{"node1", "node2"}], s.drop[[2]string{"node2", "node1"}] = true, true
	s.runFor(3 * time.Second)
	delete(s.drop, [2]string{"node1", "node2"})
	s.runFor(150 * time.Millisecond)
	s.drop[[2]string{"node1", "node2"}] = true
	s.runFor(3 * time.Second)
	if h := s.holders(0); len(h) != 1 || h[0] != "node1" {
		t.Errorf("group in use on %v, want node1 alone", h)
	}
}
