// Package placement decides which node runs each haresources group, and
// hands groups over between nodes, as a pure state machine.
//
// Every node runs an Engine with the same configuration. Each engine
// reports its local group states to the others (a "lubdub-rsc" cluster
// message) and computes, from the same membership view and the same
// reports, the same desired owner for every group, with no election round
// trip. The rules, Heartbeat's two-node rules generalised:
//
//  1. An explicit assignment (from standby or takeover, or a returning
//     preferred node's claim) wins while its node is a candidate.
//  2. With auto_failback off, the node that runs the group keeps it.
//  3. Otherwise the preferred node (the haresources line's first word).
//  4. Otherwise the first candidate after the preferred node, in ha.cf
//     order, wrapping around.
//
// A candidate is a live node that has joined (communication up), that has
// not failed to start the group and that is not blocked on it.
//
// Safety: a node starts a group only when every other live node reports it
// stopped (or failed), so a planned move starts on the receiver as soon as
// the giver reports it has stopped, and never two nodes run it at once
// while they can hear each other. Nodes that die are assumed to hold
// nothing (as Heartbeat without STONITH; fencing comes later). A group
// whose stop failed is blocked: it is started nowhere until an operator
// clears it.
package placement

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/lubdub/lubdub/internal/wire"
)

// State is a group's state on one node.
type State string

// Group states.
const (
	Stopped  State = "stopped"
	Starting State = "starting"
	Running  State = "running"
	Stopping State = "stopping"
	Failed   State = "failed"  // start failed here; stopped cleanly; others may try
	Blocked  State = "blocked" // stop failed: it may still run here; nobody may start it
)

// holds reports whether the state may mean the group runs.
func (s State) holds() bool { return s == Starting || s == Running || s == Stopping || s == Blocked }

// Group is one haresources group.
type Group struct {
	ID        string
	Preferred string
}

// Config is the same on every node but for Local.
type Config struct {
	Local        string
	Nodes        []string
	Groups       []Group
	AutoFailback string // on, off or legacy (treated as on)
	MaxRestarts  int    // monitor failures restarted in place before the group moves
	// Epoch tells this engine's incarnations apart (the node's generation):
	// a peer's acknowledgement counts only for the epoch it names.
	Epoch uint64
	// NoQuorumPolicy is what a node without quorum does: "stop" (the
	// default) stops its groups and starts none, "freeze" keeps what runs
	// and starts nothing, "ignore" places as if it had quorum.
	NoQuorumPolicy string
	// WaitForAll: a node places nothing until it has seen every node
	// once since it started (corosync's wait_for_all).
	WaitForAll bool
	// PingNodes is the number of ping nodes in ha.cf (0: none). With
	// ping nodes, ipfail's rule is built in: a node that reaches fewer of
	// them than another live node is no candidate, and one that reaches
	// none and hears no peer starts nothing (it may be the one cut off).
	// Each node says in its reports how many it reaches (Reach); the
	// caller says when the counts have been still long enough to compare
	// (PingSettled).
	PingNodes int
}

// Assignment is an explicit owner for a group, versioned so that every
// node adopts the newest one.
type Assignment struct {
	Version uint64
	Node    string // "" clears
}

func (a Assignment) newer(b Assignment) bool {
	return a.Version > b.Version || (a.Version == b.Version && a.Node > b.Node)
}

// Op is an operation the executor runs on a local group.
type Op string

// Operations.
const (
	OpStart Op = "start"
	OpStop  Op = "stop"
	// OpAnnounce tells clients again where the group's addresses are.
	OpAnnounce Op = "announce"
)

// Action is something the caller must do.
type Action interface{ action() }

// Run asks the executor to start or stop a group (all its resources, in
// order).
type Run struct {
	Group int
	Op    Op
}

// Send asks the caller to send a cluster message.
type Send struct{ Msg *wire.Message }

func (Run) action()  {}
func (Send) action() {}

// MsgType is the cluster message type of resource reports.
const MsgType = "lubdub-rsc"

type report struct {
	leaving  bool
	rev      uint64
	states   []State
	assign   []Assignment
	claims   []uint64 // per group: the revision at which the node's claim began
	ack      uint64   // the newest of our revisions it had seen
	settled  []string // the peers it has heard continuously for failback_delay
	view     []string // the nodes its membership counts alive
	noQuorum bool     // it lost the quorum it had: it can run nothing
	reach    int      // the ping nodes it reaches (-1: it did not say; reachPending: not known there yet)
	maint    []bool   // per group: in maintenance mode there
	starts   []uint64 // per group: how often it started the group (this incarnation)
}

// Engine is one node's placement state machine.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	ready    bool
	alive    map[string]bool
	reports  map[string]*report
	local    []State
	busy     []bool
	failing  []bool // the running stop follows a failed start or exhausted restarts
	restarts []int  // monitor failures since the group last came here
	inPlace  []bool // the running stop is a restart in place
	// contested: a peer reported running the group while it runs here (a
	// partition healed, a paused node resumed); the node that keeps it
	// announces it again once the other has let go.
	contested []bool
	wasUp     map[string]bool // peers seen alive before: their return may follow a partition
	// starts counts, per group, the starts of this incarnation; every
	// report carries it. peerStarts are the counts last seen from each
	// peer: a count that grew means the peer started the group meanwhile,
	// even if the reports that said it ran were lost on the way (or came
	// after a newer one, and were dropped as stale).
	starts     []uint64
	peerStarts map[string][]uint64
	// settled: peers heard continuously for failback_delay (the caller
	// says when); groups fail back only to a node every live peer
	// reports settled.
	settled map[string]bool
	// view: the peers membership counts alive now (NodeDown may come
	// later, once a dead node is fenced); seen: those seen alive since
	// start (wait_for_all). A peer's vote counts while both see each other.
	view      map[string]bool
	seen      map[string]bool
	hadQuorum bool
	// suspect: peers dead to membership but not yet fenced (NodeDown
	// waits for that): they may hold any group, and may be given none.
	suspect map[string]bool
	// everQuorate: this node has had quorum since it started; losing it
	// later is reported, and peers then place nothing here.
	everQuorate bool
	// claimPending: a returning preferred node (auto_failback) claims its
	// groups back once it has every live peer's report, and so knows the
	// assignments in force.
	claimPending bool
	// maint: groups in maintenance mode here (SetMaintenance): nothing
	// is started, stopped, restarted or moved here, whatever the rules
	// say. frozen: per group, the peer that left or died while it held
	// the group in maintenance: no node starts it until that peer is back
	// or an operator clears it (Cleanup).
	maint  []bool
	frozen []string
	assign []Assignment
	// classes: who answers for each node's class of groups (the groups it
	// prefers), as Heartbeat's resource classes local and foreign, which
	// it tracks even when a class has no group (cl_status rscstatus).
	// Standby and takeover move classes with their groups; a class no
	// assignment names belongs to its node while it lives.
	classes map[string]Assignment
	out     []Action
	// reach: the ping nodes this node reaches (Reach); -1 until the
	// caller knows (every ping node answered or timed out once).
	// lastReach: each peer's last reported count, kept after its death;
	// reachSnap: the counts ipfail's rule compares, taken when they were
	// last still (PingSettled; nil before); reachChanges counts changes.
	reach        int
	lastReach    map[string]int
	reachSnap    map[string]int
	reachChanges uint64

	// Starting is two-phase. A node claims a group (reports it Starting at
	// revision claims[g]) and acts only when every live peer has answered
	// with a report acknowledging that revision in which it does not hold
	// the group. Two nodes that claim at once both wait; as their reports
	// cross they converge on the same desired owner and the other one
	// withdraws, so acting never overlaps.
	leaving bool // this node is shutting down: it gives up every group
	rev     uint64
	claims  []uint64
	seenRev map[string]uint64 // newest revision received from each peer
	epochs  map[string]uint64 // each peer's epoch, from its reports
	ackSent map[string]uint64 // newest revision of each peer our reports acknowledged
}

