package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/wire"
)

// counters is what a node counts for status and metrics: heartbeats per
// link and peer, its groups' transitions and failures, fencing results
// and when the configuration was loaded. The node feeds it at the few
// places where these things happen; it reads no clock.
type counters struct {
	groups   []groupCounters
	hbSent   map[string]uint64   // per link
	hbRecv   map[linkPeer]uint64 // per link and sending node
	fencings map[string]map[string]uint64
	loaded   time.Time // configuration read (start or reload)
}

type linkPeer struct{ link, node string }

// groupCounters is one group's history on this node.
type groupCounters struct {
	state       placement.State // the local state last seen
	transitions map[placement.State]uint64
	changed     time.Time
	failures    map[string]uint64 // by operation, ever
	failCount   int               // since the last cleanup or expiry
	lastFailure *control.Failure
}

func newCounters(groups []placement.State, now time.Time) counters {
	c := counters{hbSent: map[string]uint64{}, hbRecv: map[linkPeer]uint64{}, fencings: map[string]map[string]uint64{}, loaded: now}
	for _, s := range groups {
		c.groups = append(c.groups, groupCounters{state: s, transitions: map[placement.State]uint64{}, failures: map[string]uint64{}})
	}
	return c
}

// heartbeat counts a heartbeat (a status message) received from a peer.
func (c *counters) received(link string, msg *wire.Message, local string) {
	if msg.Value(wire.FType) == wire.TStatus {
		if from := strings.ToLower(msg.Value(wire.FOrig)); from != local {
			c.hbRecv[linkPeer{link, from}]++
		}
	}
}

// sent counts a heartbeat sent on a link.
func (c *counters) sent(link string, msg *wire.Message) {
	if msg.Value(wire.FType) == wire.TStatus {
		c.hbSent[link]++
	}
}

// failed records a failed operation of group g.
func (c *counters) failed(now time.Time, g int, op string, err error) {
	gc := &c.groups[g]
	gc.failures[op]++
	gc.failCount++
	f := &control.Failure{At: now, Op: op}
	if err != nil {
		f.Detail = err.Error()
	}
	gc.lastFailure = f
}

// fenced counts a finished fencing try.
func (c *counters) fenced(node string, ok bool) {
	if c.fencings[node] == nil {
		c.fencings[node] = map[string]uint64{}
	}
	c.fencings[node][map[bool]string{true: "success", false: "failure"}[ok]]++
}

// expiry is when group g's fail count expires with timeout; zero when it
// does not (no timeout, or nothing to expire).
func (c *counters) expiry(g int, timeout time.Duration) time.Time {
	gc := c.groups[g]
	if timeout <= 0 || gc.failCount == 0 || gc.lastFailure == nil {
		return time.Time{}
	}
	return gc.lastFailure.At.Add(timeout)
}

// noteTransitions counts the groups whose local state changed since it
// was last called. It runs after every batch of actions.
func (n *Node) noteTransitions(now time.Time) {
	for g := range n.ctr.groups {
		gc := &n.ctr.groups[g]
		if s := n.eng.Local(g); s != gc.state {
			from := gc.state
			gc.state = s
			gc.transitions[s]++
			gc.changed = now
			n.groupChanged(now, g, from, s)
		}
	}
}

// groupChanged is called once for every change of a group's state on this
// node, in order: the point where events about groups start.
func (n *Node) groupChanged(now time.Time, g int, from, to placement.State) {
	n.log.Debug("group state", "group", n.cfg.Groups[g].ID(), "from", string(from), "to", string(to))
	if to == placement.Blocked {
		n.blockedHereNote(g)
	}
}

