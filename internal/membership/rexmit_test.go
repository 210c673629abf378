package membership

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/wire"
)

// bravoMsg is a message from bravo of type typ, sequence seq (0: none),
// with extra name=value fields.
func bravoMsg(typ string, seq uint64, kv ...string) *wire.Message {
	m := &wire.Message{}
	m.Add(wire.FType, typ)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	m.Add(wire.FOrig, "bravo")
	if seq > 0 {
		m.Add(wire.FSeq, strconv.FormatUint(seq, 16))
	}
	m.Add(wire.FGeneration, "1")
	m.Add(wire.FTime, "1")
	return m
}

func sends(acts []Action) []*wire.Message {
	var out []*wire.Message
	for _, a := range acts {
		if s, ok := a.(Send); ok {
			out = append(out, s.Msg)
		}
	}
	return out
}

// Heartbeat writes NS_rexmit's firstseq and lastseq in decimal
// (ha_msg_add_int) and reads them with atoi, while seq itself is hex: a
// request for 16 must bring back the message whose seq field is "10".
// The sequence numbers below 10, where both read alike, do not tell.
func TestRexmitRequestIsDecimal(t *testing.T) {
	m := New(cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1), t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	m.Receive(t0, "eth0", bravoMsg(wire.TStatus, 1, wire.FStatus, "active"))
	for i := range 30 {
		m.SendMessage(t0, userMsg("m"+strconv.Itoa(i)))
	}
	now := t0.Add(time.Second)
	got := sends(m.Receive(now, "eth0", bravoMsg(wire.TRexmit, 0, wire.FTo, "alpha", wire.FFirstSeq, "16", wire.FLastSeq, "17")))
	var seqs []string
	for _, s := range got {
		seqs = append(seqs, s.Value(wire.FSeq))
	}
	if strings.Join(seqs, ",") != "10,11" {
		t.Fatalf("NS_rexmit 16-17 brought back seq %v, want 10,11 (hex)", seqs)
	}
	// A request for messages no longer in the history is answered with
	// NS_nak_rexmit, whose firstseq Heartbeat writes in hex ("%lx").
	for i := range historySize {
		m.SendMessage(now, userMsg("more"+strconv.Itoa(i)))
	}
	got = sends(m.Receive(now, "eth0", bravoMsg(wire.TRexmit, 0, wire.FTo, "alpha", wire.FFirstSeq, "26", wire.FLastSeq, "26")))
	if len(got) != 1 || got[0].Value(wire.FType) != wire.TNakRexmit || got[0].Value(wire.FFirstSeq) != "1a" || got[0].Value(wire.FTo) != "bravo" {
		t.Fatalf("request for a lost seq 26 answered %v, want NS_nak_rexmit firstseq=1a to bravo", got)
	}
}

// The asking side: a gap at seq 16 is asked for as firstseq=16 (decimal),
// asked again every max rexmit delay, and given up at once when bravo
// answers NS_nak_rexmit firstseq=10 (hex for 16).
func TestRexmitAskedInDecimalAndNakInHex(t *testing.T) {
	cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1)
	cfg.Deadtime = 10 * time.Second // bravo stays alive while alpha asks
	var logs strings.Builder
	m := New(cfg, t0, slog.New(slog.NewTextHandler(&logs, nil)))
	m.Start(t0)
	for seq := uint64(1); seq <= 15; seq++ {
		m.Receive(t0, "eth0", bravoMsg("test", seq))
	}
	m.Receive(t0, "eth0", bravoMsg("test", 17))
	ask := func(now time.Time) []string {
		var out []string
		for _, s := range sends(m.Tick(now)) {
			if s.Value(wire.FType) == wire.TRexmit {
				out = append(out, s.Value(wire.FFirstSeq)+"-"+s.Value(wire.FLastSeq))
			}
		}
		return out
	}
	now := t0.Add(cfg.MaxRexmitDelay / 4)
	if got := ask(now); strings.Join(got, " ") != "16-16" {
		t.Fatalf("rexmit requests %v, want 16-16", got)
	}
	now = now.Add(cfg.MaxRexmitDelay)
	if got := ask(now); strings.Join(got, " ") != "16-16" {
		t.Fatalf("second rexmit requests %v, want 16-16 again", got)
	}
	m.Receive(now, "eth0", bravoMsg(wire.TNakRexmit, 0, wire.FTo, "alpha", wire.FFirstSeq, "10"))
	if !strings.Contains(logs.String(), "Irretrievably lost packet: node bravo seq 16") {
		t.Fatalf("NS_nak_rexmit firstseq=10 not taken as seq 16:\n%s", logs.String())
	}
	now = now.Add(cfg.MaxRexmitDelay)
	if got := ask(now); len(got) != 0 {
		t.Fatalf("still asking %v after the NAK", got)
	}
}

