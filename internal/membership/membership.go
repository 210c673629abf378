// Package membership is lubdub's failure detector and Heartbeat's cluster
// messaging protocol, as a pure state machine.
//
// A Machine imports neither net, os nor the clock: the caller feeds it the
// current time and authenticated messages, and it returns Actions (messages
// to send, node and link state changes, drops to count). The daemon turns
// actions into I/O; tests run whole clusters in memory.
//
// The protocol is Heartbeat 3.0.6's, so that lubdub and Heartbeat nodes can
// form one cluster: status heartbeats every keepalive, sequence numbers per
// generation, retransmission requests for gaps (NS_rexmit / NS_nak_rexmit),
// acknowledgements (NS_ackmsg) and the reqnodes/repnodes exchange with
// which a starting Heartbeat node learns the node list.
package membership

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/wire"
)

// Status is a node's state, as Heartbeat names them.
type Status string

// Node states.
const (
	StatusInit   Status = "init"   // never heard from
	StatusUp     Status = "up"     // heard, still starting
	StatusActive Status = "active" // fully up
	StatusDead   Status = "dead"   // silent for deadtime, or shut down
)

// Alive reports whether the status counts as a live node.
func (s Status) Alive() bool { return s == StatusUp || s == StatusActive }

// Link states.
const (
	LinkUp   = "up"
	LinkDead = "dead"
)

// ReasonShutdown is NodeChanged's reason for a peer that announced a clean
// stop: it holds nothing, unlike one that fell silent.
const ReasonShutdown = "shut down"

// DropReason says why a message was not accepted.
type DropReason string

// Drop reasons counted by the daemon (wire-level ones are counted there).
const (
	DropUnknownNode   DropReason = "unknown-node"
	DropReplay        DropReason = "replay"
	DropOldGeneration DropReason = "old-generation"
	DropMalformed     DropReason = "malformed"
)

// Protocol constants from Heartbeat.
const (
	historySize     = 500 // MAXMSGHIST
	ackDiv          = 10  // ACK_MSG_DIV
	flowLimit       = historySize / 2
	maxRexmitBatch  = 50
	maxMissing      = historySize
	maxRexmitAsks   = 10
	protocolVersion = "1"
	// FLubdub marks a lubdub node's status messages (Heartbeat ignores
	// fields it does not know): its value is the version of lubdub's own
	// resource protocol. A peer whose status lacks it is a Heartbeat node,
	// which the resource layer must speak Heartbeat's protocol to.
	FLubdub        = "lubdub"
	dialectVersion = "1"
)

// Config is what a Machine needs to know.
type Config struct {
	Local          string
	Nodes          []string // every cluster node, the local one included
	Links          []string // link (medium) names
	Keepalive      time.Duration
	Deadtime       time.Duration
	Warntime       time.Duration
	Initdead       time.Duration
	MaxRexmitDelay time.Duration
	Generation     uint64
	UUID           []byte
	TTL            int
	// Load, when set, returns the load average text sent in the ld field.
	Load func() string
}

// Action is something the caller must do or know.
type Action interface{ action() }

// Send asks the caller to sign the message and send it on every medium.
type Send struct{ Msg *wire.Message }

// NodeChanged reports a node's new status.
type NodeChanged struct {
	Node     string
	From, To Status
	Reason   string
}

// LinkChanged reports a link's new status.
type LinkChanged struct {
	Node, Link, To string
}

// NodeRestarted reports that a peer came back with a new generation,
// perhaps before it was found dead: what it held before is void.
type NodeRestarted struct {
	Node       string
	Generation uint64
}

// Deliver hands a cluster message that membership does not consume to
// the layers above (resource management).
type Deliver struct {
	Node string
	Msg  *wire.Message
}

// Dropped reports a message that was not accepted.
type Dropped struct {
	Node   string
	Link   string
	Reason DropReason
	Detail string
}

func (Send) action()          {}
func (NodeRestarted) action() {}
func (NodeChanged) action()   {}
func (LinkChanged) action()   {}
func (Deliver) action()       {}
func (Dropped) action()       {}

type link struct {
	status  string
	last    time.Time
	lastSeq uint64
}

