// Package hbresource is Heartbeat's own resource protocol for haresources
// groups (R1 mode), spoken by a lubdub node whose one peer is a Heartbeat
// 3.0.6 (or 2.1.3) node: the "heartbeat dialect" of placement.
//
// It is a pure state machine, the lubdub side of heartbeat/hb_resource.c:
// it takes time, the peer's resource messages, membership events, the ends
// of resource operations and operator requests, and returns actions
// (placement.Run to start or stop a group here, placement.Send to send a
// cluster message). Heartbeat's rules decide: its local/foreign claims
// (rsc_hold), its stability flags (isstable), its standby protocol
// (ask_resources me/other/done) and its start-up exchange (starting,
// resource), so that the Heartbeat node sees nothing its own peer would not
// show. With auto_failback legacy (Heartbeat's default) the protocol is
// ip-request/ip-request-resp instead.
//
// Sources: Heartbeat 3.0.6 heartbeat/hb_resource.c (process_resources,
// ask_for_resources, go_standby, PerformAutoFailback, takeover_from_node,
// hb_giveup_resources), heartbeat/rc.d/{ip-request,ip-request-resp,
// hb_takeover}, lib/{hb_standby,hb_takeover,req_resource,mach_down}.in, as
// summarised message by message in the project's reference note on
// Heartbeat's resource hand-over.
//
// Heartbeat's haresources mode is two-node only, and so is this machine.
// What lubdub does differently, on purpose: it resolves the start-up
// exchange as soon as it has the peer's answer instead of waiting
// Heartbeat's 10 s deadlock breaker (RQSTDELAY) when both start together
// (a Heartbeat peer whose timer was armed earlier behaves the same), and it
// answers at once instead of at its next heartbeat.
package hbresource

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/wire"
)

// Message types and fields of the resource protocol (cluster-glue's
// ha_msg.h T_* and F_*, Heartbeat's rc.d script names).
const (
	TStarting      = "starting"
	TResource      = "resource"
	TAskResources  = "ask_resources"
	THBTakeover    = "hb_takeover"
	TIPRequest     = "ip-request"
	TIPRequestResp = "ip-request-resp"
	TStonith       = "stonith"

	FRscHold  = "rsc_hold"
	FRType    = "rtype"
	FIsStable = "isstable"
	FIPAddr   = "ipaddr"
	FWeOwn    = "weown"
	FOK       = "ok"
	FNode     = "node"
	FResult   = "result"
)

// Claim is Heartbeat's rsc_hold: the classes of groups a node holds, from
// its own point of view. Local groups are those whose haresources line
// names the node; foreign ones name the other node.
type Claim uint8

// Claims (HB_NO_RSC, HB_LOCAL_RSC, HB_FOREIGN_RSC, HB_ALL_RSC).
const (
	None    Claim = 0
	Local   Claim = 1
	Foreign Claim = 2
	All     Claim = 3
)

var claimNames = [...]string{"none", "local", "foreign", "all"}

func (c Claim) String() string { return claimNames[c&All] }

// ParseClaim reads an rsc_hold value as encode_resources does: exact
// lower-case names only.
func ParseClaim(s string) (Claim, bool) {
	for i, n := range claimNames {
		if s == n {
			return Claim(i), true
		}
	}
	return None, false
}

// Mirror is the same groups seen from the other node: local and foreign
// swap, none and all stay.
func (c Claim) Mirror() Claim { return (c&Local)<<1 | (c&Foreign)>>1 }

// Timers of Heartbeat 3.0.6.
const (
	// StandbyInitTimeout: a standby request ("me") not answered by
	// "other" within this time is cancelled (STANDBY_INIT_TO_MS).
	StandbyInitTimeout = 10 * time.Second
	// StandbyResourceTimeout: how long each side waits for the other's
	// "done" (HB_STANDBY_RSC_TO_MS).
	StandbyResourceTimeout = time.Hour
	// FailbackRetry: a blocked auto failback is tried again this often.
	FailbackRetry = time.Second
	// FinalShutdown: how long a stopping node goes on sending heartbeats
	// after its shutdone, as Heartbeat's final shutdown phases do (its
	// peer then declares it dead no earlier than a Heartbeat peer's).
	FinalShutdown = 2 * time.Second
	// FailedStartStandby: after a group failed to start here, its class
	// is handed to the peer this much later (ResourceManager's
	// acquireresourcegroup runs hb_standby after 30 s).
	FailedStartStandby = 30 * time.Second
)

// rstate is Heartbeat's resourcestate (hb_resource.h HB_R_*).
type rstate int

const (
	stInit rstate = iota
	stStarting
	stBothStarting
	stRscRcvd
	stStable
	stShutdown
)

var rstateNames = [...]string{"INIT", "STARTING", "BOTHSTARTING", "RSCRCVD", "STABLE", "SHUTDOWN"}

// standby is going_standby.
type standby int

const (
	notStandby standby = iota
	standbyMe
	standbyOther
	standbyDone
)

// Config is the machine's view of the cluster.
type Config struct {
	Local, Peer string
	Groups      []placement.Group // ID is the group's key (its first resource as written)
	// AutoFailback is ha.cf's auto_failback: on and off speak the
	// starting/resource/ask_resources protocol (nice_failback), legacy
	// the ip-request one.
	AutoFailback string
}

