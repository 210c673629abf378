package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func groupEvent(seq uint64, state, was string) Event {
	return Event{Seq: seq, Generation: 7, Time: t0.Add(time.Duration(seq) * time.Millisecond), Origin: "node2",
		Kind: Group, Subject: "IPaddr2::198.18.0.10/24/eth0", Node: "node2", State: state, Was: was}
}

func TestDecodeRoundTrip(t *testing.T) {
	e := groupEvent(12, "stopping", "starting")
	e.Reason = "start failed: websrv: exit 1"
	e.Op = &OpResult{Name: "start", RC: RCError, TookMS: 31}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":12,"generation":7,"time":"2026-03-01T10:00:00.012Z","origin":"node2","kind":"group","subject":"IPaddr2::198.18.0.10/24/eth0","node":"node2","state":"stopping","was":"starting","reason":"start failed: websrv: exit 1","op":{"name":"start","rc":1,"took_ms":31}}`
	if string(b) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", b, want)
	}
	got, err := Decode(b)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for line, want := range map[string]string{
		`{"seq":1,"kind":"weather","subject":"x","state":"rain"}`:                                  `unknown kind "weather"`,
		`{"seq":0,"kind":"node","subject":"node1","state":"dead"}`:                                 "no sequence number",
		`{"seq":3,"kind":"node","subject":"","state":"dead"}`:                                      "without subject or state",
		`{"seq":3,"kind":"link","subject":"eth0","state":""}`:                                      "without subject or state",
		`{"seq":3,"kind":"node","subject":"n","state":"dead","op":{"name":"start"}}`:               "node event with a resource operation",
		`{"seq":3,"kind":"group","subject":"g","state":"stopping","op":{"name":"promote","rc":0}}`: `unknown resource operation "promote"`,
		`{"seq":"1"}`: "cannot unmarshal",
		`[1,2]`:       "cannot unmarshal",
		``:            "unexpected end",
	} {
		_, err := Decode([]byte(line))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want an ErrInvalid saying %q", line, err, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	e := groupEvent(5, "running", "starting")
	e.Op = &OpResult{Name: "start", TookMS: 3}
	b, _ := json.Marshal(e)
	f.Add(b)
	f.Add([]byte(`{"seq":1,"kind":"node","subject":"n","node":"n","state":"dead","replay":true}`))
	f.Add([]byte(`{"seq":18446744073709551615,"kind":"config","subject":"/etc/ha.d","state":"refused","time":"2026-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Decode(line)
		if err != nil {
			return
		}
		if e.Check() != nil {
			t.Fatalf("Decode accepted %q but Check refuses it", line)
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", e, err)
		}
		e2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded %s refused: %v", again, err)
		}
		if !e2.Time.Equal(e.Time) {
			t.Fatalf("time %v became %v", e.Time, e2.Time)
		}
		e2.Time = e.Time
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip changed %+v into %+v", e, e2)
		}
		_ = e.String()
	})
}

func TestString(t *testing.T) {
	time.Local = time.UTC
	e := groupEvent(12, "stopping", "starting")
	e.Reason = "start failed"
	e.Op = &OpResult{Name: "start", RC: RCError, TimedOut: true, TookMS: 5000}
	if got, want := e.String(), "2026-03-01 10:00:00.012     12 group    IPaddr2::198.18.0.10/24/eth0 on node2: stopping (was starting; start rc=1 timed out after 5000ms; start failed)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	n := Event{Seq: 3, Time: t0, Kind: Node, Subject: "node1", Node: "node1", State: "active", Was: "dead", Replay: true}
	if got, want := n.String(), "2026-03-01 10:00:00.000      3 node     node1: active (now)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestStreamReplayThenLive(t *testing.T) {
	s := NewStream(4)
	s.Publish(groupEvent(1, "starting", "stopped"))
	cur := []Event{{Seq: 1, Kind: Node, Subject: "node1", Node: "node1", State: "active", Replay: true},
		{Seq: 1, Kind: Group, Subject: "g", Node: "node1", State: "starting", Replay: true}}
	r := s.Subscribe(cur)
	defer r.Close()
	s.Publish(groupEvent(2, "running", "starting"))
	var got []string
	for range 3 {
		e, err := r.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.State)
	}
	if strings.Join(got, " ") != "active starting running" || s.Last() != 2 {
		t.Fatalf("read %v, last %d", got, s.Last())
	}
	done := make(chan struct{})
	close(done)
	if _, err := r.Next(done); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next on an empty reader with done closed: %v", err)
	}
}

// A reader that falls a whole ring behind reads what it had, then
// ErrFellBehind; the publisher never waits, and other readers go on.
func TestStreamSlowReaderCutOff(t *testing.T) {
	s := NewStream(3)
	slow, fast := s.Subscribe(nil), s.Subscribe(nil)
	defer fast.Close()
	for i := uint64(1); i <= 5; i++ {
		s.Publish(groupEvent(i, "running", ""))
		if e, err := fast.Next(nil); err != nil || e.Seq != i {
			t.Fatalf("fast reader: %v %v", e.Seq, err)
		}
	}
	for i := uint64(1); i <= 3; i++ {
		if e, err := slow.Next(nil); err != nil || e.Seq != i {
			t.Fatalf("slow reader, event %d: %v %v", i, e.Seq, err)
		}
	}
	if _, err := slow.Next(nil); !errors.Is(err, ErrFellBehind) {
		t.Fatalf("slow reader after its ring: %v", err)
	}
	if s.Readers() != 1 {
		t.Fatalf("%d readers, want the fast one only", s.Readers())
	}
}

func TestStreamCloseWakesReader(t *testing.T) {
	s := NewStream(2)
	r := s.Subscribe(nil)
	errc := make(chan error)
	go func() { _, err := r.Next(nil); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	r.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
	if s.Readers() != 0 {
		t.Fatal("a closed reader is still subscribed")
	}
	s.Publish(groupEvent(1, "running", "")) // no reader: nothing happens
}

// Readers on other goroutines see every event in order (run with -race).
func TestStreamConcurrentReaders(t *testing.T) {
	s := NewStream(64)
	const n = 2000
	var wg sync.WaitGroup
	for range 3 {
		r := s.Subscribe(nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			next := uint64(1)
			for next <= n {
				e, err := r.Next(nil)
				if errors.Is(err, ErrFellBehind) {
					return // allowed: the publisher does not wait
				}
				if err != nil || e.Seq != next {
					t.Errorf("got %d (%v), want %d", e.Seq, err, next)
					return
				}
				next++
			}
		}()
	}
	for i := uint64(1); i <= n; i++ {
		s.Publish(groupEvent(i, "running", ""))
	}
	wg.Wait()
}

// A closed stream's readers read what they hold, then ErrClosed.
func TestStreamClose(t *testing.T) {
	s := NewStream(2)
	r := s.Subscribe([]Event{{Seq: 1, Kind: Node, Subject: "n", Node: "n", State: "up", Replay: true}})
	s.Publish(groupEvent(2, "stopped", "stopping"))
	s.Close()
	s.Publish(groupEvent(3, "starting", "stopped"))
	for _, want := range []uint64{1, 2} {
		if e, err := r.Next(nil); err != nil || e.Seq != want {
			t.Fatalf("a reader of a closed stream: %d %v, want %d", e.Seq, err, want)
		}
	}
	if _, err := r.Next(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("a reader of a closed stream, at its end: %v", err)
	}
	if s.Readers() != 0 {
		t.Fatal("readers left")
	}
}