type peer struct {
	name       string
	uuid       []byte
	status     Status
	gen        uint64
	haveSeq    bool
	lastSeq    uint64
	statusSeq  uint64
	lastHeard  time.Time // local time of the last new sequenced message
	lastStatus time.Time // local time of the last status message
	deadtime   time.Duration
	links      map[string]*link
	missing    map[uint64]*rexmitAsk
	ackTrigger uint64
	ackedOurs  uint64
	since      time.Time // when the current status began
	// lubdub: its status messages carry FLubdub (a lubdub node, not
	// Heartbeat), as of the last status of its current generation.
	lubdub bool
}

type rexmitAsk struct {
	due  time.Time
	asks int
}

type sent struct {
	seq        uint64
	msg        *wire.Message
	lastRexmit time.Time
}

// Machine is the membership state machine of one node.
type Machine struct {
	cfg        Config
	log        *slog.Logger
	start      time.Time
	status     Status
	seq        uint64
	nextStatus time.Time
	commUp     bool
	peers      map[string]*peer
	order      []string
	history    []sent // ring, by seq % historySize
	out        []Action
}

// New creates a machine at time now. Call Start to get its first actions.
func New(cfg Config, now time.Time, log *slog.Logger) *Machine {
	m := &Machine{
		cfg:     cfg,
		log:     log,
		start:   now,
		status:  StatusUp,
		peers:   map[string]*peer{},
		history: make([]sent, historySize),
	}
	for _, n := range cfg.Nodes {
		n = strings.ToLower(n)
		if n == cfg.Local {
			continue
		}
		p := &peer{name: n, status: StatusInit, deadtime: cfg.Deadtime, since: now,
			links: map[string]*link{}, missing: map[uint64]*rexmitAsk{}}
		h := fnv.New32a()
		h.Write([]byte(cfg.Local + "/" + n))
		p.ackTrigger = uint64(h.Sum32() % ackDiv)
		for _, l := range cfg.Links {
			p.links[l] = &link{status: LinkDead}
		}
		m.peers[n] = p
		m.order = append(m.order, n)
	}
	return m
}

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

func (m *Machine) flush() []Action {
	out := m.out
	m.out = nil
	return out
}

// Start sends the first heartbeat.
func (m *Machine) Start(now time.Time) []Action {
	m.sendStatus(now)
	m.checkCommUp(now)
	return m.flush()
}

// LocalStatus is this node's own status.
func (m *Machine) LocalStatus() Status { return m.status }

// Shutdown announces a clean stop, so that peers need not wait deadtime.
func (m *Machine) Shutdown(now time.Time) []Action {
	m.status = StatusDead
	m.sendStatus(now)
	return m.flush()
}

// NextWakeup is the time by which Tick must be called again.
func (m *Machine) NextWakeup() time.Time {
	t := m.nextStatus
	for _, p := range m.peers {
		if d, ok := m.deadline(p); ok && d.Before(t) {
			t = d
		}
		for _, l := range p.links {
			if l.status == LinkUp {
				if d := l.last.Add(p.deadtime); d.Before(t) {
					t = d
				}
			}
		}
		for _, a := range p.missing {
			if a.due.Before(t) {
				t = a.due
			}
		}
	}
	return t
}

// deadline is when a live or starting peer is declared dead.
func (m *Machine) deadline(p *peer) (time.Time, bool) {
	switch {
	case p.status == StatusDead:
		return time.Time{}, false
	case p.lastHeard.IsZero():
		return m.start.Add(m.cfg.Initdead), true
	}
	return p.lastHeard.Add(p.deadtime), true
}

// Tick runs timers: heartbeats, dead nodes and links, retransmission asks.
func (m *Machine) Tick(now time.Time) []Action {
	if !now.Before(m.nextStatus) {
		m.sendStatus(now)
	}
	for _, name := range m.order {
		p := m.peers[name]
		if d, ok := m.deadline(p); ok && !now.Before(d) {
			reason := fmt.Sprintf("no heartbeat for %s", p.deadtime)
			if p.lastHeard.IsZero() {
				reason = fmt.Sprintf("not heard from within initdead (%s)", m.cfg.Initdead)
			}
			m.markDead(now, p, reason)
		}
		for _, ln := range m.cfg.Links {
			l := p.links[ln]
			if l.status == LinkUp && !now.Before(l.last.Add(p.deadtime)) {
				m.setLink(p, ln, l, LinkDead)
			}
		}
		m.askRexmit(now, p)
	}
	m.checkCommUp(now)
	return m.flush()
}