// New creates an engine. Local group states come from Probe.
func New(cfg Config, log *slog.Logger) *Engine {
	n := len(cfg.Groups)
	e := &Engine{cfg: cfg, log: log, alive: map[string]bool{}, reports: map[string]*report{},
		local: make([]State, n), busy: make([]bool, n), failing: make([]bool, n),
		restarts: make([]int, n), inPlace: make([]bool, n), maint: make([]bool, n), frozen: make([]string, n), contested: make([]bool, n), wasUp: map[string]bool{}, settled: map[string]bool{}, suspect: map[string]bool{}, view: map[string]bool{}, seen: map[string]bool{}, assign: make([]Assignment, n),
		claims: make([]uint64, n), seenRev: map[string]uint64{}, ackSent: map[string]uint64{},
		starts: make([]uint64, n), peerStarts: map[string][]uint64{},
		epochs: map[string]uint64{}, classes: map[string]Assignment{}}
	for i := range e.local {
		e.local[i] = Stopped
	}
	e.reach = -1
	e.lastReach = map[string]int{}
	return e
}

func (e *Engine) flush() []Action {
	out := e.out
	e.out = nil
	return out
}

// Probe records groups that still run here after the daemon's start-up:
// a group in maintenance was left as it was and runs on; any other one
// would not stop and is blocked until an operator clears it. Call
// SetMaintenance first.
func (e *Engine) Probe(stillRunning []bool) {
	for i, r := range stillRunning {
		if r && i < len(e.local) && e.maint[i] {
			e.local[i] = Running
			e.log.Info(fmt.Sprintf("resource group %s runs here and is in maintenance: left running, unmonitored", e.cfg.Groups[i].ID), "group", e.cfg.Groups[i].ID)
		} else if r && i < len(e.local) {
			e.local[i] = Blocked
			e.log.Error(fmt.Sprintf("resource group %s still runs here and would not stop: blocked until an operator clears it (lubdub cleanup)", e.cfg.Groups[i].ID), "group", e.cfg.Groups[i].ID)
		}
	}
}

// Adopt takes the groups' states here from another dialect of placement
// (Heartbeat's protocol, spoken while the peer was a Heartbeat node):
// groups running here go on running, operations under way end through
// Done. It must come before Ready.
func (e *Engine) Adopt(states []State) {
	for i, s := range states {
		if i < len(e.local) {
			e.local[i] = s
			e.busy[i] = s == Starting || s == Stopping
		}
	}
}

// Ready is called once membership is up (every node heard from or dead):
// from then on the engine places groups. A returning preferred node with
// auto_failback on claims its groups back.
func (e *Engine) Ready() []Action {
	e.ready = true
	e.alive[e.cfg.Local] = true
	e.claimPending = e.failback()
	e.sendReport()
	e.claim()
	e.reconcile()
	return e.flush()
}

// claim takes back, once, the groups this node prefers that an assignment
// gave to another node (after a standby), when auto_failback is on.
func (e *Engine) claim() {
	if !e.claimPending {
		return
	}
	for n := range e.alive {
		if n != e.cfg.Local && e.reports[n] == nil {
			return // not every assignment is known yet
		}
	}
	e.claimPending = false
	claimed := false
	for i, g := range e.cfg.Groups {
		if g.Preferred == e.cfg.Local && e.assign[i].Node != "" && e.assign[i].Node != e.cfg.Local {
			e.assign[i] = Assignment{Version: e.maxVersion() + 1, Node: e.cfg.Local}
			claimed = true
		}
	}
	if a := e.classes[e.cfg.Local]; a.Node != "" && a.Node != e.cfg.Local {
		e.assignClass(e.cfg.Local, e.cfg.Local)
		claimed = true
	}
	if claimed {
		e.sendReport()
	}
}

func (e *Engine) failback() bool { return e.cfg.AutoFailback != "off" }

// NodeUp records a peer that joined or restarted: what it held before is
// forgotten until it reports again.
func (e *Engine) NodeUp(node string) []Action {
	if node == e.cfg.Local {
		return nil
	}
	e.alive[node] = true
	delete(e.suspect, node)
	for g, f := range e.frozen {
		if f == node {
			e.frozen[g] = "" // its reports say again what it holds
		}
	}
	delete(e.reports, node)
	delete(e.seenRev, node)
	delete(e.ackSent, node)
	delete(e.epochs, node)
	delete(e.peerStarts, node)
	if e.wasUp[node] {
		// A peer back after a partition (or a pause) may have run our
		// groups, and clients followed it: announce them again once it
		// has reported that it lets them go.
		for g := range e.cfg.Groups {
			if e.local[g] == Running {
				e.contested[g] = true
			}
		}
	}
	e.wasUp[node] = true
	if e.ready {
		e.sendReport() // so that it learns our states and assignments
	}
	e.reconcile()
	return e.flush()
}

// NodeDown records a peer's death or clean stop: it is assumed to hold
// nothing, and assignments to it lapse.
func (e *Engine) NodeDown(node string) []Action {
	if node == e.cfg.Local {
		return nil
	}
	if r := e.reports[node]; r != nil {
		for g, m := range r.maint {
			if m && r.states[g].holds() {
				e.frozen[g] = node
				e.log.Warn(fmt.Sprintf("resource group %s: node %s is gone while it held the group in maintenance: no node starts it until %s is back or an operator clears it here (lubdub cleanup)", e.cfg.Groups[g].ID, node, node), "group", e.cfg.Groups[g].ID, "node", node)
			}
		}
	}
	delete(e.alive, node)
	delete(e.suspect, node)
	delete(e.settled, node)
	delete(e.reports, node)
	delete(e.seenRev, node)
	delete(e.ackSent, node)
	delete(e.epochs, node)
	changed := false
	for i := range e.assign {
		if e.assign[i].Node == node {
			e.assign[i] = Assignment{Version: e.assign[i].Version + 1}
			changed = true
		}
	}
	for p, a := range e.classes {
		if a.Node == node {
			e.classes[p] = Assignment{Version: a.Version + 1}
			changed = true
		}
	}
	if !e.failback() && e.classes[node].Node == "" {
		// Without failback the node that takes a dead node's class keeps
		// it when that node returns, as with its groups.
		if to := e.classDefault(node); to != node && to != "" {
			e.assignClass(node, to)
			changed = true
		}
	}
	if changed && e.ready {
		e.sendReport()
	}
	e.reconcile()
	return e.flush()
}