// jobKind is what a job does once its operations are over: the message
// Heartbeat's resource child or rc.d script sends when it finishes.
type jobKind int

const (
	jobReqOur      jobKind = iota // req_our_resources: own groups
	jobMachDown                   // mach_down: the dead peer's groups
	jobStandbyGive                // go_standby(ME): release, then "done"
	jobStandbyTake                // go_standby(OTHER): acquire, then "done"
	jobShutdown                   // hb_giveup_resources: release all, then shutdone
	jobIPRequest                  // rc.d/ip-request: release the asked group, answer
	jobTakegroup                  // rc.d/ip-request-resp (legacy start): takegroup
)

// job is one resource child: operations on groups, one job at a time, as
// Heartbeat runs one child and queues rc.d scripts behind it.
type job struct {
	kind    jobKind
	op      placement.Op
	groups  []int
	rsc     Claim  // standby set
	key     string // ip-request
	asker   string
	weown   bool
	started bool
	pending map[int]bool
	failed  bool
}

// Machine is the lubdub side of Heartbeat's resource protocol.
type Machine struct {
	cfg  Config
	log  *slog.Logger
	now  time.Time
	out  []placement.Action
	nice bool

	ready       bool // communication up here
	peerAlive   bool
	peerActive  bool
	state       rstate
	iHold       Claim
	otherHolds  Claim
	otherStable bool
	going       standby
	deadline    time.Time // standby_running
	standbyRsc  Claim
	takeover    bool // takeover_in_progress
	needsFail   bool // rsc_needs_failback
	failbackAt  time.Time
	suspect     bool // the peer is dead and its fencing is under way
	leaving     bool
	shutdone    bool // the peer said shutdone since it last started
	peerGone    bool // the peer left cleanly (shutdone) and we took over
	shutdoneAt  time.Time

	local      []placement.State
	jobs       []*job
	requested  map[int]bool // legacy: ip-request sent, answer awaited
	failedAt   map[int]time.Time
	failedStby Claim
}

// New makes a machine; Seed gives it the groups running here.
func New(cfg Config, log *slog.Logger) *Machine {
	m := &Machine{cfg: cfg, log: log, nice: cfg.AutoFailback != "legacy", otherStable: true,
		local: make([]placement.State, len(cfg.Groups)), requested: map[int]bool{}, failedAt: map[int]time.Time{}}
	for g := range m.local {
		m.local[g] = placement.Stopped
	}
	return m
}

// Seed takes over from lubdub's own placement: the groups' states here,
// the classes this node answers for (cl_status rscstatus's words: a class
// counts even without a group, as Heartbeat's claim bits do), and whether
// communication was already up (the node then counts as STABLE, as a
// Heartbeat node that has long been running). It must come before any
// other input.
func (m *Machine) Seed(now time.Time, states []placement.State, held string, ready bool) {
	m.now = now
	copy(m.local, states)
	m.iHold = m.running()
	if c, ok := ParseClaim(held); ok {
		m.iHold |= c
	}
	m.needsFail = m.iHold&Foreign != 0
	if ready {
		m.ready = true
		m.state = stStable
	}
}

func (m *Machine) flush() []placement.Action {
	out := m.out
	m.out = nil
	return out
}

// isLocal: the group's haresources line names this node.
func (m *Machine) isLocal(g int) bool { return m.cfg.Groups[g].Preferred == m.cfg.Local }

// class is the claim bit of group g from this node's point of view.
func (m *Machine) class(g int) Claim {
	if m.isLocal(g) {
		return Local
	}
	return Foreign
}

// groupsOf lists the groups of a claim, from this node's point of view
// (ourkeys, otherkeys, allkeys).
func (m *Machine) groupsOf(c Claim) []int {
	var gs []int
	for g := range m.cfg.Groups {
		if m.class(g)&c != 0 {
			gs = append(gs, g)
		}
	}
	return gs
}

// running is the claim that matches the groups running here.
func (m *Machine) running() Claim {
	var c Claim
	for g, s := range m.local {
		if s == placement.Running || s == placement.Starting || s == placement.Blocked {
			c |= m.class(g)
		}
	}
	return c
}

func (m *Machine) newMsg(typ string, kv ...string) *wire.Message {
	msg := &wire.Message{}
	msg.Add(wire.FType, typ)
	for i := 0; i+1 < len(kv); i += 2 {
		msg.Add(kv[i], kv[i+1])
	}
	return msg
}

func (m *Machine) send(msg *wire.Message) { m.out = append(m.out, placement.Send{Msg: msg}) }

// stable is hb_rsc_isstable.
func (m *Machine) stable() bool {
	if len(m.jobs) > 0 {
		return false
	}
	if !m.nice {
		return true
	}
	return m.otherStable && !m.takeover && m.going == notStandby && m.deadline.IsZero() &&
		(m.state == stStable || m.state == stShutdown || m.state == stInit)
}

// sendHeld is hb_send_resources_held: the full claim, and whether this
// node is done with its transition.
func (m *Machine) sendHeld(stable bool, info string) {
	st := "0"
	if stable {
		st = "1"
	}
	kv := []string{FRscHold, m.iHold.String(), FRType, "full", FIsStable, st}
	if info != "" {
		kv = append(kv, wire.FComment, info)
	}
	m.send(m.newMsg(TResource, kv...))
}