func (m *Machine) markDead(now time.Time, p *peer, reason string) {
	m.log.Warn(fmt.Sprintf("node %s: is dead", p.name), "node", p.name, "reason", reason)
	m.setStatus(now, p, StatusDead, reason)
	// The sequence is kept: a replayed old message must not revive the node.
	p.missing = map[uint64]*rexmitAsk{}
	for _, ln := range m.cfg.Links {
		if l := p.links[ln]; l.status == LinkUp {
			m.setLink(p, ln, l, LinkDead)
		}
	}
}

func (m *Machine) setStatus(now time.Time, p *peer, s Status, reason string) {
	if p.status == s {
		return
	}
	from := p.status
	p.status = s
	p.since = now
	m.emit(NodeChanged{Node: p.name, From: from, To: s, Reason: reason})
}

func (m *Machine) setLink(p *peer, name string, l *link, s string) {
	l.status = s
	m.log.Info(fmt.Sprintf("Link %s:%s %s.", p.name, name, s), "node", p.name, "link", name)
	m.emit(LinkChanged{Node: p.name, Link: name, To: s})
}

// checkCommUp makes the local node active once every peer has been heard
// from or declared dead, as Heartbeat does.
func (m *Machine) checkCommUp(now time.Time) {
	if m.commUp || m.status == StatusDead {
		return
	}
	for _, p := range m.peers {
		if p.lastHeard.IsZero() && p.status != StatusDead {
			return
		}
	}
	m.commUp = true
	m.status = StatusActive
	m.log.Info("Comm_now_up(): updating status to active")
	m.sendStatus(now)
}

// sendStatus sends the local heartbeat and schedules the next one.
func (m *Machine) sendStatus(now time.Time) {
	msg := &wire.Message{}
	msg.Add(wire.FType, wire.TStatus)
	msg.Add(wire.FStatus, string(m.status))
	msg.Add(wire.FDeadtime, strconv.FormatInt(m.cfg.Deadtime.Milliseconds(), 16))
	msg.Add(wire.FProtocol, protocolVersion)
	msg.Add(FLubdub, dialectVersion)
	m.send(now, msg)
	m.nextStatus = now.Add(m.cfg.Keepalive)
}

// send adds Heartbeat's control fields in its order and emits the message.
func (m *Machine) send(now time.Time, msg *wire.Message) {
	typ := msg.Value(wire.FType)
	noSeq := strings.HasPrefix(typ, wire.NoSeqPrefix)
	if dest, ok := msg.Get(wire.FTo); ok {
		if p := m.peers[dest]; p != nil && len(p.uuid) > 0 {
			msg.AddBinary(wire.FToUUID, p.uuid)
		}
	}
	msg.Add(wire.FOrig, m.cfg.Local)
	msg.AddBinary(wire.FOrigUUID, m.cfg.UUID)
	var seq uint64
	if !noSeq {
		m.seq++
		seq = m.seq
		msg.Add(wire.FSeq, strconv.FormatUint(seq, 16))
	}
	msg.Add(wire.FGeneration, strconv.FormatUint(m.cfg.Generation, 16))
	msg.Add(wire.FTime, strconv.FormatInt(now.Unix(), 16))
	if !noSeq && m.cfg.Load != nil {
		if ld := m.cfg.Load(); ld != "" {
			msg.Add(wire.FLoad, ld)
		}
	}
	msg.Add(wire.FTTL, strconv.Itoa(m.cfg.TTL))
	if !noSeq {
		m.history[seq%historySize] = sent{seq: seq, msg: msg}
	}
	m.emit(Send{Msg: msg})
}

// SendMessage sends a message from the layers above (resource messages).
func (m *Machine) SendMessage(now time.Time, msg *wire.Message) []Action {
	m.send(now, msg.Clone())
	return m.flush()
}

func (m *Machine) drop(p string, linkName string, r DropReason, format string, a ...any) {
	m.emit(Dropped{Node: p, Link: linkName, Reason: r, Detail: fmt.Sprintf(format, a...)})
}

// Receive processes one authenticated message that arrived on a link.
func (m *Machine) Receive(now time.Time, linkName string, msg *wire.Message) []Action {
	m.receive(now, linkName, msg)
	m.checkCommUp(now)
	return m.flush()
}

