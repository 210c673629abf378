package pingnode

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var (
	t0      = time.Unix(1000, 0)
	router  = netip.MustParseAddr("198.18.9.1")
	switch1 = netip.MustParseAddr("198.18.9.2")
	switch2 = netip.MustParseAddr("198.18.9.3")
)

func newTracker() *Tracker {
	return New(Config{
		Nodes: []Node{
			{Name: "198.18.9.1", Addrs: []netip.Addr{router}},
			{Name: "switches", Addrs: []netip.Addr{switch1, switch2}, Group: true},
		},
		Interval: 100 * time.Millisecond, Deadping: 400 * time.Millisecond,
	}, t0)
}

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// Echoes go to every address once per keepalive, the first at once.
func TestDue(t *testing.T) {
	tr := newTracker()
	if got := tr.Due(t0); !reflect.DeepEqual(got, []netip.Addr{router, switch1, switch2}) {
		t.Fatalf("first echoes %v", got)
	}
	if got := tr.Due(at(99)); got != nil {
		t.Fatalf("echoes again after 99 ms: %v", got)
	}
	if got := tr.Due(at(100)); len(got) != 3 {
		t.Fatalf("echoes after 100 ms: %v", got)
	}
	if w := tr.NextWakeup(); !w.Equal(at(200)) {
		t.Errorf("next wake-up %v, want the next echoes at 200 ms", w.Sub(t0))
	}
}

// A node is "init" until its first answer or deadping after start, "ping"
// while an address answered within deadping, "dead" after; a group lives
// while any address answers; Reach counts the answering nodes. Echoes go
// out every 100 ms, as the daemon sends them.
func TestStatus(t *testing.T) {
	tr := newTracker()
	sent := -100
	to := func(ms int) time.Time { // echoes due up to ms
		for ; sent+100 <= ms; sent += 100 {
			tr.Due(at(sent + 100))
		}
		return at(ms)
	}
	to(0)
	if ch := tr.Reply(to(10), router); !reflect.DeepEqual(ch, []Change{{"198.18.9.1", StatusInit, StatusPing}}) {
		t.Fatalf("first answer: %v", ch)
	}
	if ch := tr.Reply(to(20), netip.MustParseAddr("198.18.9.99")); ch != nil {
		t.Fatalf("an unknown address changed something: %v", ch)
	}
	if tr.Reach() != 1 {
		t.Fatalf("reach %d, want 1", tr.Reach())
	}
	if w := tr.NextWakeup(); !w.Equal(at(100)) {
		t.Errorf("wake-up %v, want the echoes at 100 ms", w.Sub(t0))
	}
	// The group answers through its second switch only.
	if ch := tr.Reply(to(300), switch2); !reflect.DeepEqual(ch, []Change{{"switches", StatusInit, StatusPing}}) {
		t.Fatalf("group's answer: %v", ch)
	}
	if tr.Reach() != 2 {
		t.Fatalf("reach %d, want 2", tr.Reach())
	}
	// The router last answered at 10 ms: dead at 410 ms, not before.
	if ch := tr.Tick(to(409)); ch != nil {
		t.Fatalf("changes at 409 ms: %v", ch)
	}
	if ch := tr.Tick(to(410)); !reflect.DeepEqual(ch, []Change{{"198.18.9.1", StatusPing, StatusDead}}) {
		t.Fatalf("at 410 ms: %v", ch)
	}
	// The other switch keeps the group alive after the second stops.
	tr.Reply(to(500), switch1)
	if ch := tr.Tick(to(701)); ch != nil || tr.Reach() != 1 {
		t.Fatalf("at 701 ms: %v, reach %d", ch, tr.Reach())
	}
	v := tr.Nodes(at(701))
	if v[1].Status != StatusPing || !v[1].Addrs[0].Up || v[1].Addrs[1].Up || !v[1].Addrs[0].LastHeard.Equal(at(500)) {
		t.Errorf("group view %+v", v[1])
	}
	if ch := tr.Tick(to(900)); !reflect.DeepEqual(ch, []Change{{"switches", StatusPing, StatusDead}}) || tr.Reach() != 0 {
		t.Fatalf("at 900 ms: %v, reach %d", ch, tr.Reach())
	}
	// Back at the next answer.
	if ch := tr.Reply(to(950), router); !reflect.DeepEqual(ch, []Change{{"198.18.9.1", StatusDead, StatusPing}}) {
		t.Fatalf("return: %v", ch)
	}
}