// Ready is this node's communication coming up (membership active). The
// start-up exchange begins once the peer is active too, or dead: before
// its own comm-up Heartbeat drops resource messages.
func (m *Machine) Ready(now time.Time) []placement.Action {
	m.now = now
	if m.ready {
		return nil
	}
	m.ready = true
	m.begin()
	return m.flush()
}

// begin is comm_up_resource_action, once both sides can talk.
func (m *Machine) begin() {
	if !m.ready || m.state != stInit || m.leaving {
		return
	}
	if !m.peerAlive {
		// Alone: the peer is dead, everything is ours (Heartbeat's
		// takeover_from_node after initdead).
		m.state = stStable
		m.takeFromPeer(StonithNotConf)
		return
	}
	if !m.nice {
		// Legacy asks an active peer for each own group, and takes it
		// directly from a peer that is not active yet (req_resource's
		// HA_DONTASK: it holds nothing before its comm-up).
		m.state = stStable
		m.reqOurResources(true)
		return
	}
	if !m.peerActive {
		return
	}
	m.state = stStarting
	m.log.Info("sending starting: asking the Heartbeat peer what it holds", "node", m.cfg.Peer)
	m.send(m.newMsg(TStarting))
}

// PeerUp is the peer heard alive (first time, again, or restarted with a
// new generation): what it held before is forgotten.
func (m *Machine) PeerUp(now time.Time) []placement.Action {
	m.now = now
	m.peerAlive = true
	m.suspect = false
	m.peerActive = false
	m.otherHolds = None
	m.shutdone = false
	m.peerGone = false
	return m.flush()
}

// PeerActive is the peer's status becoming active: its communication is
// up and it handles resource messages.
func (m *Machine) PeerActive(now time.Time) []placement.Action {
	m.now = now
	if !m.peerAlive {
		m.PeerUp(now)
	}
	m.peerActive = true
	m.begin()
	return m.flush()
}

// NeedsFencing says whether the dead peer must be fenced before its groups
// are taken (hb_rsc_recover_dead_resources): not when it had announced it
// held nothing, or (legacy) it had sent shutdone since it last started.
func (m *Machine) NeedsFencing() bool {
	if m.peerGone {
		return false
	}
	if m.nice {
		return m.otherHolds != None
	}
	return !m.shutdone
}

// Suspect is the peer's death while it is being fenced: a standby in
// progress is cancelled; nothing is taken yet.
func (m *Machine) Suspect(now time.Time) []placement.Action {
	m.now = now
	m.peerDied()
	m.suspect = true
	return m.flush()
}

func (m *Machine) peerDied() {
	if !m.peerAlive {
		return
	}
	m.peerAlive, m.peerActive = false, false
	if m.going != notStandby {
		m.log.Warn("Cancelling pending standby operation", "node", m.cfg.Peer)
		m.going, m.deadline = notStandby, time.Time{}
	}
	if m.iHold == All {
		m.otherStable = true
	}
	m.needsFail = true
}

// Results of Heartbeat's stonith message (T_STONITH_*), which tells the
// peer the outcome of a fencing; no Heartbeat handler acts on it.
const (
	StonithOK       = "OK"       // reset done
	StonithBad      = "bad"      // reset failed
	StonithBadHost  = "badhost"  // no device can reset that node
	StonithNotConf  = "n_stnth"  // a reset was needed, no device is configured
	StonithUnneeded = "unneeded" // the node had given up its groups
)

// FenceFailed is one failed try at fencing the dead peer: Heartbeat's
// Initiate_Reset sends stonith bad (badhost: no device controls that node)
// after each one, and tries again; its groups are not taken meanwhile.
func (m *Machine) FenceFailed(now time.Time, badHost bool) []placement.Action {
	m.now = now
	result := StonithBad
	if badHost {
		result = StonithBadHost
	}
	m.send(m.newMsg(TStonith, FNode, m.cfg.Peer, FResult, result))
	return m.flush()
}

// PeerDown is the peer dead and, where it had to be, fenced: its groups
// are taken over (takeover_from_node, mach_down).
func (m *Machine) PeerDown(now time.Time) []placement.Action {
	m.now = now
	wasSuspect := m.suspect
	need := m.NeedsFencing()
	m.peerDied()
	m.suspect = false
	result := StonithUnneeded
	switch {
	case wasSuspect:
		result = StonithOK
	case need:
		result = StonithNotConf
	}
	if m.peerGone {
		return m.flush() // it left cleanly and we took over then
	}
	if !m.ready || m.leaving {
		return m.flush()
	}
	if m.state < stStable {
		m.state = stStable
	}
	m.takeFromPeer(result)
	return m.flush()
}

// takeFromPeer is takeover_from_node: the peer's groups (mach_down) and
// our own not running (req_our_resources(TRUE)).
func (m *Machine) takeFromPeer(result string) {
	switch result {
	case StonithUnneeded:
		m.log.Info(fmt.Sprintf("Dead node %s gave up resources.", m.cfg.Peer), "node", m.cfg.Peer)
	case StonithNotConf:
		m.log.Warn("No STONITH device configured. Shared disks are not protected.", "node", m.cfg.Peer)
	}
	m.send(m.newMsg(TStonith, FNode, m.cfg.Peer, FResult, result))
	m.otherHolds = None
	m.otherStable = true
	if !m.nice {
		m.enqueue(&job{kind: jobMachDown, op: placement.OpStart, groups: m.groupsOf(All)})
		return
	}
	if m.iHold == All && result == StonithUnneeded {
		return
	}
	m.iHold |= Foreign
	m.takeover = true
	m.enqueue(&job{kind: jobMachDown, op: placement.OpStart, groups: m.groupsOf(Foreign)})
	m.reqOurResources(false)
}

