package membership

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/wire"
)

var bravoUUID = []byte("bravo-uuid-16byt")

// fromBravo is bravo's message of type typ, sequence seq, generation gen,
// with its uuid, as a Heartbeat node sends it.
func fromBravo(typ string, seq, gen uint64, kv ...string) *wire.Message {
	m := &wire.Message{}
	m.Add(wire.FType, typ)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	m.Add(wire.FOrig, "bravo")
	m.AddBinary(wire.FOrigUUID, bravoUUID)
	m.Add(wire.FSeq, strconv.FormatUint(seq, 16))
	m.Add(wire.FGeneration, strconv.FormatUint(gen, 16))
	m.Add(wire.FTime, "1")
	return m
}

type alphaProbe struct {
	m    *Machine
	logs *strings.Builder
	acts []Action
}

func newAlpha(t *testing.T, mod func(*Config)) *alphaProbe {
	cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0", "eth1"}, 1)
	if mod != nil {
		mod(&cfg)
	}
	a := &alphaProbe{logs: &strings.Builder{}}
	a.m = New(cfg, t0, slog.New(slog.NewTextHandler(a.logs, nil)))
	a.m.Start(t0)
	return a
}

func (a *alphaProbe) recv(now time.Time, link string, msg *wire.Message) []Action {
	acts := a.m.Receive(now, link, msg)
	a.acts = append(a.acts, acts...)
	return acts
}

func (a *alphaProbe) changes() []string {
	var out []string
	for _, x := range a.acts {
		switch c := x.(type) {
		case NodeChanged:
			out = append(out, string(c.From)+">"+string(c.To))
		case NodeRestarted:
			out = append(out, "restarted:"+strconv.FormatUint(c.Generation, 10))
		}
	}
	return out
}

func acks(acts []Action) []string {
	var out []string
	for _, m := range sends(acts) {
		if m.Value(wire.FType) == wire.TAck {
			out = append(out, m.Value(wire.FAckSeq))
		}
	}
	return out
}

// Acknowledgements, which Heartbeat peers need for their flow control: one
// NS_ackmsg every ACK_MSG_DIV (10) sequenced messages received in order,
// ackseq in hex, none while a gap is open (send_ack_if_needed), and laid
// out field for field as Heartbeat's own in the capture
// (t,dest,ackseq,destuuid,src,srcuuid,hg,ts,ttl).
func TestAcknowledgements(t *testing.T) {
	a := newAlpha(t, nil)
	var acked []uint64
	for seq := uint64(1); seq <= 40; seq++ {
		for _, s := range sends(a.recv(t0, "eth0", fromBravo("test", seq, 1))) {
			if s.Value(wire.FType) != wire.TAck {
				continue
			}
			n, err := strconv.ParseUint(s.Value(wire.FAckSeq), 16, 64)
			if err != nil || n != seq {
				t.Fatalf("ack of seq %d says ackseq=%q", seq, s.Value(wire.FAckSeq))
			}
			var names []string
			for _, f := range s.Fields {
				names = append(names, f.Name)
			}
			if got := strings.Join(names, ","); got != "t,dest,ackseq,destuuid,src,srcuuid,hg,ts,ttl" {
				t.Errorf("ack fields %s, want Heartbeat's t,dest,ackseq,destuuid,src,srcuuid,hg,ts,ttl", got)
			}
			if u, _ := s.Bytes(wire.FToUUID); s.Value(wire.FTo) != "bravo" || !bytes.Equal(u, bravoUUID) {
				t.Errorf("ack addressed to %q uuid %q", s.Value(wire.FTo), u)
			}
			acked = append(acked, seq)
		}
	}
	if len(acked) != 4 || acked[1]-acked[0] != 10 || acked[2]-acked[1] != 10 || acked[3]-acked[2] != 10 {
		t.Fatalf("40 messages acknowledged at %v, want one in every 10", acked)
	}
	// A gap: seq 41 lost. Nothing is acknowledged until it is filled.
	var during []string
	for seq := uint64(42); seq <= 60; seq++ {
		during = append(during, acks(a.recv(t0, "eth0", fromBravo("test", seq, 1)))...)
	}
	if len(during) != 0 {
		t.Fatalf("acknowledged %v while seq 41 was missing", during)
	}
	a.recv(t0, "eth0", fromBravo("test", 41, 1))
	var after []string
	for seq := uint64(61); seq <= 70; seq++ {
		after = append(after, acks(a.recv(t0, "eth0", fromBravo("test", seq, 1)))...)
	}
	if len(after) != 1 {
		t.Fatalf("acks %v for 61-70 once the gap was filled, want one", after)
	}
}

