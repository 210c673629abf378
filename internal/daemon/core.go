package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/hbresource"
	"github.com/lubdub/lubdub/internal/media"
	"github.com/lubdub/lubdub/internal/membership"
	"github.com/lubdub/lubdub/internal/pingnode"
	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/resource"
	"github.com/lubdub/lubdub/internal/wire"
)

// Executor runs resource operations in the background; their results come
// back through Node.Result. resource.Executor is the real one.
type Executor interface {
	Run(g int, op resource.Op)
}

// Seams are a node's ways out: everything it does to the world goes
// through them, so that a test can run whole nodes in one process.
type Seams struct {
	// OpenMedium opens a configured medium; what it receives the caller
	// feeds to Node.Packet.
	OpenMedium func(haconf.Medium) (media.Medium, error)
	Exec       Executor
	// Load is the load average for status messages ("" if unknown).
	Load func() string
	// Fence starts fencing a node (reset), in the background; its end
	// comes back through Node.Fenced. nil: no fencing configured, a dead
	// node is assumed to hold nothing (Heartbeat without STONITH).
	Fence func(node string)
	// Event takes what the node reports (events.go); it must not block.
	// nil: no one listens.
	Event func(events.Event)
	// Ping sends one ICMP echo to a ping node's address; replies come
	// back through Node.PingReply. nil: no echoes are sent (the ping
	// nodes never answer).
	Ping func(netip.Addr)
	// AddrInUse asks, in the background, whether a silent peer's group
	// addresses still answer ARP; the answer comes back through
	// Node.AddrsChecked. nil: never asked.
	AddrInUse func(peer string, token uint64, vips []control.VIP)
}

// Identity is what a node keeps across restarts.
type Identity struct {
	Node       string
	Generation uint64
	UUID       []byte
	Version    string
	Started    time.Time
	// CrashedWithHeartbeatPeer: the last life ended in a crash while a
	// Heartbeat node was the peer. The node then stays silent until that
	// peer has declared it dead and taken its groups over (see silent).
	CrashedWithHeartbeatPeer bool
	// Maintenance: the groups (ids) in maintenance mode on this node, kept
	// in the state directory.
	Maintenance []string
}

// Node is one lubdub node's state: the membership and placement machines
// and the glue between them. It takes time and events (packets, resource
// results, control requests, ticks) and acts through its Seams only; it
// reads no clock. Actions of one event are drained from one queue, in
// order, so acting and placing never call each other.
type Node struct {
	id    Identity
	cfg   *haconf.Config
	log   *slog.Logger
	seams Seams
	mach  *membership.Machine
	eng   placer
	// hb is Heartbeat's resource protocol while the peer is a Heartbeat
	// node (eng is then its adapter); nil in lubdub's own dialect.
	hb         *hbresource.Machine
	dialect    string
	dialectWhy string
	// refused: Heartbeat nodes of a cluster of more than two nodes, which
	// share no group.
	refused map[string]bool
	media   []*medium
	drops   map[string]uint64
	limiter *rateLimiter

	queue      []any // membership.Action and placement.Action
	engReady   bool
	monitorDue []time.Time
	monitoring []bool
	leaving    bool
	refreshDue time.Time // next resend of the resource report, if unacknowledged
	// upSince: when each live peer was last heard again; it counts as
	// settled (groups may fail back to it) failback_delay later.
	upSince map[string]time.Time
	// alive: the peers membership counts alive, the engine's view.
	alive map[string]bool
	// fencedAt: dead peers that count as fenced (and so hold nothing) at
	// that time: with watchdog self-fencing, watchdog_fence_timeout after
	// their death; the engine hears of the death only then.
	fencedAt map[string]time.Time
	// fencing: peers being fenced: dead ones (their groups wait for it),
	// and live ones whose stop failed (on_fail fence, onfail.go).
	fencing map[string]*fenceState
	// fencedLive: peers fenced while membership still heard them, and
	// when: they hold nothing, and their messages count no more until they
	// restart or are declared dead.
	fencedLive map[string]time.Time
	// reported: when each peer's last resource report came; now: the
	// time of the event being handled.
	reported map[string]time.Time
	now      time.Time
	// hadQuorum: quorum at the last tick (fencedAt restarts when it
	// comes back).
	hadQuorum bool
	// silentUntil, silentMax, peerTakingOver, peerTookOver: after a crash
	// with a Heartbeat peer, nothing is sent and no group placed until
	// deadtime + 1 s have passed (Heartbeat then has declared this node
	// dead) and, if its takeover began meanwhile (its stonith report), until
	// that takeover has ended (its mach_down report), or silentMax: so that
	// its auto failback does not race its own takeover.
	silentUntil, silentMax       time.Time
	peerTakingOver, peerTookOver bool
	ctr                          counters
	rep                          reporter // what was reported as events (events.go)
	// ping: ha.cf's ping nodes (nil without any); reachSeen, reachMoved:
	// the engine's count of ping-count changes and when it last moved;
	// reachSettled: the engine has compared the counts since.
	ping         *pingnode.Tracker
	reachSeen    uint64
	reachMoved   time.Time
	reachSettled bool
	// checking: silent peers whose group addresses are being asked
	// about before their groups are taken over (ping nodes, no fencing).
	checking    map[string]*addrCheck
	checkTokens uint64
}