// reqOurResources is req_our_resources: take this node's own groups unless
// the peer holds them. legacyAsk: in legacy mode, ask the peer for each
// (ip-request) when it is active.
func (m *Machine) reqOurResources(legacyAsk bool) {
	if !m.nice {
		for _, g := range m.groupsOf(Local) {
			if m.local[g] != placement.Stopped && m.local[g] != placement.Failed {
				continue
			}
			if legacyAsk && m.peerActive {
				m.requested[g] = true
				m.log.Info(fmt.Sprintf("asking %s for resource group %s (ip-request)", m.cfg.Peer, m.cfg.Groups[g].ID), "group", m.cfg.Groups[g].ID)
				m.send(m.newMsg(TIPRequest, FIPAddr, m.cfg.Groups[g].ID))
			} else {
				m.enqueue(&job{kind: jobTakegroup, op: placement.OpStart, groups: []int{g}})
			}
		}
		return
	}
	if m.otherHolds&Foreign != 0 {
		m.log.Info(fmt.Sprintf("Local Resource acquisition completed. (none): %s holds this node's groups", m.cfg.Peer))
		return
	}
	m.iHold |= Local
	m.enqueue(&job{kind: jobReqOur, op: placement.OpStart, groups: m.groupsOf(Local)})
}

// Receive takes one of the peer's resource messages (and ignores the
// others). Messages addressed to another node never get here.
func (m *Machine) Receive(now time.Time, msg *wire.Message) []placement.Action {
	m.now = now
	if !m.ready {
		return nil // no handler before comm-up, as in Heartbeat
	}
	from := strings.ToLower(msg.Value(wire.FOrig))
	switch msg.Value(wire.FType) {
	case TStarting:
		m.starting()
	case TResource:
		m.resource(msg)
	case TAskResources:
		m.askResources(from, msg)
	case THBTakeover:
		m.hbTakeover(msg)
	case TIPRequest:
		m.ipRequest(from, msg)
	case TIPRequestResp:
		m.ipRequestResp(msg)
	case wire.TShutdone:
		m.peerShutdone()
	case TStonith:
		m.log.Info(fmt.Sprintf("%s reports STONITH of %s: %s", from, msg.Value(FNode), msg.Value(FResult)), "node", from)
	default:
		return nil
	}
	m.afterEvent()
	return m.flush()
}

func (m *Machine) starting() {
	if !m.nice {
		return
	}
	switch m.state {
	case stInit:
		m.log.Info("Received 'starting' message in state 0")
		return
	case stStarting:
		m.state = stBothStarting
	}
	if m.going != notStandby || len(m.jobs) > 0 {
		m.log.Warn(fmt.Sprintf("%s restarted while a transition runs here", m.cfg.Peer))
	}
	m.otherStable = false
	m.sendHeld(m.state == stStable, "")
}

func (m *Machine) resource(msg *wire.Message) {
	if !m.nice {
		return
	}
	if m.state == stStarting || m.state == stBothStarting {
		m.state = stRscRcvd
	}
	c, ok := ParseClaim(msg.Value(FRscHold))
	if !ok {
		m.log.Error(fmt.Sprintf("bad resource type %q from %s: read as none", msg.Value(FRscHold), m.cfg.Peer), "node", m.cfg.Peer)
	}
	if msg.Value(FRType) == "full" || c == None {
		m.otherHolds = c
	} else {
		m.otherHolds |= c
	}
	if v, ok := msg.Get(FIsStable); ok {
		if v == "1" {
			if !m.otherStable {
				m.log.Info("remote resource transition completed.", "node", m.cfg.Peer)
				m.otherStable = true
				m.sendHeld(m.state == stStable, "")
				m.autoFailback()
			}
		} else {
			m.otherStable = false
		}
	}
	if m.state < stStable && m.state != stInit && m.otherStable {
		m.toStable()
	} else if m.state == stRscRcvd {
		// Both sides are starting: Heartbeat waits 10 s (RQSTDELAY) to
		// break the tie; the answer is all lubdub needed to know.
		m.log.Info("local resource transition completed.")
		m.toStable()
	}
	m.audit()
}

// toStable ends the start-up exchange: own groups unless the peer holds
// them, then "isstable=1".
func (m *Machine) toStable() {
	m.state = stStable
	m.reqOurResources(false)
	m.sendHeld(true, "")
	m.autoFailback()
}

// audit is AuditResources: it warns, never acts.
func (m *Machine) audit() {
	if !m.stable() {
		return
	}
	switch {
	case m.iHold&Local != 0 && m.otherHolds&Foreign != 0:
		m.log.Warn("Both machines own our resources!")
	case m.iHold&Foreign != 0 && m.otherHolds&Local != 0:
		m.log.Warn("Both machines own foreign resources!")
	}
}