func (m *Machine) receive(now time.Time, linkName string, msg *wire.Message) {
	from := strings.ToLower(msg.Value(wire.FOrig))
	typ := msg.Value(wire.FType)
	if from == "" || typ == "" {
		m.drop(from, linkName, DropMalformed, "message without src or t")
		return
	}
	if _, ok := msg.Get(wire.FTime); !ok {
		m.drop(from, linkName, DropMalformed, "message without ts")
		return
	}
	if from == m.cfg.Local {
		return // our own broadcast or multicast, looped back
	}
	p := m.peers[from]
	if p == nil {
		m.drop(from, linkName, DropUnknownNode, "node %q is not in ha.cf", from)
		return
	}
	if u, ok := msg.Bytes(wire.FOrigUUID); ok && len(u) > 0 {
		p.uuid = append(p.uuid[:0], u...)
	}
	gen, ok := msg.Hex(wire.FGeneration)
	if !ok {
		m.drop(from, linkName, DropMalformed, "message without a valid hg")
		return
	}
	if gen < p.gen {
		m.drop(from, linkName, DropOldGeneration, "generation %d is older than %d", gen, p.gen)
		return
	}
	if strings.HasPrefix(typ, wire.NoSeqPrefix) {
		if gen > p.gen {
			return // wait for a sequenced message to learn of a restart
		}
		m.unsequenced(now, p, typ, msg)
		return
	}
	seq, ok := msg.Hex(wire.FSeq)
	if !ok || seq == 0 {
		m.drop(from, linkName, DropMalformed, "message without a valid seq")
		return
	}
	if gen > p.gen {
		if p.gen > 0 {
			m.log.Info(fmt.Sprintf("Heartbeat restart on node %s", p.name), "node", p.name, "generation", gen)
			m.emit(NodeRestarted{Node: p.name, Generation: gen})
		}
		p.gen = gen
		p.haveSeq = false
		p.missing = map[uint64]*rexmitAsk{}
		p.statusSeq = 0
		p.lastStatus = time.Time{}
		for _, l := range p.links {
			l.lastSeq = 0
		}
	}
	l := p.links[linkName]
	if l == nil {
		l = &link{status: LinkDead}
		p.links[linkName] = l
	}
	if !m.accept(now, p, seq) {
		// Seen before: a copy from another medium refreshes that link once.
		if seq > l.lastSeq {
			m.touchLink(now, p, linkName, l, seq)
			return
		}
		m.drop(from, linkName, DropReplay, "sequence number %d already seen on this link", seq)
		return
	}
	m.touchLink(now, p, linkName, l, seq)
	if p.status == StatusDead && gen == p.gen && p.statusSeq > 0 {
		m.log.Error(fmt.Sprintf("Cluster node %s returning after partition.", p.name), "node", p.name)
	}
	p.lastHeard = now
	if p.status == StatusInit || p.status == StatusDead {
		if typ != wire.TStatus {
			m.setStatus(now, p, StatusUp, "heard again")
		}
	}
	if seq%ackDiv == p.ackTrigger && len(p.missing) == 0 {
		m.sendAck(now, p, seq)
	}
	if dest, ok := msg.Get(wire.FTo); ok && strings.ToLower(dest) != m.cfg.Local {
		return // sequence tracked, but for another node
	}
	switch typ {
	case wire.TStatus:
		m.statusMsg(now, p, seq, msg)
	case wire.TReqNodes:
		m.replyNodes(now, p)
	case wire.TRepNodes:
	default:
		m.emit(Deliver{Node: p.name, Msg: msg})
	}
}