// fenceState is one dead peer's fencing.
type fenceState struct {
	next     time.Time // when to try (again); zero while a try runs
	tries    int
	last     string // the last failure, for status
	inFlight bool
	// live: fenced while membership hears it, because its stop failed
	// (on_fail fence); why says so.
	live bool
	why  string
}

// fenceRetry is the backoff after a failed fencing: 1 s, doubling, at most
// 30 s.
func fenceRetry(tries int) time.Duration {
	return min(30*time.Second, time.Second<<min(tries-1, 5))
}

type medium struct {
	cfg   haconf.Medium
	m     media.Medium
	state string
	err   string
	next  time.Time // when to try opening again
}

const mediaRetry = 5 * time.Second

// NewNode makes a node. blocked says, per group, whether it still runs
// here after start-up: its stop failed (it is blocked), or it is in
// maintenance (id.Maintenance) and was left running.
func NewNode(cfg *haconf.Config, id Identity, seams Seams, blocked []bool, now time.Time, log *slog.Logger) *Node {
	n := &Node{id: id, cfg: cfg, log: log, seams: seams, drops: map[string]uint64{}, limiter: newRateLimiter(10 * time.Second),
		upSince: map[string]time.Time{}, alive: map[string]bool{}, fencedAt: map[string]time.Time{}, fencing: map[string]*fenceState{}, fencedLive: map[string]time.Time{}, reported: map[string]time.Time{}, checking: map[string]*addrCheck{}}
	if n.seams.Load == nil {
		n.seams.Load = func() string { return "" }
	}
	n.now = now
	if id.CrashedWithHeartbeatPeer {
		n.silentUntil = now.Add(cfg.Deadtime + time.Second)
		n.silentMax = n.silentUntil.Add(silentTakeoverMax)
		log.Warn(fmt.Sprintf("the last life ended in a crash with a Heartbeat peer: silent for %s (deadtime + 1 s, as Heartbeat's own restart is), and until the peer's takeover ends if it begins meanwhile (at most %s more)", haconf.FormatDuration(cfg.Deadtime+time.Second), silentTakeoverMax))
	}
	eng := n.newEngine()
	for g, grp := range cfg.Groups {
		if slices.Contains(id.Maintenance, grp.ID()) {
			eng.SetMaintenance(g, true)
		}
	}
	eng.Probe(blocked)
	n.eng, n.dialect, n.dialectWhy, n.refused = eng, dialectLubdub, "no Heartbeat node seen", map[string]bool{}
	var states []placement.State
	for g := range cfg.Groups {
		states = append(states, n.eng.Local(g))
	}
	n.ctr = newCounters(states, now)
	n.monitorDue = make([]time.Time, len(cfg.Groups))
	n.monitoring = make([]bool, len(cfg.Groups))
	for _, mc := range cfg.Media {
		n.media = append(n.media, &medium{cfg: mc, state: "closed"})
	}
	n.openMedia(now)
	n.ping = n.newPingTracker(now)
	n.mach = membership.New(n.machineConfig(), now, log)
	n.startReporting(now)
	n.push(n.mach.Start(now))
	n.drain(now)
	return n
}

func (n *Node) local() string { return strings.ToLower(n.id.Node) }

func (n *Node) machineConfig() membership.Config {
	var links []string
	for _, m := range n.cfg.Media {
		if !slices.Contains(links, m.Name()) {
			links = append(links, m.Name())
		}
	}
	return membership.Config{
		Local: n.local(), Nodes: n.cfg.Nodes, Links: links,
		Keepalive: n.cfg.Keepalive, Deadtime: n.cfg.Deadtime, Warntime: n.cfg.Warntime,
		Initdead: n.cfg.Initdead, MaxRexmitDelay: n.cfg.MaxRexmitDelay,
		Generation: n.id.Generation, UUID: n.id.UUID, TTL: len(n.cfg.Nodes) + n.cfg.Hopfudge,
		Load: n.seams.Load,
	}
}

// silentTakeoverMax bounds the wait for a Heartbeat peer's takeover after
// a crash, past deadtime + 1 s.
const silentTakeoverMax = 30 * time.Second

// silent reports whether the node still keeps silent after a crash with a
// Heartbeat peer; the first call that finds it over logs so.
func (n *Node) silent(now time.Time) bool {
	if n.silentUntil.IsZero() {
		return false
	}
	if now.Before(n.silentUntil) || (n.peerTakingOver && !n.peerTookOver && now.Before(n.silentMax)) {
		return true
	}
	why := "deadtime + 1 s passed"
	switch {
	case n.peerTookOver:
		why = "the peer has taken this node's groups over"
	case n.peerTakingOver:
		why = fmt.Sprintf("the peer's takeover did not end within %s", silentTakeoverMax)
	}
	n.log.Info("silence after the crash over: " + why)
	n.silentUntil, n.silentMax = time.Time{}, time.Time{}
	return false
}

