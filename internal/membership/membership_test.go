package membership

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/wire"
)

// sim is an in-memory cluster: machines, a clock and a network whose links
// can be cut per node and per link, in one direction or both.
type sim struct {
	t       *testing.T
	now     time.Time
	nodes   map[string]*simNode
	names   []string
	links   []string
	queue   []delivery
	latency time.Duration
	// cut[from+">"+to+"/"+link] drops those packets.
	cut  map[string]bool
	logs *bytes.Buffer
	keys *wire.Keyring
	sent map[string][][]byte // every frame each node sent
}

type simNode struct {
	m       *Machine
	up      bool
	gen     uint64
	changes []NodeChanged
	links   []LinkChanged
	drops   []Dropped
	deliver []Deliver
}

type delivery struct {
	at       time.Time
	to, link string
	raw      []byte
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func cfgFor(local string, nodes, links []string, gen uint64) Config {
	return Config{
		Local: local, Nodes: nodes, Links: links,
		Keepalive: 100 * time.Millisecond, Deadtime: 300 * time.Millisecond,
		Warntime: 200 * time.Millisecond, Initdead: 2 * time.Second,
		MaxRexmitDelay: 250 * time.Millisecond, Generation: gen,
		UUID: []byte(fmt.Sprintf("uuid-%-11s", local))[:16], TTL: len(nodes) + 1,
	}
}

func newSim(t *testing.T, nodes, links []string) *sim {
	s := &sim{t: t, now: t0, nodes: map[string]*simNode{}, names: nodes, links: links,
		latency: time.Millisecond, cut: map[string]bool{}, logs: &bytes.Buffer{}, sent: map[string][][]byte{},
		keys: &wire.Keyring{Send: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodSHA256, Secret: []byte("k")}}}}
	for _, n := range nodes {
		s.nodes[n] = &simNode{}
		s.boot(n, 1)
	}
	return s
}

func (s *sim) logger(node string) *slog.Logger {
	return slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("on", node)
}

func (s *sim) boot(n string, gen uint64) {
	sn := s.nodes[n]
	sn.m = New(cfgFor(n, s.names, s.links, gen), s.now, s.logger(n))
	sn.up = true
	sn.gen = gen
	s.handle(n, sn.m.Start(s.now))
}

func (s *sim) kill(n string) { s.nodes[n].up = false }

// handle turns a machine's actions into network traffic and records.
func (s *sim) handle(from string, acts []Action) {
	sn := s.nodes[from]
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			raw, err := wire.Encode(a.Msg, s.keys, wire.Netstring)
			if err != nil {
				s.t.Fatalf("%s: encode %v: %v", from, a.Msg, err)
			}
			s.sent[from] = append(s.sent[from], raw)
			for _, to := range s.names {
				for _, l := range s.links {
					if to == from || s.cut[from+">"+to+"/"+l] || s.cut[from+">"+to+"/*"] {
						continue
					}
					s.queue = append(s.queue, delivery{at: s.now.Add(s.latency), to: to, link: l, raw: raw})
				}
			}
		case NodeChanged:
			sn.changes = append(sn.changes, a)
		case LinkChanged:
			sn.links = append(sn.links, a)
		case Dropped:
			sn.drops = append(sn.drops, a)
		case Deliver:
			sn.deliver = append(sn.deliver, a)
		}
	}
}