// A gap is counted as Heartbeat counts it ("N lost packet(s) for [node]
// [last:new]"), and asked for when it is at most FLOWCONTROL_LIMIT (250)
// long; a longer one is given up ("lost a lot of packets!") and the
// sequence starts over.
func TestGapCountAndFlowLimit(t *testing.T) {
	for _, c := range []struct {
		lost   uint64
		asked  bool
		logged string
	}{
		{1, true, "1 lost packet(s) for [bravo] [300:302]"},
		{flowLimit, true, "250 lost packet(s) for [bravo] [300:551]"},
		{flowLimit + 1, false, "251 lost packet(s) for [bravo] [300:552]"},
	} {
		a := newAlpha(t, func(c *Config) { c.Deadtime = 10 * time.Second })
		a.recv(t0, "eth0", fromBravo(wire.TStatus, 300, 1, wire.FStatus, "active"))
		a.recv(t0, "eth0", fromBravo("test", 300+c.lost+1, 1))
		if !strings.Contains(a.logs.String(), c.logged) {
			t.Errorf("gap of %d: log lacks %q:\n%s", c.lost, c.logged, a.logs.String())
		}
		if gaveUp := strings.Contains(a.logs.String(), "lost a lot of packets!"); gaveUp == c.asked {
			t.Errorf("gap of %d: gave up %v", c.lost, gaveUp)
		}
		var asked []string
		for _, s := range sends(a.m.Tick(t0.Add(time.Second))) {
			if s.Value(wire.FType) == wire.TRexmit {
				asked = append(asked, s.Value(wire.FFirstSeq))
			}
		}
		if c.asked && (len(asked) != int(c.lost) || asked[0] != "301") {
			t.Errorf("gap of %d: asked for %d seqs starting %v, want %d from 301", c.lost, len(asked), asked[:min(len(asked), 1)], c.lost)
		}
		if !c.asked && len(asked) != 0 {
			t.Errorf("gap of %d: asked for %d seqs after giving up", c.lost, len(asked))
		}
	}
}

// The first message of a node never heard: a status makes it what the
// status says (init counts as up), anything else makes it up, in one step.
func TestFirstContact(t *testing.T) {
	for _, c := range []struct {
		msg  *wire.Message
		want string
	}{
		{fromBravo(wire.TStatus, 1, 1, wire.FStatus, "active"), "init>active"},
		{fromBravo(wire.TStatus, 1, 1, wire.FStatus, "init"), "init>up"},
		{fromBravo(wire.TStatus, 1, 1, wire.FStatus, "up"), "init>up"},
		{fromBravo("test", 1, 1), "init>up"},
	} {
		a := newAlpha(t, nil)
		a.recv(t0, "eth0", c.msg)
		if got := strings.Join(a.changes(), " "); got != c.want {
			t.Errorf("first message %v: changes %q, want %q", c.msg, got, c.want)
		}
	}
}