// NextWakeup is when Tick is next due.
func (n *Node) NextWakeup() time.Time {
	t := n.mach.NextWakeup()
	if n.ping != nil && n.ping.NextWakeup().Before(t) {
		t = n.ping.NextWakeup()
	}
	if at := n.reachMoved.Add(n.pingSettle()); n.ping != nil && !n.reachSettled && at.Before(t) {
		t = at
	}
	if n.refreshDue.Before(t) {
		t = n.refreshDue
	}
	if n.hb != nil {
		if at := n.hb.NextWakeup(); !at.IsZero() && at.Before(t) {
			t = at
		}
	}
	for _, at := range []time.Time{n.silentUntil, n.silentMax} {
		if at.After(n.now) && at.Before(t) {
			t = at
		}
	}
	for _, since := range n.upSince {
		if at := since.Add(n.failbackDelay()); at.Before(t) {
			t = at
		}
	}
	for _, at := range n.fencedAt {
		if at.Before(t) && n.eng.Quorate() {
			t = at
		}
	}
	for _, c := range n.checking {
		if !c.inFlight && c.next.Before(t) {
			t = c.next
		}
	}
	for _, f := range n.fencing {
		// Without quorum nothing is fenced: no wake-up for it (quorum
		// comes back with a message, which is an event of its own).
		if !f.inFlight && f.next.Before(t) && n.eng.Quorate() {
			t = f.next
		}
	}
	for _, at := range n.fencedLive {
		if at := at.Add(n.fencedSilence()); at.Before(t) {
			t = at
		}
	}
	for p, at := range n.reported {
		if exp := at.Add(n.reportFresh() + time.Millisecond); n.alive[p] && exp.Before(t) && exp.After(n.now) {
			t = exp
		}
	}
	for _, m := range n.media {
		if m.m == nil && m.state != "skipped" && m.next.Before(t) {
			t = m.next
		}
	}
	if n.cfg.Tuning.MonitorInterval > 0 {
		for g := range n.monitorDue {
			if n.eng.Local(g) == placement.Running && !n.monitoring[g] && !n.eng.Maintenance(g) && n.monitorDue[g].Before(t) {
				t = n.monitorDue[g]
			}
		}
	}
	return n.nextExpiry(t)
}

// startFencing fences a peer that fell silent before anything of it is
// taken over (Pacemaker's requires=fencing). In a two-node cluster the
// node that holds no group waits fence_delay first, so that when both
// shoot, the one that runs the groups wins (priority-fencing-delay). A
// node without quorum does not fence.
func (n *Node) startFencing(now time.Time, peer string) {
	if f, ok := n.fencing[peer]; ok {
		f.next = now // died again while a try ran: one fencing, tried again at once
		return
	}
	delay := time.Duration(0)
	if len(n.cfg.Nodes) == 2 && n.waitsToFence(peer) {
		delay = n.cfg.Tuning.FenceDelayFor(n.cfg.Deadtime)
	}
	n.log.Warn(fmt.Sprintf("node %s is dead: fencing it%s before its groups are taken over", peer, map[bool]string{true: fmt.Sprintf(" in %s (fence_delay: the peer holds groups too, or this node none)", haconf.FormatDuration(delay)), false: ""}[delay > 0]), "node", peer)
	if !n.eng.Quorate() {
		n.log.Warn(fmt.Sprintf("this node has no quorum: it fences %s only once it has", peer), "node", peer)
	}
	n.fencing[peer] = &fenceState{next: now.Add(delay)}
	n.fencingEvent(now, peer, "pending", "")
}

// waitsToFence says whether this node, in a two-node cluster, waits
// fence_delay before shooting its peer: when it holds nothing, or when both
// hold groups and it comes second in ha.cf, so that of two nodes that shoot
// at once only one dies.
func (n *Node) waitsToFence(peer string) bool {
	if !n.eng.HoldsAny() {
		return true
	}
	return n.eng.PeerHeldAny(peer) && slices.Index(n.cfg.Nodes, n.local()) > slices.Index(n.cfg.Nodes, peer)
}

// stopFencing ends a peer's fencing when it is heard again: a try that
// runs still ends, but no other starts.
func (n *Node) stopFencing(peer string) {
	if f, ok := n.fencing[peer]; ok && !f.inFlight {
		n.log.Info(fmt.Sprintf("node %s is back: fencing it no more", peer), "node", peer)
		delete(n.fencing, peer)
	}
}

// FenceResult is the end of one fencing try (Seams.Fence).
type FenceResult struct {
	OK bool
	// BadHost: no device controls the node (Heartbeat's stonith badhost).
	BadHost bool
	Detail  string // what was done, or why it failed, for logs and status
}

// Fenced takes the end of a fencing try: once fenced, the peer holds
// nothing and its groups may go elsewhere; a failure is tried again with
// backoff, and meanwhile nothing of that node is taken over. A Heartbeat
// peer is told each failure (stonith bad or badhost), as Heartbeat tells
// its own; the success is told as its groups are taken (PeerDown).
func (n *Node) Fenced(now time.Time, peer string, r FenceResult) {
	n.now = now
	f := n.fencing[peer]
	if f == nil {
		return
	}
	f.inFlight = false
	ok, detail := r.OK, r.Detail
	switch {
	case ok:
		n.ctr.fenced(peer, true)
		delete(n.fencing, peer)
		n.log.Warn(fmt.Sprintf("node %s fenced: %s", peer, detail), "node", peer)
		n.fencingEvent(now, peer, "fenced", detail)
		n.because("node %s fenced", peer)
		switch {
		case f.live && n.alive[peer]:
			n.fencedWhileAlive(now, peer)
		case !n.alive[peer]:
			n.push(n.eng.NodeDown(peer))
		}
	case n.alive[peer] && !f.live:
		delete(n.fencing, peer) // back meanwhile
	default:
		n.ctr.fenced(peer, false)
		f.last = detail
		f.next = now.Add(fenceRetry(f.tries))
		n.fencingEvent(now, peer, "failed", detail)
		n.log.Error(fmt.Sprintf("fencing node %s failed (try %d): %s; its groups wait; trying again in %s", peer, f.tries, detail, fenceRetry(f.tries)), "node", peer)
		if n.hb != nil {
			n.push(n.hb.FenceFailed(now, r.BadHost))
		}
	}
	n.drain(now)
}