// autoFailback is PerformAutoFailback: the holder of the peer's groups
// hands them back, once, when the peer is back and stable.
func (m *Machine) autoFailback() {
	if m.cfg.AutoFailback != "on" || !m.needsFail || m.iHold&Foreign == 0 || m.leaving || !m.peerAlive {
		return
	}
	if m.going != notStandby || !m.otherStable || m.state != stStable || len(m.jobs) > 0 {
		if m.failbackAt.IsZero() {
			m.log.Info("Auto failback delayed.")
		}
		m.failbackAt = m.now.Add(FailbackRetry)
		return
	}
	m.failbackAt = time.Time{}
	m.needsFail = false
	m.log.Info(fmt.Sprintf("giving %s its groups back (auto_failback on)", m.cfg.Peer), "node", m.cfg.Peer)
	m.requestStandby(Foreign)
}

// requestStandby sends this node's own "me" after judging it as the peer
// will (ask_for_resources, NOT branch, own message).
func (m *Machine) requestStandby(c Claim) error {
	if err := m.canStandby(); err != nil {
		return err
	}
	m.otherStable = false
	m.going = standbyMe
	m.deadline = m.now.Add(StandbyInitTimeout)
	m.standbyRsc = c
	m.send(m.newMsg(TAskResources, FRscHold, c.String(), wire.FComment, "me"))
	return nil
}

func (m *Machine) canStandby() error {
	switch {
	case !m.nice:
		return fmt.Errorf("standby mode only implemented when nice_failback on (auto_failback on or off in ha.cf)")
	case !m.deadline.IsZero() && m.now.Before(m.deadline):
		return fmt.Errorf("standby in progress: %s left", m.deadline.Sub(m.now).Round(time.Second))
	case !m.otherStable:
		return fmt.Errorf("other side is in flux")
	case m.state != stStable || len(m.jobs) > 0:
		return fmt.Errorf("local resources in flux")
	case !m.peerAlive:
		return fmt.Errorf("%s is not up", m.cfg.Peer)
	}
	return nil
}

func (m *Machine) askResources(from string, msg *wire.Message) {
	if !m.nice {
		m.log.Info("Standby mode only implemented when nice_failback on")
		return
	}
	info, ok := msg.Get(wire.FComment)
	if !ok || from == "" {
		m.log.Error("Received standby message without info/from")
		return
	}
	rsc := All
	if v, ok := msg.Get(FRscHold); ok {
		rsc, _ = ParseClaim(v)
	}
	info = strings.ToLower(info)
	if m.going == standbyDone {
		info = msg.Value(wire.FComment) // only "done" counts here, exactly
	}
	switch {
	case info == "me" && !m.deadline.IsZero() && m.now.Before(m.deadline):
		m.log.Info(fmt.Sprintf("Standby in progress- new request from %s ignored [%d seconds left]", from, int(m.deadline.Sub(m.now).Seconds())))
	case m.going == notStandby && info == "me":
		if err := m.canStandby(); err != nil {
			m.log.Info(fmt.Sprintf("Standby request ignored. %v.", err), "node", from)
			return
		}
		m.otherStable = false
		m.going = standbyOther
		m.standbyRsc = rsc
		m.deadline = m.now.Add(StandbyResourceTimeout)
		m.log.Info(fmt.Sprintf("%s wants to go standby [%s]", from, rsc), "node", from)
		m.send(m.newMsg(TAskResources, FRscHold, rsc.String(), wire.FComment, "other"))
	case m.going == standbyMe && info == "other":
		// go_standby(ME): release what we asked to give.
		m.deadline = m.now.Add(StandbyResourceTimeout)
		m.otherStable = false
		m.iHold &^= m.standbyRsc
		m.log.Info(fmt.Sprintf("%s accepted: giving up %s resources", from, m.standbyRsc), "node", from)
		m.sendHeld(false, "standby")
		m.enqueue(&job{kind: jobStandbyGive, op: placement.OpStop, groups: m.groupsOf(m.standbyRsc), rsc: m.standbyRsc})
	case m.going == standbyOther && info == "done":
		// go_standby(OTHER): take the mirror of what the peer gave up.
		m.going = standbyDone
		m.deadline = m.now.Add(StandbyResourceTimeout)
		m.enqueue(&job{kind: jobStandbyTake, op: placement.OpStart, groups: m.groupsOf(rsc.Mirror()), rsc: rsc})
	case m.going == standbyDone && info == "done":
		m.going, m.deadline = notStandby, time.Time{}
		m.log.Info(fmt.Sprintf("Other node completed standby takeover of %s resources.", rsc), "node", from)
		m.sendHeld(m.stable() || m.state == stStable, "")
	default:
		m.log.Info(fmt.Sprintf("Ignored standby message '%s' from %s in state %d", info, from, m.going), "node", from)
	}
}

// hbTakeover is rc.d/hb_takeover: the peer wants groups, so this node
// goes standby for the mirrored set.
func (m *Machine) hbTakeover(msg *wire.Message) {
	if !m.nice {
		return // hb_standby does nothing in legacy mode
	}
	c := All
	if v := msg.Value(FRscHold); v == "local" || v == "foreign" {
		c, _ = ParseClaim(v)
		c = c.Mirror()
	}
	m.log.Info(fmt.Sprintf("%s asks to take over (hb_takeover %s): going standby for %s", m.cfg.Peer, msg.Value(FRscHold), c), "node", m.cfg.Peer)
	if err := m.requestStandby(c); err != nil {
		m.log.Warn(fmt.Sprintf("hb_takeover from %s refused: %v", m.cfg.Peer, err), "node", m.cfg.Peer)
	}
}