// accept applies Heartbeat's sequence rules; false means already seen.
func (m *Machine) accept(now time.Time, p *peer, seq uint64) bool {
	switch {
	case !p.haveSeq || seq == p.lastSeq+1:
	case seq > p.lastSeq+1:
		lost := seq - p.lastSeq - 1
		m.log.Warn(fmt.Sprintf("%d lost packet(s) for [%s] [%d:%d]", lost, p.name, p.lastSeq, seq), "node", p.name)
		if lost > flowLimit {
			m.log.Error("lost a lot of packets!", "node", p.name)
			p.missing = map[uint64]*rexmitAsk{}
			break
		}
		for s := p.lastSeq + 1; s < seq && len(p.missing) < maxMissing; s++ {
			p.missing[s] = &rexmitAsk{due: now.Add(m.cfg.MaxRexmitDelay / 4)}
		}
	default:
		if _, ok := p.missing[seq]; !ok {
			return false
		}
		delete(p.missing, seq)
		if len(p.missing) == 0 {
			m.log.Info(fmt.Sprintf("No pkts missing from %s!", p.name), "node", p.name)
		}
		return true
	}
	p.haveSeq = true
	p.lastSeq = seq
	return true
}

func (m *Machine) touchLink(now time.Time, p *peer, name string, l *link, seq uint64) {
	l.last = now
	if seq > l.lastSeq {
		l.lastSeq = seq
	}
	if l.status != LinkUp {
		m.setLink(p, name, l, LinkUp)
	}
}

func (m *Machine) statusMsg(now time.Time, p *peer, seq uint64, msg *wire.Message) {
	if !p.lastStatus.IsZero() {
		if iv := now.Sub(p.lastStatus); iv > m.cfg.Warntime {
			m.log.Warn(fmt.Sprintf("Late heartbeat: Node %s: interval %d ms", p.name, iv.Milliseconds()), "node", p.name)
		}
	}
	p.lastStatus = now
	p.statusSeq = seq
	_, p.lubdub = msg.Get(FLubdub)
	if dt, ok := msg.Hex(wire.FDeadtime); ok && dt > 0 && dt < 1<<31 {
		p.deadtime = time.Duration(dt) * time.Millisecond
	}
	st := Status(msg.Value(wire.FStatus))
	switch st {
	case StatusDead:
		m.log.Info(fmt.Sprintf("node %s: shut down cleanly", p.name), "node", p.name)
		m.markDead(now, p, ReasonShutdown)
		return
	case StatusUp, StatusActive, StatusInit:
	default:
		st = StatusUp
	}
	if st == StatusInit {
		st = StatusUp
	}
	if p.status != st {
		m.log.Info(fmt.Sprintf("Status update for node %s: status %s", p.name, st), "node", p.name)
		m.setStatus(now, p, st, "status message")
	}
}

func (m *Machine) unsequenced(now time.Time, p *peer, typ string, msg *wire.Message) {
	if dest, ok := msg.Get(wire.FTo); ok && strings.ToLower(dest) != m.cfg.Local {
		return
	}
	switch typ {
	case wire.TAck:
		if a, ok := msg.Hex(wire.FAckSeq); ok && a <= m.seq && a > p.ackedOurs {
			p.ackedOurs = a
		}
	case wire.TRexmit:
		m.rexmit(now, p, msg)
	case wire.TNakRexmit:
		if s, ok := msg.Hex(wire.FFirstSeq); ok {
			if _, missing := p.missing[s]; missing {
				m.log.Error(fmt.Sprintf("Irretrievably lost packet: node %s seq %d", p.name, s), "node", p.name)
				delete(p.missing, s)
			}
		}
	}
}

// rexmit answers a retransmission request from the history.
func (m *Machine) rexmit(now time.Time, p *peer, msg *wire.Message) {
	first, err1 := strconv.ParseUint(msg.Value(wire.FFirstSeq), 10, 64)
	last, err2 := strconv.ParseUint(msg.Value(wire.FLastSeq), 10, 64)
	if err1 != nil || err2 != nil || first == 0 || first > last {
		m.drop(p.name, "", DropMalformed, "invalid rexmit seqnos %q-%q", msg.Value(wire.FFirstSeq), msg.Value(wire.FLastSeq))
		return
	}
	if last-first >= maxRexmitBatch {
		last = first + maxRexmitBatch - 1 // Heartbeat sends at most MAX_REXMIT_BATCH
	}
	for s := first; s <= last; s++ {
		if s > m.seq {
			m.log.Warn(fmt.Sprintf("Rexmit of seq %d requested. %d is max.", s, m.seq))
			break
		}
		h := &m.history[s%historySize]
		if h.seq != s || h.msg == nil {
			m.nak(now, p, s, "seqno not found")
			continue
		}
		if !h.lastRexmit.IsZero() && now.Sub(h.lastRexmit) < m.cfg.MaxRexmitDelay-10*time.Millisecond {
			continue
		}
		h.lastRexmit = now
		m.emit(Send{Msg: h.msg})
	}
}