// peerStonith takes a Heartbeat peer's stonith message: a fencing it did
// (OK) or failed (bad, badhost) is reported as an event, as this node's own
// are; n_stnth and unneeded fenced nothing.
func (n *Node) peerStonith(now time.Time, from string, msg *wire.Message) {
	target, result := strings.ToLower(msg.Value(hbresource.FNode)), msg.Value(hbresource.FResult)
	why := fmt.Sprintf("reported by %s (Heartbeat): stonith %s", from, result)
	switch result {
	case hbresource.StonithOK:
		n.fencingEvent(now, target, "fenced", why)
	case hbresource.StonithBad, hbresource.StonithBadHost:
		n.fencingEvent(now, target, "failed", why)
	}
}

// setAlive updates the engine's view of the live peers.
func (n *Node) setAlive(peer string, alive bool) {
	if alive {
		n.alive[peer] = true
	} else {
		delete(n.alive, peer)
	}
	n.updateView(n.now)
}

// reportFresh is how long a peer's last resource report vouches for it:
// a peer counts in this node's view (and votes) only while membership
// counts it alive and its report is that recent. Reports go out at least
// every half deadtime with three nodes or more, so a node whose peers
// declared it dead stops counting their votes within this time even if
// their later reports never reach it.
func (n *Node) reportFresh() time.Duration { return 2 * n.cfg.Deadtime }

// updateView gives the engine the peers alive and recently reported.
func (n *Node) updateView(now time.Time) {
	var alive, voting []string
	for p := range n.alive {
		alive = append(alive, p)
		if at, ok := n.reported[p]; ok && now.Sub(at) <= n.reportFresh() {
			voting = append(voting, p)
		}
	}
	n.push(n.eng.View(alive, voting))
}

// WatchdogOK reports whether the watchdog may be fed: while this node's
// partition has quorum, or it holds nothing. A node that lost quorum and
// cannot stop its groups stops feeding it, and its watchdog resets it
// before its peers take the groups over (watchdog_fence_timeout).
func (n *Node) WatchdogOK() bool {
	if n.selfFenceOnBlock() {
		return false // on_fail fence with watchdog self-fencing: a stop failed here
	}
	return n.cfg.Tuning.NoQuorumPolicy == "ignore" || n.eng.Quorate() || !n.eng.HoldsAny()
}

// failbackDelay is lubdub.cf's failback_delay: how long a peer must have
// been heard continuously before groups fail back to it.
func (n *Node) failbackDelay() time.Duration { return n.cfg.Tuning.FailbackDelayFor(n.cfg.Deadtime) }

// refreshEvery is how often a resource report nobody acknowledged is sent
// again: twice a deadtime, at most once a keepalive.
func (n *Node) refreshEvery() time.Duration { return max(n.cfg.Keepalive, n.cfg.Deadtime/2) }

// Tick runs what is due at now.
func (n *Node) Tick(now time.Time) {
	n.now = now
	n.push(n.mach.Tick(now))
	if n.hb != nil {
		n.push(n.hb.Tick(now))
	}
	if !now.Before(n.refreshDue) {
		n.refreshDue = now.Add(n.refreshEvery())
		n.push(n.eng.Refresh())
	}
	n.updateView(now)
	for peer, since := range n.upSince {
		if !now.Before(since.Add(n.failbackDelay())) {
			delete(n.upSince, peer)
			n.push(n.eng.Settled(peer))
		}
	}
	for peer, f := range n.fencing {
		// A node without quorum fences nobody; its pending fencing starts
		// once it has quorum again.
		if !f.inFlight && !now.Before(f.next) && n.eng.Quorate() {
			f.inFlight = true
			f.tries++
			n.log.Info(fmt.Sprintf("fencing node %s (try %d)", peer, f.tries), "node", peer)
			n.fencingEvent(now, peer, "fencing", fmt.Sprintf("try %d", f.tries))
			n.seams.Fence(peer)
		}
	}
	// A dead peer counts as fenced only watchdog_fence_timeout after this
	// node, with quorum, saw it dead: a node without quorum may be the
	// one cut off, and the peer it lost the one that runs on.
	quorate := n.eng.Quorate()
	if quorate && !n.hadQuorum {
		for peer := range n.fencedAt {
			n.fencedAt[peer] = now.Add(n.cfg.Tuning.WatchdogFenceTimeout)
		}
	}
	n.hadQuorum = quorate
	for peer, at := range n.fencedAt {
		if quorate && !now.Before(at) {
			delete(n.fencedAt, peer)
			n.log.Warn(fmt.Sprintf("node %s counts as fenced: its watchdog has reset it, or it stopped everything, by now (watchdog_fence_timeout)", peer), "node", peer)
			n.fencingEvent(now, peer, "fenced", "watchdog_fence_timeout")
			n.because("node %s counts as fenced (watchdog_fence_timeout)", peer)
			if n.alive[peer] {
				n.fencedWhileAlive(now, peer) // its stop failed: on_fail fence
			} else {
				n.push(n.eng.NodeDown(peer))
			}
		}
	}
	n.pingTick(now)
	n.addrCheckTick(now)
	n.checkFencedLive(now)
	n.openMedia(now)
	n.expireFailures(now)
	n.monitor(now)
	n.drain(now)
}