func (m *Machine) key(k string) (int, bool) {
	for g, grp := range m.cfg.Groups {
		if grp.ID == k {
			return g, true
		}
	}
	return 0, false
}

// ipRequest is rc.d/ip-request: release the group if it runs here, and
// answer in every case.
func (m *Machine) ipRequest(from string, msg *wire.Message) {
	k := msg.Value(FIPAddr)
	g, ok := m.key(k)
	if !ok {
		m.log.Warn(fmt.Sprintf("%s asks for %q, which is no group here (is haresources the same on both nodes?)", from, k), "node", from)
		m.send(m.newMsg(TIPRequestResp, wire.FTo, from, FIPAddr, k, FWeOwn, "no", FOK, "OK"))
		return
	}
	j := &job{kind: jobIPRequest, op: placement.OpStop, key: k, asker: from}
	if s := m.local[g]; s == placement.Running || s == placement.Starting {
		j.groups, j.weown = []int{g}, true
		m.iHold &^= m.class(g)
		m.log.Info(fmt.Sprintf("%s asks for resource group %s: giving it up", from, k), "group", k)
	}
	m.enqueue(j)
}

// ipRequestResp is rc.d/ip-request-resp: takegroup when granted.
func (m *Machine) ipRequestResp(msg *wire.Message) {
	g, ok := m.key(msg.Value(FIPAddr))
	if !ok || msg.Value(FOK) != "OK" {
		return
	}
	delete(m.requested, g)
	m.iHold |= m.class(g)
	m.enqueue(&job{kind: jobTakegroup, op: placement.OpStart, groups: []int{g}})
}

// peerShutdone: the peer gave everything up and leaves; take over at once
// (HBDoMsg_T_SHUTDONE, takeover_from_node).
func (m *Machine) peerShutdone() {
	m.shutdone = true
	m.log.Info(fmt.Sprintf("Received shutdown notice from '%s'.", m.cfg.Peer), "node", m.cfg.Peer)
	m.otherHolds = None
	m.otherStable = true
	if m.going != notStandby {
		m.going, m.deadline = notStandby, time.Time{}
	}
	if m.leaving {
		return
	}
	m.peerGone = true
	if m.state < stStable {
		m.state = stStable
	}
	if !m.nice {
		m.enqueue(&job{kind: jobMachDown, op: placement.OpStart, groups: m.groupsOf(All)})
		return
	}
	m.iHold |= Foreign
	m.takeover = true
	m.enqueue(&job{kind: jobMachDown, op: placement.OpStart, groups: m.groupsOf(Foreign)})
	m.reqOurResources(false)
}

// Standby is `lubdub standby` (hb_standby): hand a class of groups to the
// peer. w is all, local or foreign, from this node's point of view.
func (m *Machine) Standby(now time.Time, w placement.Which) ([]placement.Action, error) {
	m.now = now
	c, ok := ParseClaim(string(w))
	if !ok || c == None {
		return nil, fmt.Errorf("standby %q: say all, local or foreign", w)
	}
	if err := m.requestStandby(c); err != nil {
		return m.flush(), fmt.Errorf("standby refused: %w", err)
	}
	m.log.Info(fmt.Sprintf("Going standby [%s].", c))
	return m.flush(), nil
}

// Takeover is `lubdub takeover` (hb_takeover): ask the peer to go standby
// for the mirrored set. Like Heartbeat's, it is fire and forget.
func (m *Machine) Takeover(now time.Time, w placement.Which) ([]placement.Action, error) {
	m.now = now
	c, ok := ParseClaim(string(w))
	if !ok || c == None {
		return nil, fmt.Errorf("takeover %q: say all, local or foreign", w)
	}
	if !m.nice {
		return nil, fmt.Errorf("takeover refused: standby mode only implemented when nice_failback on (auto_failback on or off in ha.cf)")
	}
	if !m.peerActive {
		return nil, fmt.Errorf("takeover refused: %s is not active", m.cfg.Peer)
	}
	m.send(m.newMsg(THBTakeover, FRscHold, c.String()))
	return m.flush(), nil
}

// Leave is a clean stop (hb_giveup_resources): once stable, tell the peer
// this node holds nothing, release everything, then send shutdone.
func (m *Machine) Leave(now time.Time) []placement.Action {
	m.now = now
	if m.leaving {
		return nil
	}
	m.leaving = true
	m.afterEvent()
	return m.flush()
}

func (m *Machine) giveUpAll() {
	if m.state == stShutdown || !m.leaving {
		return
	}
	if len(m.jobs) > 0 || (m.nice && m.going != notStandby) {
		return // "Shutdown delayed until current resource activity finishes"
	}
	m.state = stShutdown
	m.iHold = None
	if m.nice {
		m.sendHeld(false, "shutdown")
	}
	m.enqueue(&job{kind: jobShutdown, op: placement.OpStop, groups: m.groupsOf(All)})
}

