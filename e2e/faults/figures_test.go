package faults

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/probe"
)

// history builds samples every 10 ms from t0: each step holds its
// holders for n samples.
type step struct {
	n       int
	holders string // comma-separated
	cut     string
}

func history(t0 time.Time, steps ...step) []e2ekit.Sample {
	var out []e2ekit.Sample
	at := t0
	for _, st := range steps {
		for range st.n {
			s := e2ekit.Sample{At: at}
			if st.holders != "" {
				s.Holders = strings.Split(st.holders, ",")
			}
			if st.cut != "" {
				s.Cut = strings.Split(st.cut, ",")
			}
			out = append(out, s)
			at = at.Add(10 * time.Millisecond)
		}
	}
	return out
}

func TestMeasureHealedPartition(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// node1 alone 1 s; the fault from 1 s to 4 s: node2 takes it at 1.4 s
	// (both hold it to 4.2 s); node1 alone from 4.2 s to 6 s.
	r := Record{
		Samples:    history(t0, step{n: 140, holders: "node1"}, step{n: 280, holders: "node1,node2"}, step{n: 180, holders: "node1"}),
		FaultStart: ms(1000), FaultEnd: ms(4000), End: ms(6000),
		Client: probe.Timeline{OK: true, Last: "node1", Outages: []probe.Interval{
			{From: ms(1000), To: ms(1500)}, // the takeover
			{From: ms(3900), To: ms(4300)}, // the heal: 100 ms before, 300 ms after
		}},
	}
	f := Measure(r)
	want := Figures{Moves: 0, MovesAfter: 0, Double: 2800 * time.Millisecond, DoubleAfter: 200 * time.Millisecond,
		OutageDuring: 600 * time.Millisecond, OutageAfter: 300 * time.Millisecond, Recovery: 300 * time.Millisecond,
		Converge: 300 * time.Millisecond, Owner: "node1", Served: true, Gap: 10 * time.Millisecond}
	if f != want {
		t.Errorf("figures\n%+v, want\n%+v", f, want)
	}
}

func TestMeasureMovesAndConvergence(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// node1, nobody, node2 (a move during the fault), node2 with node1 cut
	// off (not double), node1 again after the end (a move after it).
	r := Record{
		Samples: history(t0, step{n: 100, holders: "node1"}, step{n: 50}, step{n: 100, holders: "node2"},
			step{n: 50, holders: "node1,node2", cut: "node1"}, step{n: 100, holders: "node2"}, step{n: 100, holders: "node1"}),
		FaultStart: ms(500), FaultEnd: ms(3000), End: ms(5000),
		Client: probe.Timeline{OK: true, Last: "node1"},
	}
	f := Measure(r)
	if f.Moves != 1 || f.MovesAfter != 1 || f.Double != 0 || f.Owner != "node1" || f.Converge != time.Second || f.Recovery != 0 {
		t.Errorf("figures %+v: want 1 move during and 1 after, no double ownership, node1 converged 1 s after the end", f)
	}
	// Unanswered at the end: not converged, and the open outage counts.
	r.Client = probe.Timeline{OK: false, Last: "node1", Outages: []probe.Interval{{From: ms(4500), To: ms(5000)}}}
	if f := Measure(r); f.Converge != -1 || f.Served || f.Recovery != 500*time.Millisecond {
		t.Errorf("figures %+v: want not converged, a recovery of 0.5 s", f)
	}
	// Two holders at the end: no owner.
	r.Samples = append(r.Samples, e2ekit.Sample{At: ms(5000), Holders: []string{"node1", "node2"}})
	r.Client = probe.Timeline{OK: true, Last: "node1"}
	if f := Measure(r); f.Owner != "" || f.Converge != -1 {
		t.Errorf("figures %+v: want no owner", f)
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	Table(&b, []Row{
		{Scenario: "pause", Runs: []Figures{
			{Double: 2700 * time.Millisecond, OutageDuring: 400 * time.Millisecond, Converge: 200 * time.Millisecond, Late: 2, Gap: 30 * time.Millisecond},
			{Double: 2500 * time.Millisecond, OutageDuring: 500 * time.Millisecond, OutageAfter: 100 * time.Millisecond, Converge: -1},
			{Moves: 1, Double: 2600 * time.Millisecond, OutageDuring: 300 * time.Millisecond, Converge: 300 * time.Millisecond, Late: 1, Gap: 20 * time.Millisecond},
		}},
	})
	want := "| pause | 3 | 1 / 0 | 7.80 (2.70) | 0.40 (0.50) | 0.00 (0.10) | 0.20 (0.30), 1 not converged | 3, 0.03 |\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("table:\n%s\nwant its last line\n%s", b.String(), want)
	}
}