// Leave gives up the node's groups; Done reports when it may exit.
func (n *Node) Leave(now time.Time) {
	n.now = now
	if n.leaving {
		return
	}
	n.leaving = true
	n.because("node %s is leaving", n.local())
	n.push(n.eng.Leave())
	n.drain(now)
}

// Leaving reports whether Leave was called.
func (n *Node) Leaving() bool { return n.leaving }

// Done reports whether a leaving node has given up every group.
func (n *Node) Done() bool { return n.leaving && n.eng.Idle() }

// Shutdown tells the peers this node leaves, and closes the media.
// A node that still holds a group (a forced stop) leaves silently: a
// clean-stop message would tell the peers it holds nothing, and they would
// start its groups without fencing it or waiting for its watchdog.
func (n *Node) Shutdown(now time.Time) {
	n.now = now
	if n.hb != nil {
		// A Heartbeat peer was told with shutdone; a status st=dead
		// would make it run mach_down outside its own bookkeeping.
		n.log.Info("leaving: the Heartbeat peer was told (shutdone)")
	} else if n.eng.HoldsManaged() {
		n.log.Warn("leaving without telling the peers: groups may still run here, so they must treat this node as dead (fence it, or wait for its watchdog)")
	} else {
		n.push(n.mach.Shutdown(now))
		n.drain(now)
	}
	n.emit(now, events.Node, n.local(), n.local(), "left", string(n.rep.local), "", nil)
	n.closeMedia()
}

// Packet takes a received frame: it is authenticated, then fed to the
// membership machine.
func (n *Node) Packet(now time.Time, p media.Packet) {
	n.now = now
	pkt, err := wire.Decode(p.Data)
	if err != nil {
		reason := "malformed"
		if errors.Is(err, wire.ErrTooLarge) {
			reason = "too-large"
		}
		n.dropped(now, p.Link, p.From, "", reason, err.Error())
		return
	}
	if err := wire.Verify(pkt, n.cfg.Keys); err != nil {
		reason := "bad-digest"
		switch {
		case errors.Is(err, wire.ErrNoAuth):
			reason = "no-auth"
		case errors.Is(err, wire.ErrUnknownKey):
			reason = "unknown-key"
		}
		n.dropped(now, p.Link, p.From, pkt.Msg.Value(wire.FOrig), reason, err.Error()+": check that authkeys is the same on every node")
		return
	}
	n.ctr.received(p.Link, pkt.Msg, n.local())
	n.push(n.mach.Receive(now, p.Link, pkt.Msg))
	n.drain(now)
}

// Result takes the end of a resource operation.
func (n *Node) Result(now time.Time, r resource.Result) {
	n.now = now
	n.opEnded(now, r)
	switch r.Op {
	case resource.Announce:
		return // a failure is logged by the executor; nothing else changes
	case resource.Monitor:
		n.monitoring[r.Group] = false
		if !r.OK && n.eng.Local(r.Group) == placement.Running && !n.eng.Busy(r.Group) && !n.eng.Maintenance(r.Group) {
			n.ctr.failed(now, r.Group, string(r.Op), r.Err)
			n.log.Warn(fmt.Sprintf("monitor of resource group %s: %v", n.cfg.Groups[r.Group].ID(), r.Err), "group", n.cfg.Groups[r.Group].ID())
			n.push(n.eng.MonitorFailed(r.Group))
		}
	default:
		if !r.OK {
			n.ctr.failed(now, r.Group, string(r.Op), r.Err)
		}
		n.monitorDue[r.Group] = time.Time{}
		n.push(n.eng.Done(r.Group, placement.Op(r.Op), r.OK))
	}
	n.drain(now)
}

// monitor starts the status checks of running groups that are due.
func (n *Node) monitor(now time.Time) {
	if n.cfg.Tuning.MonitorInterval <= 0 || n.hb != nil {
		return
	}
	for g := range n.monitorDue {
		if n.eng.Local(g) != placement.Running || n.eng.Busy(g) || n.monitoring[g] || n.eng.Maintenance(g) {
			continue
		}
		if n.monitorDue[g].IsZero() {
			n.monitorDue[g] = now.Add(n.cfg.Tuning.MonitorInterval)
			continue
		}
		if now.Before(n.monitorDue[g]) {
			continue
		}
		n.monitoring[g] = true
		n.monitorDue[g] = now.Add(n.cfg.Tuning.MonitorInterval)
		n.opBegan(now, g, resource.Monitor)
		n.seams.Exec.Run(g, resource.Monitor)
	}
}

func (n *Node) push(acts any) {
	switch a := acts.(type) {
	case []membership.Action:
		for _, x := range a {
			n.queue = append(n.queue, x)
		}
	case []placement.Action:
		for _, x := range a {
			n.queue = append(n.queue, x)
		}
	}
}