// Idle reports whether a leaving node has released everything and said
// shutdone.
func (m *Machine) Idle() bool {
	if m.leaving {
		return m.state == stShutdown && len(m.jobs) == 0 && !m.shutdoneAt.IsZero() && !m.now.Before(m.shutdoneAt.Add(FinalShutdown))
	}
	return len(m.jobs) == 0 && m.running() == None
}

// enqueue adds a job behind the running one.
func (m *Machine) enqueue(j *job) {
	m.jobs = append(m.jobs, j)
	m.runJobs()
}

// runJobs starts the first job if none runs, finishing jobs with nothing
// to do at once.
func (m *Machine) runJobs() {
	for len(m.jobs) > 0 {
		j := m.jobs[0]
		if j.started {
			return
		}
		j.started = true
		j.pending = map[int]bool{}
		for _, g := range j.groups {
			s := m.local[g]
			if j.op == placement.OpStart && (s == placement.Stopped || s == placement.Failed) {
				m.local[g] = placement.Starting
			} else if j.op == placement.OpStop && (s == placement.Running || s == placement.Starting) {
				m.local[g] = placement.Stopping
			} else {
				continue
			}
			j.pending[g] = true
			m.log.Info(fmt.Sprintf("%s resource group %s", map[placement.Op]string{placement.OpStart: "acquiring", placement.OpStop: "releasing"}[j.op], m.cfg.Groups[g].ID), "group", m.cfg.Groups[g].ID)
			m.out = append(m.out, placement.Run{Group: g, Op: j.op})
		}
		if len(j.pending) > 0 {
			return
		}
		m.jobs = m.jobs[1:]
		m.finish(j)
	}
}

// Done takes the end of a group operation.
func (m *Machine) Done(now time.Time, g int, op placement.Op, ok bool) []placement.Action {
	m.now = now
	if op == placement.OpAnnounce {
		return nil
	}
	id := m.cfg.Groups[g].ID
	switch {
	case op == placement.OpStart && ok:
		m.local[g] = placement.Running
		m.log.Info(fmt.Sprintf("resource group %s started", id), "group", id)
	case op == placement.OpStart:
		m.local[g] = placement.Failed
		m.failedAt[g] = now
		m.log.Error(fmt.Sprintf("resource group %s failed to start here: it is handed to %s in %s (as ResourceManager does)", id, m.cfg.Peer, FailedStartStandby), "group", id)
		m.failedStby |= m.class(g)
		m.out = append(m.out, placement.Run{Group: g, Op: placement.OpStop})
		m.local[g] = placement.Stopping
		return m.flush() // the cleanup stop comes back through Done
	case op == placement.OpStop && ok:
		if _, failed := m.failedAt[g]; failed {
			m.local[g] = placement.Failed
		} else {
			m.local[g] = placement.Stopped
		}
		m.log.Info(fmt.Sprintf("resource group %s stopped", id), "group", id)
	default:
		m.local[g] = placement.Blocked
		m.log.Error(fmt.Sprintf("resource group %s could not be stopped: it may still run here; the release is not reported to %s (no 'done') until an operator clears it (lubdub cleanup)", id, m.cfg.Peer), "group", id)
	}
	if len(m.jobs) > 0 && m.jobs[0].started && m.jobs[0].pending[g] {
		j := m.jobs[0]
		delete(j.pending, g)
		if m.local[g] == placement.Blocked {
			j.failed = true
		}
		if len(j.pending) == 0 {
			if j.failed {
				m.log.Error("a resource group would not stop: the transition stays open here")
				return m.flush() // keep it at the head: nothing more runs, nothing is said
			}
			m.jobs = m.jobs[1:]
			m.finish(j)
			m.runJobs()
		}
	}
	m.afterEvent()
	return m.flush()
}

// finish sends what the finished job's child would send, and processes
// this node's own copy of it (Heartbeat's loopback).
func (m *Machine) finish(j *job) {
	switch j.kind {
	case jobReqOur:
		m.log.Info("Local Resource acquisition completed.")
		m.sendHeld(m.state == stStable && m.going == notStandby, "req_our_resources()")
	case jobMachDown:
		if m.nice {
			m.send(m.newMsg(TResource, FRscHold, "foreign", wire.FComment, "mach_down"))
			m.log.Info("mach_down takeover complete.")
			m.iHold |= Foreign
			m.otherStable = true
			m.takeover = false
			m.needsFail = true
		} else {
			m.iHold = m.running()
		}
	case jobStandbyGive:
		m.send(m.newMsg(TAskResources, FRscHold, j.rsc.String(), wire.FComment, "done"))
		if m.going == standbyMe {
			m.log.Info("Local standby process completed")
			m.going = standbyDone
			m.deadline = m.now.Add(StandbyResourceTimeout)
		}
	case jobStandbyTake:
		m.send(m.newMsg(TAskResources, FRscHold, j.rsc.String(), wire.FComment, "done"))
		if m.going == standbyDone {
			m.going, m.deadline = notStandby, time.Time{}
			m.iHold |= j.rsc.Mirror()
			m.log.Info(fmt.Sprintf("Standby resource acquisition done [%s].", j.rsc))
			m.sendHeld(true, "")
		}
	case jobShutdown:
		m.send(m.newMsg(wire.TShutdone, wire.FStatus, "dead"))
		m.shutdoneAt = m.now
		m.log.Info("All HA resources relinquished.")
	case jobIPRequest:
		weown := "no"
		if j.weown {
			weown = "yes"
		}
		m.send(m.newMsg(TIPRequestResp, wire.FTo, j.asker, FIPAddr, j.key, FWeOwn, weown, FOK, "OK"))
	case jobTakegroup:
		m.iHold = m.running()
	}
}