// run advances the clock to now+d, processing deliveries and timers in order.
func (s *sim) run(d time.Duration) {
	end := s.now.Add(d)
	for {
		next := end
		kind, who := "end", ""
		for _, n := range s.names {
			if sn := s.nodes[n]; sn.up {
				if w := sn.m.NextWakeup(); w.Before(next) {
					next, kind, who = w, "tick", n
				}
			}
		}
		sort.SliceStable(s.queue, func(i, j int) bool { return s.queue[i].at.Before(s.queue[j].at) })
		if len(s.queue) > 0 && !s.queue[0].at.After(next) {
			next, kind = s.queue[0].at, "deliver"
		}
		if next.After(end) || kind == "end" {
			s.now = end
			return
		}
		if next.After(s.now) {
			s.now = next
		}
		switch kind {
		case "tick":
			s.handle(who, s.nodes[who].m.Tick(s.now))
		case "deliver":
			d := s.queue[0]
			s.queue = s.queue[1:]
			if sn := s.nodes[d.to]; sn.up {
				s.deliverRaw(d.to, d.link, d.raw)
			}
		}
	}
}

func (s *sim) deliverRaw(to, link string, raw []byte) {
	p, err := wire.Decode(raw)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := wire.Verify(p, s.keys); err != nil {
		s.t.Fatal(err)
	}
	s.handle(to, s.nodes[to].m.Receive(s.now, link, p.Msg))
}

func (s *sim) view(on, node string) NodeView {
	for _, v := range s.nodes[on].m.Nodes() {
		if v.Name == node {
			return v
		}
	}
	s.t.Fatalf("%s has no view of %s", on, node)
	return NodeView{}
}

func (s *sim) status(on, node string) Status { return s.view(on, node).Status }

func (s *sim) linkStatus(on, node, link string) string {
	for _, l := range s.view(on, node).Links {
		if l.Name == link {
			return l.Status
		}
	}
	return "?"
}

var abc = []string{"alpha", "bravo", "charlie"}

func TestThreeNodesBecomeActive(t *testing.T) {
	s := newSim(t, abc, []string{"eth0"})
	s.run(time.Second)
	for _, on := range abc {
		for _, n := range abc {
			if got := s.status(on, n); got != StatusActive {
				t.Errorf("%s sees %s as %s, want active", on, n, got)
			}
			if on != n && s.linkStatus(on, n, "eth0") != LinkUp {
				t.Errorf("%s sees link %s:eth0 %s", on, n, s.linkStatus(on, n, "eth0"))
			}
		}
	}
	for _, n := range abc {
		if len(s.nodes[n].drops) != 0 {
			t.Errorf("%s dropped %v", n, s.nodes[n].drops)
		}
	}
}

// A killed node is declared dead no earlier than deadtime after its last
// heartbeat and no later than deadtime plus one keepalive after the kill.
func TestDeadWithinDeadtimePlusKeepalive(t *testing.T) {
	s := newSim(t, abc, []string{"eth0"})
	s.run(time.Second)
	kill := s.now
	s.kill("charlie")
	step := 5 * time.Millisecond
	var deadAt time.Time
	for i := 0; i < 200 && deadAt.IsZero(); i++ {
		s.run(step)
		if s.status("alpha", "charlie") == StatusDead {
			deadAt = s.now
		}
	}
	if deadAt.IsZero() {
		t.Fatal("charlie never declared dead")
	}
	took := deadAt.Sub(kill)
	if took < 300*time.Millisecond-100*time.Millisecond || took > 300*time.Millisecond+100*time.Millisecond+step {
		t.Fatalf("declared dead after %v; want within deadtime (300ms) and deadtime + keepalive", took)
	}
	if s.status("bravo", "charlie") != StatusDead || s.status("alpha", "bravo") != StatusActive {
		t.Fatalf("bravo sees charlie %s, alpha sees bravo %s", s.status("bravo", "charlie"), s.status("alpha", "bravo"))
	}
	if !strings.Contains(s.logs.String(), "node charlie: is dead") {
		t.Error("no 'node charlie: is dead' log line")
	}
}