// drain carries out queued actions, and those they cause, in order.
func (n *Node) drain(now time.Time) {
	n.now = now
	for len(n.queue) > 0 || (!n.engReady && n.mach.LocalStatus() == membership.StatusActive && !n.silent(now)) {
		if len(n.queue) == 0 {
			n.engReady = true
			n.push(n.eng.Ready())
			continue
		}
		a := n.queue[0]
		n.queue = n.queue[1:]
		switch a := a.(type) {
		case membership.Send:
			n.send(now, a.Msg)
		case membership.NodeChanged:
			n.log.Debug("node status", "node", a.Node, "from", string(a.From), "to", string(a.To), "reason", a.Reason)
			n.nodeChanged(now, a)
			if a.To.Alive() && n.checkDialect(now, a.Node) && a.From.Alive() {
				n.push(n.eng.NodeUp(a.Node)) // the new dialect learns of the peer
			}
			if n.refused[a.Node] {
				continue
			}
			// A peer that left cleanly, or (Heartbeat's rule) announced it
			// held nothing, is not fenced.
			fence := a.Reason != membership.ReasonShutdown && (n.hb == nil || n.hb.NeedsFencing())
			_, wasFenced := n.fencedLive[a.Node]
			switch {
			case a.To == membership.StatusDead && wasFenced:
				// Fenced while it was heard (on_fail fence): silent now,
				// as it should be.
				delete(n.fencedLive, a.Node)
			case a.To == membership.StatusDead:
				delete(n.upSince, a.Node)
				n.setAlive(a.Node, false)
				if n.seams.Fence != nil && fence {
					n.push(n.eng.Suspect(a.Node))
					n.startFencing(now, a.Node)
				} else if d := n.cfg.Tuning.WatchdogFenceTimeout; d > 0 && fence {
					n.log.Warn(fmt.Sprintf("node %s is dead: its groups are taken over once it counts as fenced, in %s (watchdog_fence_timeout)", a.Node, haconf.FormatDuration(d)), "node", a.Node)
					n.push(n.eng.Suspect(a.Node))
					n.fencedAt[a.Node] = now.Add(d)
				} else if fence && n.startAddrCheck(now, a.Node) {
					n.push(n.eng.Suspect(a.Node))
				} else {
					n.push(n.eng.NodeDown(a.Node))
				}
			case a.To.Alive() && !a.From.Alive():
				n.upSince[a.Node] = now
				delete(n.fencedAt, a.Node)
				delete(n.fencedLive, a.Node)
				n.stopFencing(a.Node)
				n.stopAddrCheck(a.Node)
				// NodeUp first: the engine must count the peer (and wait
				// for its report) before its vote can give quorum.
				n.push(n.eng.NodeUp(a.Node))
				n.setAlive(a.Node, true)
			}
			if a.To == membership.StatusActive && n.hb != nil {
				n.push(n.hb.PeerActive(now))
			}
		case membership.LinkChanged:
			n.emit(now, events.Link, a.Link, a.Node, a.To, "", "", nil)
		case membership.NodeRestarted:
			n.emit(now, events.Node, a.Node, a.Node, "restarted", "", fmt.Sprintf("generation %d", a.Generation), nil)
			n.because("node %s restarted", a.Node)
			n.checkDialect(now, a.Node)
			if n.refused[a.Node] {
				continue
			}
			n.upSince[a.Node] = now
			delete(n.fencedAt, a.Node)
			n.push(n.eng.NodeUp(a.Node))
			if _, ok := n.fencedLive[a.Node]; ok {
				// Back from its fence (a reboot) before it was declared
				// dead.
				delete(n.fencedLive, a.Node)
				n.setAlive(a.Node, true)
			}
			if f, ok := n.fencing[a.Node]; ok && f.live && !f.inFlight {
				n.log.Info(fmt.Sprintf("node %s restarted: fencing it no more (its stop failed in an earlier life)", a.Node), "node", a.Node)
				delete(n.fencing, a.Node)
			}
		case membership.Dropped:
			n.dropped(now, a.Link, "", a.Node, string(a.Reason), a.Detail)
		case membership.Deliver:
			if n.refused[a.Node] {
				continue
			}
			if !n.silentUntil.IsZero() {
				switch t := a.Msg.Value(wire.FType); {
				case t == hbresource.TStonith && strings.EqualFold(a.Msg.Value(hbresource.FNode), n.local()):
					n.peerTakingOver = true
				case t == hbresource.TResource && a.Msg.Value(wire.FComment) == "mach_down":
					n.peerTookOver = true
				}
			}
			if n.hb != nil {
				if a.Msg.Value(wire.FType) == hbresource.TStonith {
					n.peerStonith(now, a.Node, a.Msg)
				}
				n.push(n.eng.Receive(a.Node, a.Msg))
			} else if a.Msg.Value(wire.FType) == placement.MsgType {
				// Receive first: the report's view is what the vote is
				// counted from.
				n.reported[a.Node] = now
				n.push(n.eng.Receive(a.Node, a.Msg))
				n.updateView(now)
			} else {
				n.log.Debug("message not handled", "node", a.Node, "type", a.Msg.Value(wire.FType))
			}
		case placement.Send:
			n.push(n.mach.SendMessage(now, a.Msg))
		case placement.Run:
			n.opBegan(now, a.Group, resource.Op(a.Op))
			n.seams.Exec.Run(a.Group, resource.Op(a.Op))
		}
	}
	n.fenceBlockedPeers(now)
	n.noteReach(now)
	n.noteTransitions(now)
	n.observe(now)
}