// afterEvent runs what waits for a quieter moment: a delayed shutdown, a
// delayed auto failback.
func (m *Machine) afterEvent() {
	m.giveUpAll()
}

// Tick runs the machine's timers: the standby deadline, the auto failback
// retry and the standby after a failed start.
func (m *Machine) Tick(now time.Time) []placement.Action {
	m.now = now
	if !m.deadline.IsZero() && !now.Before(m.deadline) {
		m.log.Warn("No reply to standby request. Standby request cancelled.")
		m.going, m.deadline = notStandby, time.Time{}
		m.otherStable = true
	}
	if !m.failbackAt.IsZero() && !now.Before(m.failbackAt) {
		m.failbackAt = time.Time{}
		m.autoFailback()
	}
	for g, at := range m.failedAt {
		if !now.Before(at.Add(FailedStartStandby)) {
			delete(m.failedAt, g)
			c := m.class(g)
			if m.failedStby&c != 0 {
				m.failedStby &^= c
				m.log.Warn(fmt.Sprintf("resource group %s failed to start here: going standby for %s resources", m.cfg.Groups[g].ID, c))
				if err := m.requestStandby(c); err != nil {
					m.log.Warn(fmt.Sprintf("standby after the failed start refused: %v", err))
				}
			}
		}
	}
	m.afterEvent()
	return m.flush()
}

// NextWakeup is when Tick is next due (zero: no timer).
func (m *Machine) NextWakeup() time.Time {
	var t time.Time
	var final time.Time
	if !m.shutdoneAt.IsZero() {
		final = m.shutdoneAt.Add(FinalShutdown)
	}
	for _, at := range []time.Time{m.deadline, m.failbackAt, final} {
		if !at.IsZero() && (t.IsZero() || at.Before(t)) {
			t = at
		}
	}
	for _, at := range m.failedAt {
		if at = at.Add(FailedStartStandby); t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// Cleanup clears a failed or blocked group after an operator made sure it
// no longer runs.
func (m *Machine) Cleanup(now time.Time, g int) []placement.Action {
	m.now = now
	if s := m.local[g]; s == placement.Failed || s == placement.Blocked {
		m.local[g] = placement.Stopped
		delete(m.failedAt, g)
		if len(m.jobs) > 0 && m.jobs[0].failed && m.jobs[0].pending != nil && len(m.jobs[0].pending) == 0 {
			j := m.jobs[0]
			m.jobs = m.jobs[1:]
			m.finish(j)
			m.runJobs()
		}
	}
	m.afterEvent()
	return m.flush()
}

// Local is this node's state of group g.
func (m *Machine) Local(g int) placement.State { return m.local[g] }

// States is every group's state here (for a change of dialect).
func (m *Machine) States() []placement.State { return append([]placement.State(nil), m.local...) }

// Busy reports whether an operation on g runs here.
func (m *Machine) Busy(g int) bool {
	s := m.local[g]
	return s == placement.Starting || s == placement.Stopping
}

// HoldsAny reports whether any group may run here.
func (m *Machine) HoldsAny() bool { return m.running() != None || len(m.jobs) > 0 }

// PeerHeldAny reports whether the peer's last claim held any group.
func (m *Machine) PeerHeldAny() bool { return m.otherHolds != None }

// Held answers cl_status rscstatus as Heartbeat does
// (hb_rsc_resource_state): "transition" while not stable, else the claim.
func (m *Machine) Held() string {
	if !m.ready || !m.stable() {
		return "transition"
	}
	return m.iHold.String()
}

// PeerClaim is the peer's last claim, from its point of view.
func (m *Machine) PeerClaim() Claim { return m.otherHolds }

// Describe is one line for status: the protocol state.
func (m *Machine) Describe() string {
	mode := "nice_failback (auto_failback " + m.cfg.AutoFailback + ")"
	if !m.nice {
		mode = "legacy (ip-request)"
	}
	s := fmt.Sprintf("%s, state %s, holds %s, %s holds %s", mode, rstateNames[m.state], m.iHold, m.cfg.Peer, m.otherHolds)
	if !m.otherStable {
		s += " (in flux)"
	}
	if m.going != notStandby {
		s += fmt.Sprintf(", standby %s in progress", m.standbyRsc)
	}
	return s
}

// Groups is every group as status tools show it: the peer's state comes
// from its claim.
func (m *Machine) Groups() []placement.GroupView {
	var out []placement.GroupView
	for g, grp := range m.cfg.Groups {
		v := placement.GroupView{ID: grp.ID, Preferred: grp.Preferred, Local: m.local[g], Nodes: map[string]placement.State{m.cfg.Local: m.local[g]}}
		if m.local[g] == placement.Running {
			v.Owner = m.cfg.Local
		}
		if m.peerAlive {
			st := placement.Stopped
			if m.otherHolds&m.class(g).Mirror() != 0 {
				st = placement.Running
				if v.Owner == "" {
					v.Owner = m.cfg.Peer
				}
			}
			v.Nodes[m.cfg.Peer] = st
		}
		out = append(out, v)
	}
	return out
}