// Silence while no echo goes out proves nothing: after a pause of the
// daemon (no echoes, no ticks), a ping node that answered before is not
// declared dead when it resumes; only an echo unanswered for deadping
// less an interval makes it so.
func TestPauseIsNotSilence(t *testing.T) {
	tr := newTracker()
	tr.Due(t0)
	tr.Reply(at(5), router)
	tr.Reply(at(5), switch1)
	// Paused from 5 ms to 2 s: nothing sent, nothing ticked.
	if ch := tr.Tick(at(2000)); ch != nil {
		t.Fatalf("on resuming: %v", ch)
	}
	tr.Due(at(2000))
	if ch := tr.Tick(at(2299)); ch != nil {
		t.Fatalf("299 ms after the first echo since the pause: %v", ch)
	}
	want := []Change{{"198.18.9.1", StatusPing, StatusDead}, {"switches", StatusPing, StatusDead}}
	if ch := tr.Tick(at(2300)); !reflect.DeepEqual(ch, want) {
		t.Fatalf("echo unanswered for deadping less an interval: %v", ch)
	}
}

// A node never heard is dead deadping after start.
func TestNeverAnswered(t *testing.T) {
	tr := newTracker()
	tr.Due(t0)
	if w := tr.NextWakeup(); !w.Equal(at(100)) {
		t.Errorf("wake-up %v", w.Sub(t0))
	}
	tr.Due(at(100))
	tr.Due(at(200))
	tr.Due(at(300))
	if w := tr.NextWakeup(); !w.Equal(at(400)) {
		t.Errorf("wake-up %v, want deadping after start", w.Sub(t0))
	}
	want := []Change{{"198.18.9.1", StatusInit, StatusDead}, {"switches", StatusInit, StatusDead}}
	if ch := tr.Tick(at(400)); !reflect.DeepEqual(ch, want) {
		t.Fatalf("at deadping: %v", ch)
	}
}

// A reply counts only when it answers a request still outstanding: from
// the address the request went to, with the request's token, once; a
// made-up reply (lubdub's identifier and the fixed start of its payload,
// without the token) and a replayed one are refused; the oldest requests
// are forgotten past maxOutstanding.
func TestEchoRepliesMustAnswerARequest(t *testing.T) {
	var o outstanding
	a, b := netip.MustParseAddr("198.18.0.254"), netip.MustParseAddr("198.18.0.253")
	tok := func(n byte) (t [tokenLen]byte) {
		for i := range t {
			t[i] = n + byte(i)
		}
		return t
	}
	data := func(t [tokenLen]byte) []byte { return append(append([]byte{}, payloadMark...), t[:]...) }
	o.add(1, a, tok(1))
	o.add(2, b, tok(2))
	for _, c := range []struct {
		what string
		seq  int
		from netip.Addr
		data []byte
	}{
		{"another request's token", 1, a, data(tok(2))},
		{"from another address", 1, b, data(tok(1))},
		{"the old fixed payload", 1, a, []byte("lubdub ping node")},
		{"the mark without a token", 1, a, payloadMark},
		{"the token with a byte more", 1, a, append(data(tok(1)), 0)},
		{"a request never sent", 3, a, data(tok(1))},
	} {
		if o.answer(c.seq, c.from, c.data) {
			t.Errorf("%s: taken as an answer", c.what)
		}
	}
	if !o.answer(1, a, data(tok(1))) || !o.answer(2, b, data(tok(2))) {
		t.Fatal("true answers refused")
	}
	if o.answer(1, a, data(tok(1))) {
		t.Error("a replayed reply was taken")
	}
	for seq := 10; seq < 10+maxOutstanding+5; seq++ {
		o.add(seq, a, tok(byte(seq)))
	}
	if len(o.bySeq) != maxOutstanding {
		t.Errorf("%d requests remembered, want at most %d", len(o.bySeq), maxOutstanding)
	}
	if o.answer(10, a, data(tok(10))) {
		t.Error("the oldest request, forgotten, was answered")
	}
	last := 10 + maxOutstanding + 4
	if !o.answer(last, a, data(tok(byte(last)))) {
		t.Error("the newest request's answer was refused")
	}
}