// Receive takes a peer's report.
func (e *Engine) Receive(node string, msg *wire.Message) []Action {
	if msg.Value(wire.FType) != MsgType || node == e.cfg.Local || !e.alive[node] {
		return nil
	}
	rev, err := strconv.ParseUint(msg.Value("rev"), 10, 64)
	ep, err2 := strconv.ParseUint(msg.Value("ep"), 10, 64)
	if err != nil || err2 != nil {
		e.log.Error(fmt.Sprintf("node %s sent a resource report without rev or ep: ignored", node), "node", node)
		return nil
	}
	if old, ok := e.epochs[node]; ok && ep != old {
		if ep < old {
			return nil // from an earlier incarnation
		}
		delete(e.seenRev, node) // a new incarnation starts its revisions again
		delete(e.ackSent, node)
		delete(e.peerStarts, node) // and its counts
	}
	if rev <= e.seenRev[node] {
		return nil // stale: a retransmitted older report
	}
	e.epochs[node] = ep
	e.seenRev[node] = rev
	r := &report{rev: rev, states: make([]State, len(e.cfg.Groups)), assign: make([]Assignment, len(e.cfg.Groups)), maint: make([]bool, len(e.cfg.Groups)),
		claims: make([]uint64, len(e.cfg.Groups)), starts: make([]uint64, len(e.cfg.Groups)), settled: strings.Fields(msg.Value("up")), view: strings.Fields(msg.Value("vw")),
		noQuorum: msg.Value("nq") == "1", reach: -1}
	if v, err := strconv.Atoi(msg.Value("pg")); err == nil && v >= 0 {
		r.reach = v
	} else if msg.Value("pg") == "?" {
		r.reach = reachPending
	}
	if old, ok := e.lastReach[node]; (!ok && r.reach >= 0) || (ok && old != r.reach) {
		e.reachChanges++
	}
	if r.reach >= 0 {
		e.lastReach[node] = r.reach
	} else {
		delete(e.lastReach, node)
	}
	ourEpoch := strconv.FormatUint(e.cfg.Epoch, 10)
	for _, kv := range strings.Fields(msg.Value("ack")) {
		if f := strings.Split(kv, ":"); len(f) == 3 && f[0] == e.cfg.Local && f[1] == ourEpoch {
			r.ack, _ = strconv.ParseUint(f[2], 10, 64)
		}
	}
	unacked := false
	for i, g := range e.cfg.Groups {
		idx := strconv.Itoa(i)
		if msg.Value("id"+idx) != g.ID {
			e.log.Error(fmt.Sprintf("node %s has a different haresources (group %d is %q there, %q here): not starting anything it might hold", node, i, msg.Value("id"+idx), g.ID), "node", node)
			r.states[i] = Blocked
			continue
		}
		r.maint[i] = msg.Value("mt"+idx) == "1"
		r.states[i] = State(msg.Value("st" + idx))
		switch r.states[i] {
		case Stopped, Starting, Running, Stopping, Failed, Blocked:
		default:
			r.states[i] = Blocked
		}
		v, n, _ := strings.Cut(msg.Value("as"+idx), " ")
		ver, _ := strconv.ParseUint(v, 10, 64)
		r.assign[i] = Assignment{Version: ver, Node: n}
		r.claims[i], _ = strconv.ParseUint(msg.Value("cr"+idx), 10, 64)
		r.starts[i], _ = strconv.ParseUint(msg.Value("sc"+idx), 10, 64)
		if r.states[i] == Starting && r.claims[i] > e.ackSent[node] {
			unacked = true
		}
	}
	r.leaving = msg.Value("lv") == "1"
	e.reports[node] = r
	if prev, ok := e.peerStarts[node]; ok {
		for i, n := range r.starts {
			if n > prev[i] && e.local[i] == Running && !e.busy[i] && !e.contested[i] {
				// The peer ran the group while it ran here, and its
				// gratuitous ARP took clients along: announce it again once
				// the peer has let go (heal).
				id := e.cfg.Groups[i].ID
				e.log.Warn(fmt.Sprintf("resource group %s: node %s started it meanwhile (its count of starts says so): this node announces it again once %s has let go", id, node, node), "group", id, "node", node)
				e.contested[i] = true
			}
		}
	}
	e.peerStarts[node] = r.starts
	adopted := false
	for i := range e.assign {
		if r.assign[i].newer(e.assign[i]) {
			e.assign[i] = r.assign[i]
			adopted = true
		}
	}
	for _, f := range strings.Fields(msg.Value("ca")) {
		p, rest, _ := strings.Cut(f, ":")
		v, n, _ := strings.Cut(rest, ":")
		ver, err := strconv.ParseUint(v, 10, 64)
		if err != nil || !slices.Contains(e.cfg.Nodes, p) || (n != "" && !slices.Contains(e.cfg.Nodes, n)) {
			continue
		}
		if a := (Assignment{Version: ver, Node: n}); a.newer(e.classes[p]) {
			e.classes[p] = a
			adopted = true
		}
	}
	// behind: the sender has no report of ours (it forgot them when it saw
	// us return after a partition, or never got one): without it the
	// sender cannot place anything, and we would wait for each other. A
	// report lost on the way is membership's to retransmit.
	behind := r.ack == 0
	if (adopted || unacked || behind) && e.ready {
		e.sendReport() // adopted assignments spread; claims get their answer
	}
	e.claim()
	e.reconcile()
	return e.flush()
}

// Refresh sends this node's report again if a live peer has not reported
// or has no report of ours: reports go out on changes only, and two nodes
// that each forgot the other (both saw the other return) would otherwise
// wait for each other. The caller calls it every few keepalives.
func (e *Engine) Refresh() []Action {
	if !e.ready {
		return nil
	}
	if len(e.cfg.Nodes) > 2 {
		// Where votes count, reports are also a lease: they go out on
		// every refresh, so that a peer learns soon when this node no
		// longer counts it (see View).
		e.sendReport()
		return e.flush()
	}
	for n := range e.alive {
		if n == e.cfg.Local {
			continue
		}
		if r := e.reports[n]; r == nil || r.ack == 0 {
			e.sendReport()
			break
		}
	}
	return e.flush()
}