// send signs a message once per frame format and sends it on every open
// medium.
func (n *Node) send(now time.Time, msg *wire.Message) {
	if n.silent(now) {
		return
	}
	var frames [2][]byte
	for _, m := range n.media {
		if m.m == nil {
			continue
		}
		f := m.m.Format()
		if frames[f] == nil {
			b, err := wire.Encode(msg, n.cfg.Keys, f)
			if err != nil {
				n.log.Error("cannot encode message", "err", err)
				return
			}
			frames[f] = b
		}
		if err := m.m.Send(frames[f]); err != nil {
			if ok, _ := n.limiter.allow(now, "send/"+m.cfg.Dev); ok {
				n.log.Warn(err.Error(), "link", m.cfg.Dev)
			}
		} else {
			n.ctr.sent(m.cfg.Dev, msg)
		}
	}
}

// openMedia opens media that are closed and due for a try.
func (n *Node) openMedia(now time.Time) {
	for _, m := range n.media {
		if m.m != nil || m.state == "skipped" || now.Before(m.next) {
			continue
		}
		mm, err := n.seams.OpenMedium(m.cfg)
		switch {
		case errors.Is(err, media.ErrSkipped):
			m.state = "skipped"
			n.log.Info(fmt.Sprintf("ucast %s %s names this node's own address: skipped", m.cfg.Dev, m.cfg.Peer))
		case err != nil:
			if m.err != err.Error() {
				n.log.Error(fmt.Sprintf("cannot open %s (ha.cf line %d): %v; retrying every %s", m.cfg, m.cfg.Line, err, mediaRetry), "link", m.cfg.Dev)
			}
			m.state, m.err, m.next = "failed", err.Error(), now.Add(mediaRetry)
		default:
			if m.state == "failed" {
				n.log.Info(fmt.Sprintf("opened %s after earlier failures", m.cfg), "link", m.cfg.Dev)
			}
			m.m, m.state, m.err = mm, "open", ""
		}
	}
}

func (n *Node) closeMedia() {
	for _, m := range n.media {
		if m.m != nil {
			m.m.Close()
			m.m = nil
			m.state = "closed"
		}
	}
}

func (n *Node) dropped(now time.Time, link, addr, node, reason, detail string) {
	n.drops[reason]++
	if !n.cfg.LogBadPack {
		return
	}
	who := addr
	if node != "" {
		who = fmt.Sprintf("%s (%s)", node, addr)
	}
	if ok, suppressed := n.limiter.allow(now, reason+"/"+who); ok {
		msg := fmt.Sprintf("dropped packet from %s on %s: %s: %s", who, link, reason, detail)
		if suppressed > 0 {
			msg += fmt.Sprintf(" (%d more like it not logged)", suppressed)
		}
		n.log.Warn(msg, "link", link, "reason", reason)
	}
}

// Reload applies a new configuration: what can change at once does, what
// needs a restart is kept as it was and logged (see reloadPlan).
func (n *Node) Reload(now time.Time, cfg *haconf.Config) (relog bool) {
	apply, kept := reloadPlan(n.cfg, cfg, n.local())
	for _, k := range kept {
		n.log.Warn(fmt.Sprintf("%s changed: it takes effect when lubdub restarts", k))
	}
	old := n.cfg
	n.cfg = apply
	n.ctr.loaded = now
	n.reloaded(now, kept)
	if !mediaEqual(old, apply) {
		var links []string
		for _, m := range apply.Media {
			links = append(links, m.Name())
		}
		n.closeMedia()
		n.media = nil
		for _, mc := range apply.Media {
			n.media = append(n.media, &medium{cfg: mc, state: "closed"})
		}
		n.openMedia(now)
		n.log.Info("media reopened", "links", strings.Join(links, ","))
	}
	return loggingChanged(old, apply)
}