// One request is answered with at most MAX_REXMIT_BATCH (50) messages, as
// Heartbeat's process_rexmit stops there ("or we could flood serial
// links"); a message retransmitted less than max rexmit delay - 10 ms ago
// (ACCEPT_REXMIT_REQ_MS) is not sent again.
func TestRexmitBatchAndResendPause(t *testing.T) {
	cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1)
	m := New(cfg, t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	m.Receive(t0, "eth0", bravoMsg(wire.TStatus, 1, wire.FStatus, "active"))
	for i := range 200 {
		m.SendMessage(t0, userMsg("m"+strconv.Itoa(i)))
	}
	ask := func(now time.Time, first, last string) []string {
		var seqs []string
		for _, s := range sends(m.Receive(now, "eth0", bravoMsg(wire.TRexmit, 0, wire.FTo, "alpha", wire.FFirstSeq, first, wire.FLastSeq, last))) {
			seqs = append(seqs, s.Value(wire.FSeq))
		}
		return seqs
	}
	got := ask(t0, "1", "200")
	if len(got) != 50 || got[0] != "1" || got[49] != "32" {
		t.Fatalf("NS_rexmit 1-200 answered with %d messages (%v ... ), want seq 1 to 50 (hex 32)", len(got), got[:min(len(got), 3)])
	}
	pause := cfg.MaxRexmitDelay - 10*time.Millisecond
	if got := ask(t0.Add(pause-time.Millisecond), "5", "5"); len(got) != 0 {
		t.Fatalf("seq 5 sent again %v after %v, want a pause of %v", got, pause-time.Millisecond, pause)
	}
	if got := ask(t0.Add(pause), "5", "5"); len(got) != 1 || got[0] != "5" {
		t.Fatalf("seq 5 asked again after %v: sent %v, want it", pause, got)
	}
	if got := ask(t0, "60", "60"); len(got) != 1 || got[0] != "3c" {
		t.Fatalf("seq 60, not yet retransmitted: sent %v", got)
	}
	if got := ask(t0, "203", "204"); len(got) != 0 { // 202 is the last: 2 statuses, 200 messages
		t.Fatalf("seq beyond the last sent answered with %v", got)
	}
}

// A gap that is never filled is asked for at most 10 times (lubdub's bound;
// Heartbeat asks until the node dies), max rexmit delay apart.
func TestRexmitAsksAreBounded(t *testing.T) {
	cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1)
	cfg.Deadtime = time.Hour
	m := New(cfg, t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	m.Receive(t0, "eth0", bravoMsg(wire.TStatus, 1, wire.FStatus, "active"))
	m.Receive(t0, "eth0", bravoMsg("test", 3))
	asks := 0
	for now := t0; now.Before(t0.Add(20 * cfg.MaxRexmitDelay)); now = now.Add(10 * time.Millisecond) {
		for _, s := range sends(m.Tick(now)) {
			if s.Value(wire.FType) == wire.TRexmit && s.Value(wire.FFirstSeq) == "2" {
				asks++
			}
		}
	}
	if asks != maxRexmitAsks {
		t.Fatalf("asked for seq 2 %d times, want %d", asks, maxRexmitAsks)
	}
}

// The batch limit counts messages: a request for 1-51 (51 messages) gets
// 50; a request for the newest message gets it.
func TestRexmitBatchEdges(t *testing.T) {
	cfg := cfgFor("alpha", []string{"alpha", "bravo"}, []string{"eth0"}, 1)
	m := New(cfg, t0, slog.New(slog.DiscardHandler))
	m.Start(t0)
	m.Receive(t0, "eth0", bravoMsg(wire.TStatus, 1, wire.FStatus, "active"))
	for i := range 60 {
		m.SendMessage(t0, userMsg("m"+strconv.Itoa(i)))
	}
	ask := func(first, last string) []*wire.Message {
		return sends(m.Receive(t0, "eth0", bravoMsg(wire.TRexmit, 0, wire.FTo, "alpha", wire.FFirstSeq, first, wire.FLastSeq, last)))
	}
	if got := ask("1", "51"); len(got) != 50 || got[49].Value(wire.FSeq) != "32" {
		t.Fatalf("NS_rexmit 1-51 answered with %d messages, want 50 (1 to 50)", len(got))
	}
	// 62 messages so far: 2 statuses and 60 others.
	if got := ask("62", "62"); len(got) != 1 || got[0].Value(wire.FSeq) != "3e" {
		t.Fatalf("NS_rexmit of the newest message (62) answered with %v", got)
	}
}