func TestRestartWithNewGeneration(t *testing.T) {
	s := newSim(t, abc, []string{"eth0"})
	s.run(time.Second)
	s.kill("charlie")
	s.run(time.Second)
	s.boot("charlie", 2)
	s.run(time.Second)
	v := s.view("alpha", "charlie")
	if v.Status != StatusActive || v.Generation != 2 {
		t.Fatalf("alpha sees charlie %s generation %d", v.Status, v.Generation)
	}
	if s.status("charlie", "alpha") != StatusActive {
		t.Fatalf("restarted charlie sees alpha %s", s.status("charlie", "alpha"))
	}
	if !strings.Contains(s.logs.String(), "Heartbeat restart on node charlie") {
		t.Error("restart not logged")
	}
}

func TestOneLinkCutNodeStaysAlive(t *testing.T) {
	s := newSim(t, []string{"alpha", "bravo"}, []string{"eth0", "eth1"})
	s.run(time.Second)
	s.cut["bravo>alpha/eth1"] = true
	s.run(time.Second)
	if got := s.linkStatus("alpha", "bravo", "eth1"); got != LinkDead {
		t.Errorf("link bravo:eth1 is %s, want dead", got)
	}
	if got := s.linkStatus("alpha", "bravo", "eth0"); got != LinkUp {
		t.Errorf("link bravo:eth0 is %s, want up", got)
	}
	if got := s.status("alpha", "bravo"); got != StatusActive {
		t.Errorf("bravo is %s, want active", got)
	}
	delete(s.cut, "bravo>alpha/eth1")
	s.run(time.Second)
	if got := s.linkStatus("alpha", "bravo", "eth1"); got != LinkUp {
		t.Errorf("healed link is %s", got)
	}
}

func TestCleanShutdownIsSeenAtOnce(t *testing.T) {
	s := newSim(t, []string{"alpha", "bravo"}, []string{"eth0"})
	s.run(time.Second)
	s.handle("bravo", s.nodes["bravo"].m.Shutdown(s.now))
	s.kill("bravo")
	s.run(10 * time.Millisecond)
	if got := s.status("alpha", "bravo"); got != StatusDead {
		t.Fatalf("bravo is %s 10ms after its shutdown, want dead", got)
	}
}

func TestReplayDoesNotReviveDeadNode(t *testing.T) {
	s := newSim(t, []string{"alpha", "bravo"}, []string{"eth0"})
	s.run(800 * time.Millisecond)
	captured := s.sent["bravo"]
	if len(captured) < 5 {
		t.Fatalf("captured %d packets", len(captured))
	}
	s.kill("bravo")
	s.run(time.Second)
	if s.status("alpha", "bravo") != StatusDead {
		t.Fatal("bravo not dead")
	}
	before := len(s.nodes["alpha"].drops)
	for _, raw := range captured {
		if !bytes.Contains(raw, []byte("t="+wire.NoSeqPrefix)) {
			s.deliverRaw("alpha", "eth0", raw)
		}
	}
	if got := s.status("alpha", "bravo"); got != StatusDead {
		t.Fatalf("replayed packets revived bravo: %s", got)
	}
	if len(s.nodes["alpha"].drops) == before {
		t.Fatal("replays not reported as drops")
	}
	for _, d := range s.nodes["alpha"].drops[before:] {
		if d.Reason != DropReplay {
			t.Errorf("drop reason %s, want replay", d.Reason)
		}
	}
}

