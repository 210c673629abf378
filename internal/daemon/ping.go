package daemon

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/pingnode"
)

// newPingTracker makes the tracker of ha.cf's ping nodes (nil without
// any): echoes every keepalive, dead after deadping.
func (n *Node) newPingTracker(now time.Time) *pingnode.Tracker {
	if len(n.cfg.PingNodes) == 0 {
		return nil
	}
	var nodes []pingnode.Node
	for _, p := range n.cfg.PingNodes {
		nodes = append(nodes, pingnode.Node{Name: p.Name, Addrs: p.Addrs, Group: p.Group})
	}
	return pingnode.New(pingnode.Config{Nodes: nodes, Interval: n.cfg.Keepalive, Deadping: n.cfg.Deadping}, now)
}

// PingReply takes an echo reply from a ping node's address.
func (n *Node) PingReply(now time.Time, addr netip.Addr) {
	n.now = now
	if n.ping == nil {
		return
	}
	n.pingChanged(now, n.ping.Reply(now, addr))
	n.drain(now)
}

// pingSettle is how long the ping counts must stay still before ipfail's
// rule compares them: twice keepalive, as ipfail's delayed give-up.
func (n *Node) pingSettle() time.Duration { return 2 * n.cfg.Keepalive }

// noteReach notes a change of the ping counts the engine knows.
func (n *Node) noteReach(now time.Time) {
	if v := n.eng.ReachChanges(); n.ping != nil && v != n.reachSeen {
		n.reachSeen, n.reachMoved, n.reachSettled = v, now, false
	}
}

// pingTick sends the echoes due, notes ping nodes gone dead, and lets the
// engine compare the counts once they have been still for pingSettle.
func (n *Node) pingTick(now time.Time) {
	if n.ping == nil {
		return
	}
	if !n.reachSettled && !now.Before(n.reachMoved.Add(n.pingSettle())) {
		n.reachSettled = true
		n.push(n.eng.PingSettled())
	}
	n.pingChanged(now, n.ping.Tick(now))
	if n.seams.Ping != nil {
		for _, a := range n.ping.Due(now) {
			n.seams.Ping(a)
		}
	}
}

// pingChanged logs ping nodes' changes as Heartbeat does, reports them as
// node events, and gives the engine the number reached once every ping
// node has answered or timed out once.
func (n *Node) pingChanged(now time.Time, changes []pingnode.Change) {
	for _, c := range changes {
		switch c.To {
		case pingnode.StatusPing:
			n.log.Info(fmt.Sprintf("Link %s:%s up.", c.Node, c.Node), "node", c.Node)
			n.log.Info(fmt.Sprintf("Status update for node %s: status ping", c.Node), "node", c.Node)
		case pingnode.StatusDead:
			n.log.Warn(fmt.Sprintf("node %s: is dead", c.Node), "node", c.Node)
			n.log.Info(fmt.Sprintf("Link %s:%s dead.", c.Node, c.Node), "node", c.Node)
		}
		n.because("ping node %s is %s", c.Node, c.To)
		n.emit(now, events.Node, c.Node, c.Node, c.To, c.From, "ping node", nil)
	}
	n.pushReach()
}

// pushReach gives the engine the ping nodes reached, once none is still
// in its first deadping.
func (n *Node) pushReach() {
	if n.ping == nil {
		return
	}
	for _, v := range n.ping.Nodes(n.now) {
		if v.Status == pingnode.StatusInit {
			return
		}
	}
	n.push(n.eng.Reach(n.ping.Reach()))
}

// pingStatus is the ping nodes as cl_status shows nodes: type "ping",
// status "ping" or "dead", one link named as the node.
func (n *Node) pingStatus(now time.Time) []control.Node {
	if n.ping == nil {
		return nil
	}
	var out []control.Node
	for _, v := range n.ping.Nodes(now) {
		cn := control.Node{Name: v.Name, Type: "ping", Status: v.Status, Since: v.Since}
		up := false
		for _, a := range v.Addrs {
			up = up || a.Up
			if a.LastHeard.After(cn.LastHeard) {
				cn.LastHeard = a.LastHeard
			}
		}
		cn.Links = []control.Link{{Name: v.Name, Status: map[bool]string{true: "up", false: "dead"}[up]}}
		out = append(out, cn)
	}
	return out
}