func (m *Machine) nak(now time.Time, p *peer, seq uint64, reason string) {
	m.log.Error(fmt.Sprintf("Cannot rexmit pkt %d for %s: %s", seq, p.name, reason), "node", p.name)
	msg := &wire.Message{}
	msg.Add(wire.FType, wire.TNakRexmit)
	msg.Add(wire.FFirstSeq, strconv.FormatUint(seq, 16))
	msg.Add(wire.FTo, p.name)
	msg.Add(wire.FComment, reason)
	m.send(now, msg)
}

func (m *Machine) askRexmit(now time.Time, p *peer) {
	if !p.status.Alive() {
		return
	}
	var seqs []uint64
	for s, a := range p.missing {
		if !now.Before(a.due) {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		a := p.missing[s]
		if a.asks >= maxRexmitAsks {
			delete(p.missing, s)
			continue
		}
		a.asks++
		a.due = now.Add(m.cfg.MaxRexmitDelay)
		msg := &wire.Message{}
		msg.Add(wire.FType, wire.TRexmit)
		msg.Add(wire.FTo, p.name)
		msg.Add(wire.FFirstSeq, strconv.FormatUint(s, 10))
		msg.Add(wire.FLastSeq, strconv.FormatUint(s, 10))
		m.send(now, msg)
	}
}

func (m *Machine) sendAck(now time.Time, p *peer, seq uint64) {
	msg := &wire.Message{}
	msg.Add(wire.FType, wire.TAck)
	msg.Add(wire.FTo, p.name)
	msg.Add(wire.FAckSeq, strconv.FormatUint(seq, 16))
	m.send(now, msg)
}

// replyNodes answers a starting Heartbeat node's reqnodes with the node
// list, which it adopts: it must be exactly ha.cf's.
func (m *Machine) replyNodes(now time.Time, p *peer) {
	var b strings.Builder
	for _, n := range m.cfg.Nodes {
		b.WriteString(strings.ToLower(n))
		b.WriteByte(' ')
	}
	msg := &wire.Message{}
	msg.Add(wire.FTo, p.name)
	msg.Add(wire.FType, wire.TRepNodes)
	msg.Add(wire.FNodeList, b.String())
	msg.Add(wire.FDelNodes, " ")
	m.send(now, msg)
}

// NodeView is one node as status tools show it.
type NodeView struct {
	Name       string
	Status     Status
	Local      bool
	Generation uint64
	UUID       string
	LastHeard  time.Time
	Since      time.Time
	Deadtime   time.Duration
	Links      []LinkView
	// Heartbeat: the peer's status messages say it is a Heartbeat node
	// (false until its first status of this generation).
	Heartbeat bool
}

// LinkView is one link of a node.
type LinkView struct {
	Name      string
	Status    string
	LastHeard time.Time
}

// Nodes returns every node, in ha.cf order.
func (m *Machine) Nodes() []NodeView {
	var out []NodeView
	for _, n := range m.cfg.Nodes {
		n = strings.ToLower(n)
		if n == m.cfg.Local {
			v := NodeView{Name: n, Status: m.status, Local: true, Generation: m.cfg.Generation,
				UUID: formatUUID(m.cfg.UUID), Since: m.start, Deadtime: m.cfg.Deadtime}
			for _, l := range m.cfg.Links {
				v.Links = append(v.Links, LinkView{Name: l, Status: LinkUp})
			}
			out = append(out, v)
			continue
		}
		p := m.peers[n]
		v := NodeView{Name: n, Status: p.status, Generation: p.gen, UUID: formatUUID(p.uuid),
			LastHeard: p.lastHeard, Since: p.since, Deadtime: p.deadtime, Heartbeat: p.statusSeq > 0 && !p.lubdub}
		for _, l := range m.cfg.Links {
			pl := p.links[l]
			v.Links = append(v.Links, LinkView{Name: l, Status: pl.status, LastHeard: pl.last})
		}
		out = append(out, v)
	}
	return out
}

func formatUUID(u []byte) string {
	if len(u) != 16 {
		return hex.EncodeToString(u)
	}
	h := hex.EncodeToString(u)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