// expireFailures forgets the failures of groups whose last one is
// failure_timeout old.
func (n *Node) expireFailures(now time.Time) {
	for g := range n.ctr.groups {
		if at := n.ctr.expiry(g, n.cfg.Tuning.FailureTimeout); !at.IsZero() && !now.Before(at) {
			n.log.Info(fmt.Sprintf("resource group %s: %d failure(s) here expired (failure_timeout %s)", n.cfg.Groups[g].ID(), n.ctr.groups[g].failCount, n.cfg.Tuning.FailureTimeout), "group", n.cfg.Groups[g].ID())
			n.ctr.groups[g].failCount = 0
			n.push(n.eng.FailureExpired(g))
		}
	}
}

// nextExpiry is the earliest fail count expiry, or t.
func (n *Node) nextExpiry(t time.Time) time.Time {
	for g := range n.ctr.groups {
		if at := n.ctr.expiry(g, n.cfg.Tuning.FailureTimeout); !at.IsZero() && at.Before(t) {
			t = at
		}
	}
	return t
}

// countedStatus adds the counters, maintenance and quorum numbers to a
// status.
func (n *Node) countedStatus(s *control.Status) {
	s.ConfigLoaded = n.ctr.loaded
	s.MaxRestarts = n.cfg.Tuning.MaxRestarts
	if d := n.cfg.Tuning.FailureTimeout; d > 0 {
		s.FailureTimeout = d.String()
	}
	v, e, need := n.eng.QuorumVotes()
	s.Votes = control.Votes{Quorate: n.eng.Quorate(), Votes: v, Expected: e, Needed: need}
	s.FencingEnabled = n.seams.Fence != nil
	if len(n.ctr.fencings) > 0 {
		s.Fencings = map[string]map[string]uint64{}
		for node, m := range n.ctr.fencings {
			s.Fencings[node] = map[string]uint64{}
			for k, v := range m {
				s.Fencings[node][k] = v
			}
		}
	}
	s.HeartbeatsSent = map[string]uint64{}
	for l, v := range n.ctr.hbSent {
		s.HeartbeatsSent[l] = v
	}
	for i := range s.Nodes {
		for j := range s.Nodes[i].Links {
			s.Nodes[i].Links[j].Heartbeats = n.ctr.hbRecv[linkPeer{s.Nodes[i].Links[j].Name, s.Nodes[i].Name}]
		}
	}
	views := n.eng.Groups()
	for g := range s.Groups {
		cg, gc := &s.Groups[g], n.ctr.groups[g]
		cg.Maintenance, cg.Frozen = views[g].Maintenance, views[g].Frozen
		cg.VIPs = groupVIPs(n.cfg.Groups[g].Resources)
		cg.FailCount, cg.Restarts, cg.LastTransition = gc.failCount, n.eng.Restarts(g), gc.changed
		if gc.lastFailure != nil {
			f := *gc.lastFailure
			cg.LastFailure = &f
		}
		if len(gc.failures) > 0 {
			cg.Failures = map[string]uint64{}
			for k, v := range gc.failures {
				cg.Failures[k] = v
			}
		}
		if len(gc.transitions) > 0 {
			cg.Transitions = map[string]uint64{}
			for k, v := range gc.transitions {
				cg.Transitions[string(k)] = v
			}
		}
	}
}

// groupVIPs lists the addresses of a group's IPaddr and IPaddr2 resources
// (ADDR[/PREFIX[/IFACE[/BROADCAST]]], or OCF's ip= and nic=).
func groupVIPs(rs []haconf.Resource) []control.VIP {
	var out []control.VIP
	for _, r := range rs {
		if r.Type != "IPaddr" && r.Type != "IPaddr2" {
			continue
		}
		var v control.VIP
		if r.OCF() {
			for _, p := range r.Params {
				switch p[0] {
				case "ip":
					v.Address = p[1]
				case "nic":
					v.Iface = p[1]
				}
			}
		} else if len(r.Args) > 0 {
			f := strings.Split(r.Args[0], "/")
			v.Address = f[0]
			if len(f) > 2 {
				v.Iface = f[2]
			}
		}
		if v.Address != "" {
			out = append(out, v)
		}
	}
	return out
}