// A restart (a higher generation) is reported once, as NodeRestarted
// with the new generation, so that what the node held is void; first
// contact is no restart. A dead node heard again in the same generation
// is a healed partition, which Heartbeat logs at CRIT.
func TestRestartAndReturnAfterPartition(t *testing.T) {
	a := newAlpha(t, nil)
	a.recv(t0, "eth0", fromBravo(wire.TStatus, 1, 5, wire.FStatus, "active"))
	a.recv(t0, "eth0", fromBravo(wire.TStatus, 1, 6, wire.FStatus, "active"))
	if got := strings.Join(a.changes(), " "); got != "init>active restarted:6" {
		t.Fatalf("changes %q, want init>active restarted:6", got)
	}
	if strings.Contains(a.logs.String(), "returning after partition") {
		t.Fatal("a restart logged as a healed partition")
	}
	a.acts = nil
	a.m.Tick(t0.Add(time.Second)) // silent for deadtime: dead
	a.recv(t0.Add(time.Second), "eth0", fromBravo(wire.TStatus, 2, 6, wire.FStatus, "active"))
	if !strings.Contains(a.logs.String(), "Cluster node bravo returning after partition.") {
		t.Fatalf("no partition log:\n%s", a.logs.String())
	}
	if v := a.m.Nodes()[1]; v.Status != StatusActive || v.Generation != 6 {
		t.Fatalf("bravo after the partition healed: %s gen %d", v.Status, v.Generation)
	}
}

// A clean shutdown takes the node's links down with it, each reported
// once.
func TestShutdownTakesLinksDown(t *testing.T) {
	a := newAlpha(t, nil)
	a.recv(t0, "eth0", fromBravo(wire.TStatus, 1, 1, wire.FStatus, "active"))
	a.recv(t0, "eth1", fromBravo(wire.TStatus, 1, 1, wire.FStatus, "active"))
	a.acts = nil
	a.recv(t0, "eth0", fromBravo(wire.TStatus, 2, 1, wire.FStatus, "dead"))
	var links []string
	for _, x := range a.acts {
		if l, ok := x.(LinkChanged); ok {
			links = append(links, l.Link+">"+l.To)
		}
	}
	// eth0 carried the shutdown itself, eth1 was up: both go dead.
	if got := strings.Join(links, " "); got != "eth0>dead eth1>dead" {
		t.Fatalf("link changes %q, want eth0>dead eth1>dead", got)
	}
	for _, l := range a.m.Nodes()[1].Links {
		if l.Status != LinkDead {
			t.Errorf("link %s is %s after the shutdown", l.Name, l.Status)
		}
	}
}

// A non-status message changes a node's status only when it was never
// heard (init) or declared dead: it is heard again, so up. An active node
// stays active whatever else it sends.
func TestNonStatusMessagesKeepStatus(t *testing.T) {
	a := newAlpha(t, func(c *Config) { c.Deadtime = time.Second })
	a.recv(t0, "eth0", fromBravo(wire.TStatus, 1, 1, wire.FStatus, "active"))
	a.recv(t0, "eth0", fromBravo("test", 2, 1))
	if got := a.m.Nodes()[1].Status; got != StatusActive {
		t.Fatalf("an active node that sent a message is %s", got)
	}
	a.m.Tick(t0.Add(2 * time.Second))
	a.acts = nil
	a.recv(t0.Add(2*time.Second), "eth0", fromBravo("test", 3, 1))
	if got := strings.Join(a.changes(), " "); got != "dead>up" {
		t.Fatalf("a dead node heard again: changes %q, want dead>up", got)
	}
}

// The same packet again on the same link is a replay, dropped and
// counted; its copy on another link only marks that link up.
func TestDuplicatesPerLink(t *testing.T) {
	a := newAlpha(t, nil)
	msg := fromBravo(wire.TStatus, 5, 1, wire.FStatus, "active")
	a.recv(t0, "eth0", msg)
	a.acts = nil
	a.recv(t0, "eth0", msg)
	a.recv(t0, "eth1", msg)
	a.recv(t0, "eth1", msg)
	var got []string
	for _, x := range a.acts {
		switch x := x.(type) {
		case Dropped:
			got = append(got, "drop "+x.Link+" "+string(x.Reason))
		case LinkChanged:
			got = append(got, "link "+x.Link+" "+x.To)
		}
	}
	if strings.Join(got, ", ") != "drop eth0 replay, link eth1 up, drop eth1 replay" {
		t.Fatalf("got %q, want a replay on eth0, eth1 up, a replay on eth1", got)
	}
}