// Done reports the end of an operation the engine asked for.
func (e *Engine) Done(g int, op Op, ok bool) []Action {
	if op == OpAnnounce {
		return nil // an announcement changes no state; its failure is logged where it runs
	}
	e.busy[g] = false
	id := e.cfg.Groups[g].ID
	switch {
	case op == OpStart && ok:
		e.local[g] = Running
		e.log.Info(fmt.Sprintf("resource group %s started", id), "group", id)
	case op == OpStart:
		e.log.Error(fmt.Sprintf("resource group %s failed to start here: stopping it so that another node can try", id), "group", id)
		e.failing[g] = true
		e.stop(g)
	case op == OpStop && ok:
		if !e.failing[g] && !e.inPlace[g] {
			e.restarts[g] = 0
		}
		if e.failing[g] {
			e.local[g] = Failed
			e.failing[g] = false
		} else {
			e.local[g] = Stopped
		}
		e.log.Info(fmt.Sprintf("resource group %s stopped", id), "group", id, "state", string(e.local[g]))
	default:
		e.local[g] = Blocked
		e.log.Error(fmt.Sprintf("resource group %s could not be stopped: it may still run here, so no other node starts it while it is blocked here", id), "group", id)
	}
	e.sendReport()
	e.reconcile()
	return e.flush()
}

// MonitorFailed reports that a running group's status check failed: it is
// restarted in place up to MaxRestarts times, then moved.
func (e *Engine) MonitorFailed(g int) []Action {
	if e.local[g] != Running || e.busy[g] || e.maint[g] {
		return nil
	}
	id := e.cfg.Groups[g].ID
	e.restarts[g]++
	if e.restarts[g] > e.cfg.MaxRestarts {
		e.log.Error(fmt.Sprintf("resource group %s failed its monitor %d times: moving it", id, e.restarts[g]), "group", id)
		e.failing[g] = true
	} else {
		e.log.Warn(fmt.Sprintf("resource group %s failed its monitor: restarting it here (%d of %d)", id, e.restarts[g], e.cfg.MaxRestarts), "group", id)
		e.inPlace[g] = true
	}
	e.stop(g)
	e.sendReport()
	return e.flush()
}

// Which selects groups for standby and takeover, as hb_standby does.
type Which string

// Group selections.
const (
	All     Which = "all"
	Local   Which = "local"   // groups whose preferred node is this one
	Foreign Which = "foreign" // groups preferred by other nodes
)

func (e *Engine) selected(w Which, g int) bool {
	switch w {
	case Local:
		return e.cfg.Groups[g].Preferred == e.cfg.Local
	case Foreign:
		return e.cfg.Groups[g].Preferred != e.cfg.Local
	}
	return true
}

// Standby hands the selected groups this node holds to other nodes.
func (e *Engine) Standby(w Which) ([]Action, error) {
	for g := range e.cfg.Groups {
		if e.selected(w, g) && e.local[g].holds() && e.maint[g] {
			return nil, fmt.Errorf("resource group %s is in maintenance here: it does not move until maintenance is off", e.cfg.Groups[g].ID)
		}
	}
	moved := 0
	for g := range e.cfg.Groups {
		if !e.selected(w, g) || !e.local[g].holds() {
			continue
		}
		to := e.firstCandidate(g, e.cfg.Local)
		if to == "" {
			return e.flush(), fmt.Errorf("no other node can take %s", e.cfg.Groups[g].ID)
		}
		e.assign[g] = Assignment{Version: e.maxVersion() + 1, Node: to}
		moved++
	}
	// The classes go too, with or without groups: "standby all" leaves
	// this node answering for none.
	for _, p := range e.cfg.Nodes {
		if !e.classSelected(w, p) || e.classOwner(p) != e.cfg.Local {
			continue
		}
		to := p
		if p == e.cfg.Local || !e.alive[p] {
			to = e.nextAlive(e.cfg.Local)
		}
		if to != "" && to != e.cfg.Local {
			e.assignClass(p, to)
			moved++
		}
	}
	if moved > 0 {
		e.sendReport()
		e.reconcile()
	}
	return e.flush(), nil
}

// Takeover brings the selected groups to this node.
func (e *Engine) Takeover(w Which) ([]Action, error) {
	if !e.ready {
		return nil, fmt.Errorf("this node has not joined the cluster yet")
	}
	for g := range e.cfg.Groups {
		if !e.selected(w, g) || e.local[g].holds() {
			continue
		}
		if err := e.maintenanceBlocks(g); err != nil {
			return nil, err
		}
	}
	for g := range e.cfg.Groups {
		if !e.selected(w, g) || e.local[g].holds() {
			continue
		}
		if !e.candidate(e.cfg.Local, g) {
			return e.flush(), fmt.Errorf("this node cannot run %s (its state here is %s)", e.cfg.Groups[g].ID, e.local[g])
		}
		e.assign[g] = Assignment{Version: e.maxVersion() + 1, Node: e.cfg.Local}
	}
	for _, p := range e.cfg.Nodes {
		if e.classSelected(w, p) && e.classOwner(p) != e.cfg.Local {
			e.assignClass(p, e.cfg.Local)
		}
	}
	e.sendReport()
	e.reconcile()
	return e.flush(), nil
}

// classSelected: node p's class is among the ones w names, seen from here.
func (e *Engine) classSelected(w Which, p string) bool {
	switch w {
	case Local:
		return p == e.cfg.Local
	case Foreign:
		return p != e.cfg.Local
	}
	return true
}

