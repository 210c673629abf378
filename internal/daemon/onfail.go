package daemon

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/placement"
)

// on_fail fence (Pacemaker's on-fail=fence for a failed stop): a node
// where a group's stop failed reports the group blocked; a peer with
// quorum fences it, through the fence devices (Seams.Fence) or, with
// watchdog self-fencing alone, by counting it fenced watchdog_fence_timeout
// after it learnt of the block (the blocked node stops feeding its
// watchdog at once: WatchdogOK). Once fenced, the node counts as holding
// nothing and the group starts elsewhere. The node is fenced while
// membership still hears it; its later messages count no more until it
// restarts or is declared dead (fencedLive).

// onFailFence reports whether a peer whose stop failed is fenced (rather
// than its group left blocked): on_fail fence in force, fencing at hand,
// and lubdub's own dialect (a Heartbeat peer never reports a failed stop;
// its ResourceManager reboots its own machine then).
func (n *Node) onFailFence() bool {
	return n.hb == nil && n.cfg.OnFail(n.local()) == "fence" && (n.seams.Fence != nil || n.cfg.Tuning.WatchdogFenceTimeout > 0)
}

// blockedHere lists the groups blocked on this node.
func (n *Node) blockedHere() []string {
	var ids []string
	for g, grp := range n.cfg.Groups {
		if n.eng.Local(g) == placement.Blocked {
			ids = append(ids, grp.ID())
		}
	}
	return ids
}

// selfFenceOnBlock: with watchdog self-fencing and no device, a node whose
// group is blocked here fences itself, its watchdog unfed.
func (n *Node) selfFenceOnBlock() bool {
	return n.onFailFence() && n.seams.Fence == nil && len(n.blockedHere()) > 0
}

// fenceBlockedPeers starts fencing every live peer that reports a blocked
// group, and gives up fencing those that no longer do (a try under way
// ends on its own). A node with a blocked group of its own fences nobody
// for this: it is the one to be fenced, and two nodes whose stops failed
// must not shoot each other.
func (n *Node) fenceBlockedPeers(now time.Time) {
	if !n.onFailFence() {
		return
	}
	mine := len(n.blockedHere()) > 0
	for _, peer := range n.cfg.Nodes {
		if peer == n.local() || !n.alive[peer] || n.refused[peer] {
			continue
		}
		groups := n.eng.PeerBlocked(peer)
		f, fencing := n.fencing[peer]
		at, counting := n.fencedAt[peer]
		switch {
		case len(groups) > 0 && !mine && !fencing && !counting:
			var ids []string
			for _, g := range groups {
				ids = append(ids, n.cfg.Groups[g].ID())
			}
			why := fmt.Sprintf("stop failed there: %s blocked", strings.Join(ids, ", "))
			if n.seams.Fence != nil {
				n.log.Warn(fmt.Sprintf("node %s reports resource group %s blocked (its stop failed): fencing it (on_fail fence), then the group starts elsewhere", peer, strings.Join(ids, ", ")), "node", peer)
				n.fencing[peer] = &fenceState{next: now, live: true, why: why}
			} else {
				d := n.cfg.Tuning.WatchdogFenceTimeout
				n.log.Warn(fmt.Sprintf("node %s reports resource group %s blocked (its stop failed): it stops feeding its watchdog, and counts as fenced in %s (on_fail fence, watchdog_fence_timeout)", peer, strings.Join(ids, ", "), d), "node", peer)
				n.fencedAt[peer] = now.Add(d)
			}
			n.fencingEvent(now, peer, "pending", why)
		case len(groups) == 0 && fencing && f.live && !f.inFlight:
			n.log.Info(fmt.Sprintf("node %s no longer reports a blocked group: fencing it no more", peer), "node", peer)
			delete(n.fencing, peer)
		case len(groups) == 0 && counting && at.After(now):
			n.log.Info(fmt.Sprintf("node %s no longer reports a blocked group: it does not count as fenced", peer), "node", peer)
			delete(n.fencedAt, peer)
		}
	}
}

// fencedWhileAlive takes a peer fenced while membership still heard it:
// it holds nothing from now on, and its messages, until it restarts or is
// declared dead, count no more.
func (n *Node) fencedWhileAlive(now time.Time, peer string) {
	n.fencedLive[peer] = now
	delete(n.upSince, peer)
	n.setAlive(peer, false)
	n.push(n.eng.NodeDown(peer))
}

// fencedSilence is how long a peer fenced while alive may still be heard
// before the fence is taken as failed: its last frames in flight, then
// deadtime for membership to declare it dead.
func (n *Node) fencedSilence() time.Duration { return 2 * n.cfg.Deadtime }

// checkFencedLive brings back a peer fenced while alive that membership
// still hears well after its fence: the device said it was fenced, but it
// runs on. Its reports count again (a blocked group is then fenced again).
func (n *Node) checkFencedLive(now time.Time) {
	for _, peer := range slices.Sorted(maps.Keys(n.fencedLive)) {
		if now.Sub(n.fencedLive[peer]) < n.fencedSilence() {
			continue
		}
		delete(n.fencedLive, peer)
		n.log.Error(fmt.Sprintf("node %s is still heard %s after it was fenced: its fence device reported success, yet it runs on; counting it again (check the device)", peer, n.fencedSilence()), "node", peer)
		n.push(n.eng.NodeUp(peer))
		n.setAlive(peer, true)
	}
}

// blockedHereNote says what becomes of this node now that group g is
// blocked here.
func (n *Node) blockedHereNote(g int) {
	id := n.cfg.Groups[g].ID()
	switch {
	case !n.onFailFence():
		n.log.Error(fmt.Sprintf("resource group %s is blocked here (on_fail block): no node starts it until lubdub cleanup %s here", id, id), "group", id)
	case n.seams.Fence != nil:
		n.log.Error(fmt.Sprintf("resource group %s is blocked here: a peer with quorum will fence this node (on_fail fence), then start it elsewhere", id), "group", id)
	default:
		n.log.Error(fmt.Sprintf("resource group %s is blocked here: this node no longer feeds its watchdog, which resets it (on_fail fence); peers start the group watchdog_fence_timeout later", id), "group", id)
	}
}