func TestOldGenerationAndUnknownNodeDropped(t *testing.T) {
	s := newSim(t, []string{"alpha", "bravo"}, []string{"eth0"})
	s.run(500 * time.Millisecond)
	s.kill("bravo")
	old := New(cfgFor("bravo", s.names, s.links, 1), s.now, s.logger("old"))
	s.nodes["bravo"].m = New(cfgFor("bravo", s.names, s.links, 5), s.now, s.logger("bravo"))
	s.nodes["bravo"].up = true
	s.run(500 * time.Millisecond)
	var oldRaw []byte
	for _, a := range old.Start(s.now) {
		if snd, ok := a.(Send); ok {
			oldRaw, _ = wire.Encode(snd.Msg, s.keys, wire.Netstring)
		}
	}
	s.deliverRaw("alpha", "eth0", oldRaw)
	drops := s.nodes["alpha"].drops
	if len(drops) == 0 || drops[len(drops)-1].Reason != DropOldGeneration {
		t.Fatalf("drops = %v, want old-generation", drops)
	}
	stranger := New(cfgFor("mallory", []string{"mallory", "alpha"}, s.links, 1), s.now, s.logger("m"))
	for _, a := range stranger.Start(s.now) {
		if snd, ok := a.(Send); ok {
			raw, _ := wire.Encode(snd.Msg, s.keys, wire.Netstring)
			s.deliverRaw("alpha", "eth0", raw)
		}
	}
	drops = s.nodes["alpha"].drops
	if drops[len(drops)-1].Reason != DropUnknownNode {
		t.Fatalf("drops = %v, want unknown-node", drops)
	}
}

// A lost packet is noticed from the gap, asked for with NS_rexmit and
// filled from the sender's history.
func TestGapIsRetransmitted(t *testing.T) {
	s := newSim(t, []string{"alpha", "bravo"}, []string{"eth0"})
	s.run(500 * time.Millisecond)
	// Drop exactly one of bravo's sequenced packets to alpha.
	s.handle("bravo", s.nodes["bravo"].m.SendMessage(s.now, userMsg("one")))
	for i, d := range s.queue {
		if d.to == "alpha" && bytes.Contains(d.raw, []byte("t=test")) {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			break
		}
	}
	s.run(time.Second)
	if len(s.nodes["alpha"].deliver) != 1 || s.nodes["alpha"].deliver[0].Msg.Value("payload") != "one" {
		t.Fatalf("alpha got %v, want the lost message retransmitted", s.nodes["alpha"].deliver)
	}
	if !strings.Contains(s.logs.String(), "lost packet(s) for [bravo]") || !strings.Contains(s.logs.String(), "No pkts missing from bravo!") {
		t.Errorf("gap handling not logged:\n%s", s.logs.String())
	}
}

func userMsg(payload string) *wire.Message {
	m := &wire.Message{}
	m.Add(wire.FType, "test")
	m.Add("payload", payload)
	return m
}

// A starting Heartbeat node asks for the node list; the reply must list
// exactly ha.cf's nodes, since Heartbeat adopts it.
func TestReqnodesAnswered(t *testing.T) {
	m := New(cfgFor("alpha", []string{"Alpha", "bravo"}, []string{"eth0"}, 1), t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	req := &wire.Message{}
	req.Add(wire.FType, wire.TReqNodes)
	req.Add(wire.FTo, "alpha")
	req.Add(wire.FOrig, "bravo")
	req.Add(wire.FSeq, "1")
	req.Add(wire.FGeneration, "1")
	req.Add(wire.FTime, "1")
	var rep *wire.Message
	for _, a := range m.Receive(t0, "eth0", req) {
		if s, ok := a.(Send); ok && s.Msg.Value(wire.FType) == wire.TRepNodes {
			rep = s.Msg
		}
	}
	if rep == nil {
		t.Fatal("no repnodes sent")
	}
	if rep.Value(wire.FNodeList) != "alpha bravo " || rep.Value(wire.FTo) != "bravo" || rep.Fields[0].Name != wire.FTo {
		t.Fatalf("repnodes = %v", rep)
	}
}

// The status message carries Heartbeat's fields in Heartbeat's order, plus
// lubdub's mark after Heartbeat's own fields (before the control fields
// send adds), which Heartbeat ignores and lubdub peers read.
func TestStatusMessageLayout(t *testing.T) {
	cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 0x6b074ecb)
	cfg.Load = func() string { return "0.00 0.06 0.08 3/95 12298" }
	m := New(cfg, t0, slog.New(slog.DiscardHandler))
	var names []string
	for _, a := range m.Start(t0) {
		if s, ok := a.(Send); ok {
			names = names[:0]
			for _, f := range s.Msg.Fields {
				names = append(names, f.Name)
			}
			if s.Msg.Value(wire.FGeneration) != "6b074ecb" || s.Msg.Value(wire.FDeadtime) != "12c" || s.Msg.Value(wire.FTTL) != "3" {
				t.Errorf("status = %v", s.Msg)
			}
		}
	}
	if got := strings.Join(names, ","); got != "t,st,dt,protocol,lubdub,src,srcuuid,seq,hg,ts,ld,ttl" {
		t.Fatalf("fields %s", got)
	}
}

