package daemon

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/placement"
)

// addrCheck is one silent peer whose groups' addresses are asked about
// (ARP) before its groups are taken over. With ping nodes and no fencing
// this is lubdub's tie-breaker for two live nodes that stopped hearing
// each other: a peer whose addresses still answer is alive behind a
// partition, and its groups stay where they are; once nothing answers it
// is gone, and its groups move.
type addrCheck struct {
	vips     []control.VIP
	next     time.Time // when to ask (again); zero while asking
	inFlight bool
	tries    int
	answer   string // the last answer: "198.18.0.10 from 52:54:..", or the error
	// unreached: this node reaches no ping node, so it does not ask.
	unreached bool
	// confirm: when the peer's last report held nothing (a hand-over
	// under way, or no report), two nodes that fell silent to each other
	// may both find every address silent and both start the groups: this
	// node asks once more after confirm (longer for the later node in
	// ha.cf), by when the other has brought its addresses up. confirming:
	// the second question is due or asked.
	confirm    time.Duration
	confirming bool
	// token tells this check's answers from those of an earlier one.
	token uint64
}

// addrCheckEvery is how often a peer's addresses are asked about again
// while they answer.
func (n *Node) addrCheckEvery() time.Duration { return max(n.cfg.Deadtime, time.Second) }

// startAddrCheck begins asking about a silent peer's addresses when ping
// nodes are configured, in a two-node cluster in lubdub's dialect; it
// reports whether it did
// (the peer then stays suspect until the check ends). Every group that
// does not run here is asked about, not only those the peer's last report
// held: that report may be stale (this node may have been paused while
// the peer took groups over).
func (n *Node) startAddrCheck(now time.Time, peer string) bool {
	// Two nodes only: with more, quorum tells partitions apart, and an
	// address may rightly answer from a third node that runs its group.
	if n.seams.AddrInUse == nil || len(n.cfg.PingNodes) == 0 || n.hb != nil || len(n.cfg.Nodes) != 2 {
		return false
	}
	var vips []control.VIP
	for g, grp := range n.cfg.Groups {
		if s := n.eng.Local(g); s == placement.Stopped || s == placement.Failed || (s == placement.Starting && !n.eng.Busy(g)) {
			vips = append(vips, groupVIPs(grp.Resources)...)
		}
	}
	if len(vips) == 0 {
		return false
	}
	n.log.Warn(fmt.Sprintf("node %s is dead to heartbeats: asking whether its groups' addresses still answer before taking them over (with ping nodes, two live nodes cut apart leave the groups where they are)", peer), "node", peer)
	n.checkTokens++
	c := &addrCheck{vips: vips, next: now, token: n.checkTokens}
	if !n.eng.PeerHeldAny(peer) {
		c.confirm = time.Duration(slices.Index(n.cfg.Nodes, n.local())+1) * max(2*n.cfg.Deadtime, 2*time.Second)
	}
	n.checking[peer] = c
	return true
}

// stopAddrCheck ends a peer's check when it is heard again.
func (n *Node) stopAddrCheck(peer string) {
	if c, ok := n.checking[peer]; ok {
		delete(n.checking, peer)
		if c.answer != "" {
			n.log.Info(fmt.Sprintf("node %s is heard again: its groups stayed with it", peer), "node", peer)
		}
	}
}

// addrCheckTick asks about the peers whose turn it is. A node that may be
// the one cut off (it reaches no ping node while its peer did) does not
// ask, and takes nothing over anyway.
func (n *Node) addrCheckTick(now time.Time) {
	for peer, c := range n.checking {
		if c.inFlight || now.Before(c.next) {
			continue
		}
		if n.eng.CutOff() {
			// Silence on our side proves nothing: wait for a ping node.
			c.unreached = true
			c.next = now.Add(n.cfg.Keepalive)
			continue
		}
		c.unreached = false
		c.inFlight = true
		c.tries++
		n.seams.AddrInUse(peer, c.token, c.vips)
	}
}

// AddrsChecked takes the answer about a silent peer's addresses:
// answeredBy names the address and MAC address that answered ("" when
// none did), failed an error that kept the question from being asked.
func (n *Node) AddrsChecked(now time.Time, peer string, token uint64, answeredBy, failed string) {
	n.now = now
	c := n.checking[peer]
	if c == nil || c.token != token {
		return // an earlier check's answer
	}
	c.inFlight = false
	switch {
	case n.alive[peer]:
		delete(n.checking, peer)
	case answeredBy == "" && failed == "" && c.confirm > 0 && !c.confirming:
		c.confirming = true
		c.next = now.Add(c.confirm)
		n.log.Warn(fmt.Sprintf("node %s: none of its groups' addresses answers, but its last report held nothing: asking once more in %s before taking its groups over (the two nodes may have lost each other during a hand-over)", peer, haconf.FormatDuration(c.confirm)), "node", peer)
	case answeredBy == "" && failed == "":
		delete(n.checking, peer)
		n.log.Warn(fmt.Sprintf("node %s: none of its groups' addresses answers: it is gone; taking its groups over", peer), "node", peer)
		n.because("node %s is dead and its addresses silent", peer)
		n.push(n.eng.NodeDown(peer))
	default:
		was := c.answer
		c.answer = answeredBy
		if failed != "" {
			c.answer = "cannot ask: " + failed
		}
		c.next = now.Add(n.addrCheckEvery())
		if c.answer != was {
			if failed != "" {
				n.log.Error(fmt.Sprintf("node %s is silent, and whether its addresses still answer cannot be asked (%s): its groups are not taken over; asking again every %s", peer, failed, haconf.FormatDuration(n.addrCheckEvery())), "node", peer)
			} else {
				n.log.Warn(fmt.Sprintf("node %s is silent but its address %s still answers: two live nodes cut apart, not a death; its groups stay there (asking again every %s)", peer, answeredBy, haconf.FormatDuration(n.addrCheckEvery())), "node", peer)
			}
		}
	}
	n.drain(now)
}

// describe is the check as status shows it.
func (c *addrCheck) describe() string {
	var addrs []string
	for _, v := range c.vips {
		addrs = append(addrs, v.Address)
	}
	switch {
	case c.confirming && c.answer == "":
		return fmt.Sprintf("silent, and %s silent too: asking once more before taking its groups over", strings.Join(addrs, ", "))
	case c.unreached:
		return "silent: this node reaches no ping node, so it does not ask about its addresses and takes nothing over"
	case c.answer == "":
		return fmt.Sprintf("silent: asking whether %s still answer before taking its groups over", strings.Join(addrs, ", "))
	case strings.HasPrefix(c.answer, "cannot ask"):
		return fmt.Sprintf("silent: %s; its groups are not taken over", c.answer)
	}
	return fmt.Sprintf("silent, but %s still answers (asked %d times): taken for a partition, its groups stay there", c.answer, c.tries)
}