// Answer answers a control request.
func (n *Node) Answer(now time.Time, req control.Request) control.Response {
	n.now = now
	defer n.drain(now)
	switch req.Cmd {
	case "status":
		return control.Response{Status: n.Status(now)}
	case "standby", "takeover":
		w := placement.Which(req.Name)
		if w == "" {
			w = placement.All
		}
		if w != placement.All && w != placement.Local && w != placement.Foreign {
			return control.Response{Error: fmt.Sprintf("%s %q: say all, local or foreign", req.Cmd, req.Name)}
		}
		var acts []placement.Action
		var err error
		if req.Cmd == "standby" {
			acts, err = n.eng.Standby(w)
		} else {
			acts, err = n.eng.Takeover(w)
		}
		n.push(acts)
		if err != nil {
			return control.Response{Error: err.Error()}
		}
		n.log.Info(fmt.Sprintf("%s %s requested", req.Cmd, w))
		n.emit(now, events.Kind(req.Cmd), string(w), n.local(), "requested", "", "", nil)
		n.because("%s %s requested on %s", req.Cmd, w, n.local())
		return control.Response{Value: fmt.Sprintf("%s %s: requested", req.Cmd, w)}
	case "maintenance":
		return n.answerMaintenance(now, req)
	case "cleanup":
		for g, grp := range n.cfg.Groups {
			if grp.ID() == req.Name || req.Name == "all" {
				n.ctr.groups[g].failCount = 0
				n.push(n.eng.Cleanup(g))
				if req.Name != "all" {
					return control.Response{Value: "cleared " + grp.ID()}
				}
			}
		}
		if req.Name == "all" {
			return control.Response{Value: "cleared every group"}
		}
		return control.Response{Error: fmt.Sprintf("no resource group %q", req.Name)}
	case "param":
		if req.Name == "hbversion" {
			return control.Response{Value: n.id.Version}
		}
		v, ok := n.cfg.Params[req.Name]
		if !ok {
			return control.Response{Error: fmt.Sprintf("Cannot get parameter %s's value", req.Name)}
		}
		return control.Response{Value: v}
	}
	return control.Response{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
}

// Status is what lubdub status shows.
func (n *Node) Status(now time.Time) *control.Status {
	s := &control.Status{
		Node: n.local(), Version: n.id.Version, Cluster: n.cfg.Cluster,
		Generation: n.id.Generation, Started: n.id.Started, Now: now,
		Keepalive: haconf.FormatDuration(n.cfg.Keepalive), Deadtime: haconf.FormatDuration(n.cfg.Deadtime),
		Warntime: haconf.FormatDuration(n.cfg.Warntime), Initdead: haconf.FormatDuration(n.cfg.Initdead),
		Resources: n.eng.Held(), Quorum: n.eng.QuorumStatus(), Drops: map[string]uint64{},
		Fencing: map[string]string{}, Dialect: n.dialect, DialectWhy: n.dialectWhy,
	}
	if n.hb != nil {
		s.DialectWhy += "; " + n.hb.Describe()
	}
	for i, g := range n.eng.Groups() {
		cg := control.Group{ID: g.ID, Preferred: g.Preferred, Owner: g.Owner, Local: string(g.Local), Nodes: map[string]string{}}
		for name, st := range g.Nodes {
			cg.Nodes[name] = string(st)
		}
		for _, r := range n.cfg.Groups[i].Resources {
			cg.Resources = append(cg.Resources, r.String())
		}
		s.Groups = append(s.Groups, cg)
	}
	for k, v := range n.drops {
		s.Drops[k] = v
	}
	for peer, f := range n.fencing {
		why := ""
		if f.why != "" {
			why = " (" + f.why + ")"
		}
		switch {
		case f.inFlight && f.last != "":
			s.Fencing[peer] = fmt.Sprintf("fencing (try %d; the last failed: %s)", f.tries, f.last) + why
		case f.inFlight:
			s.Fencing[peer] = fmt.Sprintf("fencing (try %d)", f.tries) + why
		case f.last != "":
			s.Fencing[peer] = fmt.Sprintf("failed (try %d): %s; next try in %s", f.tries, f.last, f.next.Sub(now).Round(time.Millisecond)) + why
		case !n.eng.Quorate():
			s.Fencing[peer] = "waiting for quorum to fence" + why
		default:
			s.Fencing[peer] = fmt.Sprintf("waiting %s before fencing", max(0, f.next.Sub(now)).Round(time.Millisecond)) + why
		}
	}
	for peer, at := range n.fencedAt {
		s.Fencing[peer] = fmt.Sprintf("counts as fenced in %s (watchdog_fence_timeout)", max(0, at.Sub(now)).Round(time.Millisecond))
	}
	for _, v := range n.mach.Nodes() {
		cn := control.Node{Name: v.Name, Type: "normal", Status: string(v.Status), Local: v.Local,
			Generation: v.Generation, UUID: v.UUID, LastHeard: v.LastHeard, Since: v.Since}
		for _, l := range v.Links {
			cn.Links = append(cn.Links, control.Link{Name: l.Name, Status: l.Status, LastHeard: l.LastHeard})
		}
		s.Nodes = append(s.Nodes, cn)
	}
	for _, m := range n.media {
		s.Media = append(s.Media, control.Medium{Name: m.cfg.Dev, Type: m.cfg.Type, State: m.state, Error: m.err})
	}
	s.PingNodes, s.Ping = n.pingStatus(now), n.eng.PingStatus()
	for peer, c := range n.checking {
		if s.AddrChecks == nil {
			s.AddrChecks = map[string]string{}
		}
		s.AddrChecks[peer] = c.describe()
	}
	n.countedStatus(s)
	return s
}

// rateLimiter lets one log line per key through per interval.
type rateLimiter struct {
	every time.Duration
	last  map[string]time.Time
	count map[string]int
}

func newRateLimiter(every time.Duration) *rateLimiter {
	return &rateLimiter{every: every, last: map[string]time.Time{}, count: map[string]int{}}
}

// allow reports whether a line for key may be logged at now, and how many
// were held back since the last one.
func (r *rateLimiter) allow(now time.Time, key string) (bool, int) {
	if len(r.last) > 4096 {
		clear(r.last)
		clear(r.count)
	}
	if t, ok := r.last[key]; ok && now.Sub(t) < r.every {
		r.count[key]++
		return false, 0
	}
	n := r.count[key]
	r.last[key] = now
	r.count[key] = 0
	return true, n
}