// assignClass gives node p's class to node to, newest of all.
func (e *Engine) assignClass(p, to string) {
	var max uint64
	for _, a := range e.classes {
		max = maxU(max, a.Version)
	}
	e.classes[p] = Assignment{Version: max + 1, Node: to}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// isAlive: this node, or a peer heard from and not declared dead.
func (e *Engine) isAlive(n string) bool { return n == e.cfg.Local || e.alive[n] }

// nextAlive is the first live node after `after` in ha.cf order, wrapping
// around, other than `after`; "" when there is none.
func (e *Engine) nextAlive(after string) string {
	start := slices.Index(e.cfg.Nodes, after)
	for k := 1; k <= len(e.cfg.Nodes); k++ {
		n := e.cfg.Nodes[(start+k+len(e.cfg.Nodes))%len(e.cfg.Nodes)]
		if n != after && e.isAlive(n) {
			return n
		}
	}
	return ""
}

// classDefault is who answers for node p's class when no assignment
// names anyone: p while it lives, else the next live node after it.
func (e *Engine) classDefault(p string) string {
	if e.isAlive(p) {
		return p
	}
	return e.nextAlive(p)
}

// classOwner is who answers for node p's class.
func (e *Engine) classOwner(p string) string {
	if a := e.classes[p]; a.Node != "" && e.isAlive(a.Node) {
		return a.Node
	}
	return e.classDefault(p)
}

// Leave starts a clean shutdown: every group this node holds is stopped
// and handed to the others; Idle says when it is done.
func (e *Engine) Leave() []Action {
	e.leaving = true
	e.sendReport()
	e.reconcile()
	return e.flush()
}

// Idle reports whether no operation runs and no group is held here, but
// for groups in maintenance, which stay as they are.
func (e *Engine) Idle() bool {
	for g := range e.cfg.Groups {
		if e.busy[g] || (e.Acting(g) && !e.maint[g]) {
			return false
		}
	}
	return true
}

// Cleanup clears a failed or blocked group here, after an operator has
// made sure it no longer runs.
//
// It also releases a group frozen because a node left while it held it in
// maintenance (once the operator knows it runs nowhere, or wants it
// started elsewhere anyway).
func (e *Engine) Cleanup(g int) []Action {
	changed := false
	if e.frozen[g] != "" {
		e.log.Info(fmt.Sprintf("resource group %s: no longer waiting for %s, which left holding it in maintenance", e.cfg.Groups[g].ID, e.frozen[g]), "group", e.cfg.Groups[g].ID)
		e.frozen[g] = ""
		changed = true
	}
	if e.local[g] == Failed || e.local[g] == Blocked {
		e.local[g] = Stopped
		e.restarts[g] = 0
		changed = true
	}
	if changed {
		e.sendReport()
		e.reconcile()
	}
	return e.flush()
}

// FailureExpired forgets group g's failures here (failure_timeout): the
// restarts counted against max_restarts, and a failed start's ban of
// this node. A blocked group stays blocked: it may still run.
func (e *Engine) FailureExpired(g int) []Action {
	e.restarts[g] = 0
	if e.local[g] == Failed {
		e.local[g] = Stopped
		e.log.Info(fmt.Sprintf("resource group %s: its failure here expired (failure_timeout): this node may run it again", e.cfg.Groups[g].ID), "group", e.cfg.Groups[g].ID)
		e.sendReport()
		e.reconcile()
	}
	return e.flush()
}

// SetMaintenance turns maintenance mode on or off for group g on this
// node. While on, nothing of g is started, stopped, restarted or moved
// here, whatever the rules say (the caller runs no monitor either):
// standby and takeover refuse it, a clean stop leaves it running, and
// peers, which learn it from the reports, start nothing this node holds
// in maintenance, nor, if this node leaves or dies holding it, anywhere
// (see Cleanup). A claim not acted on yet is withdrawn; an operation
// under way finishes. Off, the rules apply again at once.
func (e *Engine) SetMaintenance(g int, on bool) []Action {
	if e.maint[g] == on {
		return nil
	}
	e.maint[g] = on
	id := e.cfg.Groups[g].ID
	if on {
		if e.local[g] == Starting && !e.busy[g] {
			e.local[g] = Stopped
			e.claims[g] = 0
		}
		e.log.Warn(fmt.Sprintf("resource group %s: maintenance on here: no monitoring, starts, stops or moves until it is off (it is %s here)", id, e.local[g]), "group", id)
	} else {
		e.log.Info(fmt.Sprintf("resource group %s: maintenance off here: managed again (it is %s here)", id, e.local[g]), "group", id)
	}
	if e.ready {
		e.sendReport()
	}
	e.reconcile()
	return e.flush()
}

// Maintenance reports whether group g is in maintenance mode here.
func (e *Engine) Maintenance(g int) bool { return e.maint[g] }

// maintenanceBlocks says why group g cannot be taken over: it is in
// maintenance here, held in maintenance by a peer, or frozen by one that
// left holding it so.
func (e *Engine) maintenanceBlocks(g int) error {
	id := e.cfg.Groups[g].ID
	if e.maint[g] {
		return fmt.Errorf("resource group %s is in maintenance here: nothing is started here until maintenance is off", id)
	}
	if e.frozen[g] != "" {
		return fmt.Errorf("resource group %s was in maintenance on %s when it left: lubdub cleanup %s here releases it", id, e.frozen[g], id)
	}
	for _, n := range e.cfg.Nodes {
		if r := e.reports[n]; r != nil && e.alive[n] && r.maint[g] && r.states[g].holds() {
			return fmt.Errorf("resource group %s is in maintenance on %s: it does not move until maintenance is off there", id, n)
		}
	}
	return nil
}

// HoldsManaged reports whether this node may be running a group that is
// not in maintenance. A node that holds only groups in maintenance may
// say it leaves cleanly: its peers know from its reports to keep them
// frozen.
func (e *Engine) HoldsManaged() bool {
	for g := range e.cfg.Groups {
		if e.busy[g] || (e.Acting(g) && !e.maint[g]) {
			return true
		}
	}
	return false
}

// Restarts is group g's monitor failures restarted in place since it last
// came here, the count max_restarts is compared with.
func (e *Engine) Restarts(g int) int { return e.restarts[g] }

// QuorumVotes is this node's partition's votes, the nodes in ha.cf, and
// the votes needed for quorum (a strict majority; 1 with two nodes or
// fewer, where none is needed).
func (e *Engine) QuorumVotes() (votes, expected, needed int) {
	n := len(e.cfg.Nodes)
	if n <= 2 {
		return e.votes(), n, 1
	}
	return e.votes(), n, n/2 + 1
}

func (e *Engine) maxVersion() uint64 {
	var m uint64
	for _, a := range e.assign {
		m = max(m, a.Version)
	}
	return m
}

// stateOf is a node's state for a group, as far as this node knows.
func (e *Engine) stateOf(node string, g int) (State, bool) {
	if node == e.cfg.Local {
		return e.local[g], true
	}
	r := e.reports[node]
	if r == nil {
		return "", false
	}
	return r.states[g], true
}

func (e *Engine) candidate(node string, g int) bool {
	return e.baseCandidate(node, g) && e.pingAllows(node, g)
}

// baseCandidate is candidate without ipfail's rule.
func (e *Engine) baseCandidate(node string, g int) bool {
	if node == e.cfg.Local {
		if !e.ready || e.leaving {
			return false
		}
	} else if !e.alive[node] || e.suspect[node] || e.reports[node] == nil || e.reports[node].leaving {
		return false
	} else if e.reports[node].noQuorum && e.policy() != "ignore" {
		return false // it lost quorum and can run nothing: another node must
	}
	s, _ := e.stateOf(node, g)
	if e.maintOn(node, g) && !s.holds() {
		return false // it starts nothing in maintenance: another node may
	}
	return s != Failed && s != Blocked
}

// Reach tells the engine how many ping nodes this node reaches now; peers
// learn it from the next report.
func (e *Engine) Reach(n int) []Action {
	if n == e.reach {
		return nil
	}
	e.reach = n
	e.reachChanges++
	if e.ready {
		e.sendReport()
	}
	e.reconcile()
	return e.flush()
}

// reachPending is a peer's ping count while it does not know it yet (its
// report says "?"): it starts nothing meanwhile, and is given nothing.
const reachPending = -2

// ReachChanges counts the changes of the ping counts this node knows (its
// own and its peers'); the caller calls PingSettled once it has not moved
// for a while.
func (e *Engine) ReachChanges() uint64 { return e.reachChanges }

// PingSettled says that the ping counts have been still long enough to
// compare (ipfail waits twice keepalive before giving up, and takes the
// give-up back once the counts are even): nodes notice a shared ping
// node's death up to a keepalive apart, and comparing meanwhile would
// move groups there and back.
func (e *Engine) PingSettled() []Action {
	snap := map[string]int{e.cfg.Local: e.reach}
	for n, r := range e.lastReach {
		snap[n] = r
	}
	if maps.Equal(snap, e.reachSnap) {
		return nil
	}
	e.reachSnap = snap
	e.reconcile()
	return e.flush()
}

// reachOf is the ping nodes a node reaches, as far as this node knows
// (-1: unknown).
func (e *Engine) reachOf(node string) int {
	if node == e.cfg.Local {
		return e.reach
	}
	if r := e.reports[node]; r != nil {
		return r.reach
	}
	return -1
}

// pingAllows applies ipfail's rule to a node for group g: by the settled
// counts, it must reach as many ping nodes as any other node that could
// run g (Heartbeat's ipfail gives every group up when its peer reaches
// more). This node starts nothing before it knows its own count, nor
// while it is cut off (CutOff).
func (e *Engine) pingAllows(node string, g int) bool {
	if e.cfg.PingNodes == 0 {
		return true
	}
	s, _ := e.stateOf(node, g)
	pending := (node == e.cfg.Local && e.reach < 0) || (node != e.cfg.Local && e.reachOf(node) == reachPending)
	if !s.holds() && (pending || (node == e.cfg.Local && e.CutOff())) {
		return false
	}
	r, ok := e.reachSnap[node]
	if !ok || r < 0 {
		return true // not compared yet (or a peer too old to say): the other rules decide
	}
	for n := range e.alive {
		if v, ok := e.reachSnap[n]; ok && n != node && v > r && e.baseCandidate(n, g) {
			return false
		}
	}
	return true
}

// CutOff reports whether this node may be the one cut off: it has ping
// nodes, reaches none of them and hears no peer, while a peer it last
// heard from reached some (or never said). When its peers reached none
// either, the ping nodes are down, not this node's link: it proceeds.
func (e *Engine) CutOff() bool {
	if e.cfg.PingNodes == 0 || e.reach != 0 {
		return false
	}
	for n := range e.alive {
		if n != e.cfg.Local {
			return false // not alone
		}
	}
	for _, n := range e.cfg.Nodes {
		if r, ok := e.lastReach[n]; n != e.cfg.Local && (!ok || r > 0) {
			return true
		}
	}
	return false
}

// PingStatus says how ipfail's rule stands here, for status tools: ""
// without ping nodes, else "reaches 1 of 2 ping nodes; node2 reaches 2".
func (e *Engine) PingStatus() string {
	if e.cfg.PingNodes == 0 {
		return ""
	}
	out := fmt.Sprintf("reaches %d of %d ping nodes", e.reach, e.cfg.PingNodes)
	if e.reach < 0 {
		out = fmt.Sprintf("ping nodes not checked yet (%d configured)", e.cfg.PingNodes)
	}
	for _, n := range e.cfg.Nodes {
		if n != e.cfg.Local && e.alive[n] {
			if r := e.reachOf(n); r >= 0 {
				out += fmt.Sprintf("; %s reaches %d", n, r)
			}
		}
	}
	return out
}

// maintOn: node has group g in maintenance, as far as this node knows.
func (e *Engine) maintOn(node string, g int) bool {
	if node == e.cfg.Local {
		return e.maint[g]
	}
	r := e.reports[node]
	return r != nil && r.maint[g]
}

// firstCandidate is the first candidate after `after` in ha.cf order,
// wrapping around, skipping `after` itself.
func (e *Engine) firstCandidate(g int, after string) string {
	start := slices.Index(e.cfg.Nodes, after)
	for k := 1; k <= len(e.cfg.Nodes); k++ {
		n := e.cfg.Nodes[(start+k+len(e.cfg.Nodes))%len(e.cfg.Nodes)]
		if n != after && e.candidate(n, g) {
			return n
		}
	}
	return ""
}

// Local is this node's state for group g.
func (e *Engine) Local(g int) State { return e.local[g] }

// Busy reports whether an operation on g is under way here.
func (e *Engine) Busy(g int) bool { return e.busy[g] }

// Acting reports whether this node may be running g's resources: running,
// stopping, blocked, or starting past its claim.
func (e *Engine) Acting(g int) bool {
	s := e.local[g]
	return s == Running || s == Stopping || s == Blocked || (s == Starting && e.busy[g])
}

// Desired computes the owner of group g by the package's rules; "" when
// no node may run it.
func (e *Engine) Desired(g int) string {
	if a := e.assign[g]; a.Node != "" && e.candidate(a.Node, g) {
		return a.Node
	}
	var runners []string
	for _, n := range e.cfg.Nodes {
		if s, ok := e.stateOf(n, g); ok && s == Running && e.candidate(n, g) {
			runners = append(runners, n)
		}
	}
	if !e.failback() {
		for _, n := range e.cfg.Nodes {
			if s, ok := e.stateOf(n, g); ok && (s == Running || s == Starting) && e.candidate(n, g) {
				return n
			}
		}
	}
	pref := e.cfg.Groups[g].Preferred
	d := pref
	if !e.candidate(pref, g) {
		d = e.firstCandidate(g, pref)
	}
	// No failback to a node back from the dead before every live peer has
	// heard it for failback_delay: the one node that runs the group keeps
	// it meanwhile. (Two copies after a partition are settled by the rules
	// above.)
	if len(runners) == 1 && d != runners[0] && !e.settledEverywhere(d) {
		return runners[0]
	}
	return d
}

// settledEverywhere: every live node but node itself has heard node
// continuously for failback_delay.
func (e *Engine) settledEverywhere(node string) bool {
	for n := range e.alive {
		switch {
		case n == node:
		case n == e.cfg.Local:
			if !e.settled[node] {
				return false
			}
		default:
			if r := e.reports[n]; r == nil || !slices.Contains(r.settled, node) {
				return false
			}
		}
	}
	return true
}

func (e *Engine) policy() string {
	if e.cfg.NoQuorumPolicy == "" {
		return "stop"
	}
	return e.cfg.NoQuorumPolicy
}

// View tells the engine which peers membership counts alive now (alive:
// wait_for_all counts them as seen) and which of them have a recent
// report (voting: they count toward quorum while their report lists this
// node). Both follow membership at once, before any NodeDown (which may
// wait for the dead node to be fenced).
func (e *Engine) View(alive, voting []string) []Action {
	for _, n := range alive {
		if n != e.cfg.Local && slices.Contains(e.cfg.Nodes, n) {
			e.seen[n] = true
		}
	}
	view := map[string]bool{}
	for _, n := range voting {
		if n != e.cfg.Local && slices.Contains(e.cfg.Nodes, n) {
			view[n] = true
		}
	}
	if maps.Equal(view, e.view) && !e.Quorate() == !e.hadQuorum {
		return nil
	}
	e.view = view
	if e.ready {
		e.sendReport() // peers count our vote only while we count them
	}
	e.reconcile()
	return e.flush()
}

// votes counts this node and the peers that see each other with it: alive
// in our view, and our node alive in theirs.
func (e *Engine) votes() int {
	v := 1
	for n := range e.view {
		if r := e.reports[n]; r != nil && slices.Contains(r.view, e.cfg.Local) {
			v++
		}
	}
	return v
}

// Quorate reports whether this node's partition may run groups: with
// wait_for_all, not before every node has been seen once; with two nodes
// (or one), always after that (corosync's two_node: only fencing tells two
// nodes apart); with three or more, while it holds a strict majority of
// the nodes in ha.cf, counting only peers that see each other with it.
func (e *Engine) Quorate() bool {
	n := len(e.cfg.Nodes)
	if e.cfg.WaitForAll && len(e.seen) < n-1 {
		return false
	}
	return n <= 2 || 2*e.votes() > n
}

// QuorumStatus says whether the partition has quorum and why, for status
// tools: "yes (2 of 3 votes)", "no (wait_for_all: 0 of 1 peers seen since
// start)".
func (e *Engine) QuorumStatus() string {
	if e.Quorate() {
		return "yes (" + e.quorumWhy() + ")"
	}
	return "no (" + e.quorumWhy() + ")"
}

func (e *Engine) quorumWhy() string {
	n := len(e.cfg.Nodes)
	if e.cfg.WaitForAll && len(e.seen) < n-1 {
		return fmt.Sprintf("wait_for_all: %d of %d peers seen since start", len(e.seen), n-1)
	}
	if n <= 2 {
		return fmt.Sprintf("%d nodes: no majority needed", n)
	}
	return fmt.Sprintf("%d of %d votes", e.votes(), n)
}

// Suspect records a peer that membership counts dead but that is not
// fenced yet: until NodeUp or NodeDown it may hold any group (so none
// starts anywhere it might run) and is given none.
func (e *Engine) Suspect(node string) []Action {
	if node == e.cfg.Local || e.suspect[node] {
		return nil
	}
	e.suspect[node] = true
	e.reconcile()
	return e.flush()
}

// PeerHeldAny reports whether a peer's last report held any group.
func (e *Engine) PeerHeldAny(node string) bool {
	if r := e.reports[node]; r != nil {
		for _, s := range r.states {
			if s.holds() {
				return true
			}
		}
	}
	return false
}

// PeerBlocked lists the groups a live peer's last report says are blocked
// there: their stop failed and they may still run on it.
func (e *Engine) PeerBlocked(node string) []int {
	var out []int
	if r := e.reports[node]; r != nil && e.alive[node] {
		for g, s := range r.states {
			if s == Blocked {
				out = append(out, g)
			}
		}
	}
	return out
}

// HoldsAny reports whether this node may be running any group.
func (e *Engine) HoldsAny() bool {
	for g := range e.cfg.Groups {
		if e.Acting(g) || e.busy[g] {
			return true
		}
	}
	return false
}

// Settled says that node has been heard continuously for failback_delay:
// groups may fail back to it once every live peer says so too.
func (e *Engine) Settled(node string) []Action {
	if node == e.cfg.Local || !e.alive[node] || e.settled[node] {
		return nil
	}
	e.settled[node] = true
	if e.ready {
		e.sendReport()
	}
	e.reconcile()
	return e.flush()
}

// othersFree: every other live node has reported, and none holds g.
func (e *Engine) othersFree(g int) bool {
	if len(e.suspect) > 0 {
		return false // a node not yet fenced may run it
	}
	if e.frozen[g] != "" {
		return false // a node left holding it in maintenance: it may run there
	}
	for n := range e.alive {
		if n == e.cfg.Local {
			continue
		}
		s, ok := e.stateOf(n, g)
		if !ok || s.holds() {
			return false
		}
	}
	return true
}

// acked: every other live node has answered our claim of g, in a report
// that counts this node alive (its view lists us): a report sent while
// the peer took us for dead (we were paused, or cut off) says nothing of
// what it did since, and may arrive late. A deaf peer (it does not hear
// us) that has lost quorum and does not hold g cannot answer and cannot
// start g either: its answer is not waited for.
func (e *Engine) acked(g int) bool {
	for n := range e.alive {
		if n == e.cfg.Local {
			continue
		}
		r := e.reports[n]
		if r == nil {
			return false
		}
		sees := slices.Contains(r.view, e.cfg.Local)
		switch {
		case r.ack >= e.claims[g] && sees:
		case !sees && r.noQuorum && !r.states[g].holds() && e.policy() != "ignore":
		default:
			return false
		}
	}
	return true
}

func (e *Engine) reconcile() {
	if !e.ready {
		return
	}
	quorate := e.Quorate()
	e.everQuorate = e.everQuorate || quorate
	if quorate != e.hadQuorum {
		e.hadQuorum = quorate
		e.sendReport() // peers may place nothing on a node without quorum
		if quorate {
			e.log.Info("this node's partition has quorum: it places groups", "node", e.cfg.Local)
		} else {
			e.log.Warn(fmt.Sprintf("this node's partition has no quorum (%s): no-quorum-policy %s", e.quorumWhy(), e.policy()), "node", e.cfg.Local)
		}
	}
	for g := range e.cfg.Groups {
		if e.busy[g] || e.maint[g] {
			continue // in maintenance: neither rules nor quorum touch it here
		}
		if !quorate && e.policy() != "ignore" {
			switch s := e.local[g]; {
			case s == Starting:
				e.local[g] = Stopped
				e.claims[g] = 0
				e.sendReport()
			case s == Running && e.policy() == "stop":
				e.log.Warn(fmt.Sprintf("resource group %s: no quorum: stopping it here", e.cfg.Groups[g].ID), "group", e.cfg.Groups[g].ID)
				e.stop(g)
				e.sendReport()
			}
			continue
		}
		want := e.Desired(g) == e.cfg.Local
		switch s := e.local[g]; {
		case want && s == Stopped && e.othersFree(g):
			e.claimGroup(g)
		case s == Starting && !want:
			e.log.Info(fmt.Sprintf("resource group %s: withdrawing this node's claim, %s takes it", e.cfg.Groups[g].ID, orNobody(e.Desired(g))), "group", e.cfg.Groups[g].ID)
			e.local[g] = Stopped
			e.claims[g] = 0
			e.sendReport()
		case s == Starting && e.acked(g) && e.othersFree(g):
			e.start(g)
		case !want && s == Running:
			e.log.Info(fmt.Sprintf("resource group %s goes to %s: stopping it here", e.cfg.Groups[g].ID, orNobody(e.Desired(g))), "group", e.cfg.Groups[g].ID)
			e.stop(g)
			e.sendReport()
		}
		e.heal(g, want)
	}
}

// heal notices a group that runs here and on a peer at once (a partition
// healed, a paused node resumed), or a peer's return while it runs here;
// the rules above stop it where it does not belong. Once every live peer
// has reported and none holds it, the node that keeps it announces it
// again, because clients may have followed the other side.
func (e *Engine) heal(g int, want bool) {
	if e.local[g] != Running || e.busy[g] {
		e.contested[g] = false
		return
	}
	var others []string
	reported := true
	for _, n := range e.cfg.Nodes {
		if n == e.cfg.Local || !e.alive[n] {
			continue
		}
		s, ok := e.stateOf(n, g)
		reported = reported && ok
		if ok && (s == Running || s == Stopping || s == Blocked) {
			others = append(others, n)
		}
	}
	id := e.cfg.Groups[g].ID
	switch {
	case len(others) > 0 && !e.contested[g]:
		e.contested[g] = true
		e.log.Warn(fmt.Sprintf("resource group %s runs here and on %s at once (a partition healed or a node resumed): %s keeps it",
			id, strings.Join(others, ", "), orNobody(e.Desired(g))), "group", id)
	case len(others) == 0 && e.contested[g] && reported:
		e.contested[g] = false
		if want {
			e.log.Info(fmt.Sprintf("resource group %s runs here alone again: announcing its addresses again", id), "group", id)
			e.out = append(e.out, Run{Group: g, Op: OpAnnounce})
		}
	}
}

func orNobody(n string) string {
	if n == "" {
		return "no node"
	}
	return n
}

// claimGroup announces that this node means to start g; it acts once the
// claim is acknowledged (see acked).
func (e *Engine) claimGroup(g int) {
	e.local[g] = Starting
	e.claims[g] = e.rev + 1 // the revision sendReport is about to use
	e.sendReport()
	if e.acked(g) {
		e.start(g) // alone in the cluster: nobody to wait for
	}
}

func (e *Engine) start(g int) {
	e.busy[g] = true
	e.starts[g]++
	if !e.inPlace[g] {
		e.restarts[g] = 0
	}
	e.inPlace[g] = false
	e.out = append(e.out, Run{Group: g, Op: OpStart})
}

func (e *Engine) stop(g int) {
	e.local[g] = Stopping
	e.busy[g] = true
	e.out = append(e.out, Run{Group: g, Op: OpStop})
}

// sendReport emits this node's states and assignments.
func (e *Engine) sendReport() {
	e.rev++
	m := &wire.Message{}
	m.Add(wire.FType, MsgType)
	m.Add("rev", strconv.FormatUint(e.rev, 10))
	m.Add("ep", strconv.FormatUint(e.cfg.Epoch, 10))
	if e.leaving {
		m.Add("lv", "1")
	}
	var acks []string
	for _, n := range e.cfg.Nodes {
		if v, ok := e.seenRev[n]; ok {
			acks = append(acks, n+":"+strconv.FormatUint(e.epochs[n], 10)+":"+strconv.FormatUint(v, 10))
			e.ackSent[n] = v
		}
	}
	m.Add("ack", strings.Join(acks, " "))
	var settled []string
	for _, n := range e.cfg.Nodes {
		if e.settled[n] {
			settled = append(settled, n)
		}
	}
	m.Add("up", strings.Join(settled, " "))
	var view []string
	for _, n := range e.cfg.Nodes {
		if e.view[n] {
			view = append(view, n)
		}
	}
	m.Add("vw", strings.Join(view, " "))
	if e.everQuorate && !e.Quorate() {
		m.Add("nq", "1")
	}
	if e.cfg.PingNodes > 0 && e.reach >= 0 {
		m.Add("pg", strconv.Itoa(e.reach))
	} else if e.cfg.PingNodes > 0 {
		m.Add("pg", "?")
	}
	var classes []string
	for _, p := range e.cfg.Nodes {
		if a, ok := e.classes[p]; ok {
			classes = append(classes, p+":"+strconv.FormatUint(a.Version, 10)+":"+a.Node)
		}
	}
	if len(classes) > 0 {
		m.Add("ca", strings.Join(classes, " "))
	}
	for i, g := range e.cfg.Groups {
		idx := strconv.Itoa(i)
		m.Add("id"+idx, g.ID)
		m.Add("st"+idx, string(e.local[i]))
		if e.maint[i] {
			m.Add("mt"+idx, "1")
		}
		m.Add("as"+idx, strconv.FormatUint(e.assign[i].Version, 10)+" "+e.assign[i].Node)
		if e.local[i] == Starting {
			m.Add("cr"+idx, strconv.FormatUint(e.claims[i], 10))
		}
		if e.starts[i] > 0 {
			m.Add("sc"+idx, strconv.FormatUint(e.starts[i], 10))
		}

	}
	// Several reports in one step collapse into the last.
	for i, a := range e.out {
		if s, ok := a.(Send); ok && s.Msg.Value(wire.FType) == MsgType {
			e.out = append(e.out[:i], e.out[i+1:]...)
			break
		}
	}
	e.out = append(e.out, Send{Msg: m})
}

// GroupView is one group as status tools show it.
type GroupView struct {
	ID, Preferred, Owner string
	Local                State
	Nodes                map[string]State
	// Maintenance: the live nodes (this one included) that have the group
	// in maintenance; Frozen: the node that left holding it so.
	Maintenance []string
	Frozen      string
}

// Groups returns every group's view from this node.
func (e *Engine) Groups() []GroupView {
	var out []GroupView
	for g, grp := range e.cfg.Groups {
		v := GroupView{ID: grp.ID, Preferred: grp.Preferred, Local: e.local[g], Nodes: map[string]State{}, Frozen: e.frozen[g]}
		for _, n := range e.cfg.Nodes {
			if s, ok := e.stateOf(n, g); ok && (n == e.cfg.Local || e.alive[n]) {
				v.Nodes[n] = s
				if e.maintOn(n, g) {
					v.Maintenance = append(v.Maintenance, n)
				}
				if s == Running && v.Owner == "" {
					v.Owner = n
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// Held answers cl_status rscstatus as Heartbeat 3.0.6 does
// (hb_rsc_resource_state): "transition" until the node has joined and
// while a group starts or stops here, else which classes of groups this
// node answers for: "local" (the groups it prefers), "foreign" (the
// groups other nodes prefer), "all" or "none". A class counts even when
// it has no group, as Heartbeat's i_hold_resources does: on a healthy
// two-node cluster with one group preferring node1, both nodes say
// "local"; a node that has taken over its dead peer says "all".
func (e *Engine) Held() string {
	if !e.ready {
		return "transition"
	}
	for g := range e.cfg.Groups {
		if s := e.local[g]; s == Starting || s == Stopping {
			return "transition"
		}
	}
	held := func(p string) bool {
		has, running := false, false
		for g, grp := range e.cfg.Groups {
			if grp.Preferred == p {
				has = true
				running = running || e.local[g] == Running
			}
		}
		if has {
			return running
		}
		return e.classOwner(p) == e.cfg.Local
	}
	local, foreign := held(e.cfg.Local), false
	for _, p := range e.cfg.Nodes {
		if p != e.cfg.Local && held(p) {
			foreign = true
		}
	}
	switch {
	case local && foreign:
		return "all"
	case local:
		return "local"
	case foreign:
		return "foreign"
	}
	return "none"
}