func TestLateHeartbeatLogged(t *testing.T) {
	s := newSim(t, []string{"alpha", "bravo"}, []string{"eth0"})
	s.run(500 * time.Millisecond)
	s.latency = 250 * time.Millisecond // one heartbeat arrives 250ms late
	s.run(120 * time.Millisecond)
	s.latency = time.Millisecond
	s.run(500 * time.Millisecond)
	if !strings.Contains(s.logs.String(), "Late heartbeat: Node bravo: interval") {
		t.Fatalf("no late heartbeat logged")
	}
	if s.status("alpha", "bravo") != StatusActive {
		t.Fatal("late but not dead node marked dead")
	}
}

// Whatever an authenticated peer sends, the machine neither panics nor
// stops answering.
func FuzzReceive(f *testing.F) {
	f.Add([]byte(">>>\nt=status\nst=active\nsrc=bravo\nseq=1\nhg=1\nts=1\ndt=12c\n<<<\n"))
	f.Add([]byte(">>>\nt=NS_rexmit\nsrc=bravo\ndest=alpha\nfirstseq=1\nlastseq=99999999\nhg=1\nts=1\n<<<\n"))
	f.Add([]byte(">>>\nt=reqnodes\nsrc=bravo\ndest=alpha\nseq=ffffffffffffffff\nhg=0\nts=1\n<<<\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := wire.Decode(b)
		if err != nil {
			return
		}
		m := New(cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1), t0, slog.New(slog.DiscardHandler))
		m.Start(t0)
		m.Receive(t0, "eth0", p.Msg)
		m.Receive(t0.Add(time.Millisecond), "eth1", p.Msg)
		m.Tick(t0.Add(time.Second))
		if w := m.NextWakeup(); w.IsZero() {
			t.Fatal("no next wakeup")
		}
	})
}

// A peer is a Heartbeat node when its status messages lack lubdub's mark,
// as Heartbeat 3.0.6's do; a lubdub peer's carry it.
func TestHeartbeatPeerRecognised(t *testing.T) {
	m := New(cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1), t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	status := func(seq int, mark bool) *wire.Message {
		msg := &wire.Message{}
		msg.Add(wire.FType, wire.TStatus)
		msg.Add(wire.FStatus, "active")
		msg.Add(wire.FDeadtime, "bb8")
		msg.Add(wire.FProtocol, "1")
		if mark {
			msg.Add(FLubdub, "1")
		}
		msg.Add(wire.FOrig, "bravo")
		msg.Add(wire.FSeq, strconv.FormatInt(int64(seq), 16))
		msg.Add(wire.FGeneration, "5")
		msg.Add(wire.FTime, "6b074ecb")
		return msg
	}
	kind := func() bool {
		for _, v := range m.Nodes() {
			if v.Name == "bravo" {
				return v.Heartbeat
			}
		}
		t.Fatal("bravo missing")
		return false
	}
	if kind() {
		t.Fatal("a peer never heard counts as a Heartbeat node")
	}
	m.Receive(t0.Add(time.Second), "eth0", status(1, false))
	if !kind() {
		t.Fatal("a status without lubdub's mark: not seen as Heartbeat")
	}
	m.Receive(t0.Add(2*time.Second), "eth0", status(2, true))
	if kind() {
		t.Fatal("a status with lubdub's mark: still seen as Heartbeat")
	}
}
