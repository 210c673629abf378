package daemon

import (
	"fmt"
	"time"

	"github.com/lubdub/lubdub/internal/hbresource"
	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/wire"
)

// placer is the node's placement of groups, in one of two dialects:
// lubdub's own (placement.Engine: reports, N nodes, quorum) while every
// peer is a lubdub node, and Heartbeat's resource protocol (hbPlacer) while
// the peer of a two-node cluster is a Heartbeat node.
type placer interface {
	Ready() []placement.Action
	NodeUp(node string) []placement.Action
	NodeDown(node string) []placement.Action
	Suspect(node string) []placement.Action
	Receive(node string, msg *wire.Message) []placement.Action
	Refresh() []placement.Action
	Done(g int, op placement.Op, ok bool) []placement.Action
	MonitorFailed(g int) []placement.Action
	Standby(w placement.Which) ([]placement.Action, error)
	Takeover(w placement.Which) ([]placement.Action, error)
	Leave() []placement.Action
	Idle() bool
	Cleanup(g int) []placement.Action
	Local(g int) placement.State
	Busy(g int) bool
	Groups() []placement.GroupView
	Held() string
	Quorate() bool
	QuorumStatus() string
	HoldsAny() bool
	PeerHeldAny(node string) bool
	PeerBlocked(node string) []int
	View(alive, voting []string) []placement.Action
	Settled(node string) []placement.Action
	Maintenance(g int) bool
	SetMaintenance(g int, on bool) []placement.Action
	HoldsManaged() bool
	FailureExpired(g int) []placement.Action
	QuorumVotes() (votes, expected, needed int)
	Restarts(g int) int
	Desired(g int) string
	Reach(n int) []placement.Action
	PingStatus() string
	ReachChanges() uint64
	PingSettled() []placement.Action
	CutOff() bool
}

// Reach: Heartbeat's protocol has no ipfail rule of its own (ipfail is
// a client that asks for standby); in the Heartbeat dialect lubdub does
// not apply it.
func (p *hbPlacer) Reach(int) []placement.Action { return nil }

// PingStatus says that ipfail's rule waits for lubdub's dialect.
func (p *hbPlacer) PingStatus() string              { return "" }
func (p *hbPlacer) ReachChanges() uint64            { return 0 }
func (p *hbPlacer) PingSettled() []placement.Action { return nil }
func (p *hbPlacer) CutOff() bool                    { return false }

// Dialects.
const (
	dialectLubdub    = "lubdub"
	dialectHeartbeat = "heartbeat"
)

// hbPlacer is Heartbeat's protocol behind the placer interface; the node
// gives it the time of each event.
type hbPlacer struct {
	m    *hbresource.Machine
	peer string
	now  *time.Time
}

var _ placer = (*hbPlacer)(nil)
var _ placer = (*placement.Engine)(nil)

func (h *hbPlacer) Ready() []placement.Action { return h.m.Ready(*h.now) }
func (h *hbPlacer) NodeUp(node string) []placement.Action {
	if node != h.peer {
		return nil
	}
	return h.m.PeerUp(*h.now)
}
func (h *hbPlacer) NodeDown(node string) []placement.Action {
	if node != h.peer {
		return nil
	}
	return h.m.PeerDown(*h.now)
}
func (h *hbPlacer) Suspect(node string) []placement.Action {
	if node != h.peer {
		return nil
	}
	return h.m.Suspect(*h.now)
}
func (h *hbPlacer) Receive(node string, msg *wire.Message) []placement.Action {
	if node != h.peer {
		return nil
	}
	return h.m.Receive(*h.now, msg)
}
func (h *hbPlacer) Refresh() []placement.Action { return nil }
func (h *hbPlacer) Done(g int, op placement.Op, ok bool) []placement.Action {
	return h.m.Done(*h.now, g, op, ok)
}

// MonitorFailed: Heartbeat's haresources mode never monitors, and neither
// does lubdub while it speaks it (the monitor does not run).
func (h *hbPlacer) MonitorFailed(int) []placement.Action { return nil }
func (h *hbPlacer) Standby(w placement.Which) ([]placement.Action, error) {
	return h.m.Standby(*h.now, w)
}
func (h *hbPlacer) Takeover(w placement.Which) ([]placement.Action, error) {
	return h.m.Takeover(*h.now, w)
}
func (h *hbPlacer) Leave() []placement.Action        { return h.m.Leave(*h.now) }
func (h *hbPlacer) Idle() bool                       { return h.m.Idle() }
func (h *hbPlacer) Cleanup(g int) []placement.Action { return h.m.Cleanup(*h.now, g) }
func (h *hbPlacer) Local(g int) placement.State      { return h.m.Local(g) }
func (h *hbPlacer) Busy(g int) bool                  { return h.m.Busy(g) }
func (h *hbPlacer) Groups() []placement.GroupView    { return h.m.Groups() }
func (h *hbPlacer) Held() string                     { return h.m.Held() }
func (h *hbPlacer) Quorate() bool                    { return true }
func (h *hbPlacer) QuorumStatus() string             { return "yes (2 nodes, Heartbeat's protocol: no quorum)" }
func (h *hbPlacer) HoldsAny() bool                   { return h.m.HoldsAny() }
func (h *hbPlacer) PeerHeldAny(string) bool          { return h.m.PeerHeldAny() }

// PeerHolds: in Heartbeat's dialect a dead peer's addresses are not
// asked about (Heartbeat does not either).
func (h *hbPlacer) PeerHolds(string) []int                     { return nil }
func (h *hbPlacer) View([]string, []string) []placement.Action { return nil }
func (h *hbPlacer) Settled(string) []placement.Action          { return nil }

// Dialect is the resource protocol in use: "lubdub" or "heartbeat".
func (n *Node) Dialect() string { return n.dialect }

// peerIsHeartbeat says whether membership has seen the peer's status
// messages without lubdub's mark.
func (n *Node) peerIsHeartbeat(peer string) bool {
	for _, v := range n.mach.Nodes() {
		if v.Name == peer {
			return v.Heartbeat
		}
	}
	return false
}

// newEngine makes lubdub's own placement engine.
func (n *Node) newEngine() *placement.Engine {
	var groups []placement.Group
	for _, g := range n.cfg.Groups {
		groups = append(groups, placement.Group{ID: g.ID(), Preferred: g.Node})
	}
	return placement.New(placement.Config{Local: n.local(), Nodes: n.cfg.Nodes, Groups: groups,
		AutoFailback: n.cfg.AutoFailback, MaxRestarts: n.cfg.Tuning.MaxRestarts, Epoch: n.id.Generation,
		NoQuorumPolicy: n.cfg.Tuning.NoQuorumPolicy, WaitForAll: n.cfg.Tuning.WaitForAllWith(len(n.cfg.Nodes)),
		PingNodes: len(n.cfg.PingNodes)}, n.log)
}

// checkDialect chooses the dialect when a peer comes alive: Heartbeat's
// when it is a Heartbeat node (two-node clusters only), lubdub's when it
// is a lubdub node. Group states carry over, operations under way
// included: their ends come back to the new dialect. It reports whether
// the dialect changed.
func (n *Node) checkDialect(now time.Time, peer string) bool {
	hb := n.peerIsHeartbeat(peer)
	switch {
	case hb && len(n.cfg.Nodes) > 2:
		if !n.refused[peer] {
			n.refused[peer] = true
			n.log.Error(fmt.Sprintf("node %s is a Heartbeat node, and Heartbeat's haresources mode is for two nodes only: this %d-node cluster shares no group with it (run lubdub there, or keep two nodes)", peer, len(n.cfg.Nodes)), "node", peer)
			n.dialectWhy = fmt.Sprintf("%s is a Heartbeat node, refused: Heartbeat's haresources mode is for two nodes only, this cluster has %d", peer, len(n.cfg.Nodes))
		}
		return false
	case hb && n.dialect != dialectHeartbeat:
		var states []placement.State
		for g := range n.cfg.Groups {
			states = append(states, n.eng.Local(g))
		}
		held := n.eng.Held()
		var groups []placement.Group
		for _, g := range n.cfg.Groups {
			groups = append(groups, placement.Group{ID: g.ID(), Preferred: g.Node})
		}
		m := hbresource.New(hbresource.Config{Local: n.local(), Peer: peer, Groups: groups, AutoFailback: n.cfg.AutoFailback}, n.log)
		m.Seed(now, states, held, n.engReady)
		n.eng = &hbPlacer{m: m, peer: peer, now: &n.now}
		n.hb = m
		n.dialect = dialectHeartbeat
		n.dialectWhy = fmt.Sprintf("%s is a Heartbeat node (its heartbeats lack lubdub's mark): Heartbeat's resource protocol, auto_failback %s", peer, n.cfg.AutoFailback)
		n.log.Warn(fmt.Sprintf("node %s is a Heartbeat node: speaking Heartbeat's resource protocol for the groups (auto_failback %s)", peer, n.cfg.AutoFailback), "node", peer)
		return true
	case !hb && n.dialect == dialectHeartbeat:
		states := n.hb.States()
		e := n.newEngine()
		e.Adopt(states)
		n.eng, n.hb, n.engReady = e, nil, false
		n.pushReach()
		n.dialect = dialectLubdub
		n.dialectWhy = "every peer is a lubdub node"
		n.log.Warn(fmt.Sprintf("node %s is a lubdub node: speaking lubdub's own resource protocol again", peer), "node", peer)
		return true
	}
	return false
}

// Maintenance is lubdub's own; a Heartbeat peer would not understand a
// group left alone (answerMaintenance refuses it in this dialect).
func (h *hbPlacer) Maintenance(int) bool                        { return false }
func (h *hbPlacer) SetMaintenance(int, bool) []placement.Action { return nil }
func (h *hbPlacer) HoldsManaged() bool                          { return h.m.HoldsAny() }
func (h *hbPlacer) FailureExpired(g int) []placement.Action {
	if h.m.Local(g) == placement.Failed {
		return h.m.Cleanup(*h.now, g)
	}
	return nil
}

// PeerBlocked: a Heartbeat peer does not report a failed stop (its own
// ResourceManager reboots its machine then).
func (h *hbPlacer) PeerBlocked(string) []int                   { return nil }
func (h *hbPlacer) QuorumVotes() (votes, expected, needed int) { return 2, 2, 1 }
func (h *hbPlacer) Restarts(int) int                           { return 0 }

// Desired is who runs g by the claims: Heartbeat's protocol has no
// desired owner apart from them.
func (h *hbPlacer) Desired(g int) string { return h.m.Groups()[g].Owner }
