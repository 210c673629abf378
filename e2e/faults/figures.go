// Package faults is lubdub's fault-injection suite, modelled on
// Pacemaker's CTS but checking what CTS no longer checks: the real binary
// in network namespaces (the seed's cluster: two nodes, keepalive 100ms,
// deadtime 400ms, an IPaddr2 VIP and a web server in one group,
// auto_failback on), a fault injected into the running cluster, and an
// oracle outside it that records what matters to a client: every node's
// addresses read every 10 ms, and a client in its own namespace asking
// for the VIP's page every 20 ms (300 ms timeout). From these it measures
// moments of double ownership, the client's outages during and after the
// fault, the VIP's moves, and the time to converge after the fault (one
// owner, the client served), and checks them against each scenario's
// bounds (faults_test.go says which and why).
//
// The scenarios: a paused daemon (SIGSTOP 3 s), a partition (UDP 694
// dropped both ways 3 s), 30 % random loss both ways (nftables numgen
// random), a deaf node (UDP 694 dropped inbound only), a killed daemon and
// its restart, a three-node 2+1 partition (quorum), one of two media cut,
// a flapping link, a resource that refuses to stop, and a node whose
// monotonic and boot-time clocks disagree with its peer's (a time
// namespace).
//
// Short mode, in the normal test run, runs each scenario once with short
// durations, two at a time; long mode (LUBDUB_FAULTS=long or
// -faults.long) uses the durations (20 s of loss, 10 flaps) and
// runs each scenario 5 times (-faults.runs N), each run with its own seed:
//
//	LUBDUB_FAULTS=long go test ./e2e/faults -v -timeout 60m -faults.runs 10
//
// A seed picks where in the heartbeats' rhythm the fault falls, which node
// (medium, clock), durations (kill, stopfail, flap) and clock offsets; a
// failing run prints its seed and the command that replays it
// (-run 'TestFaults/NAME$' -faults.seed S). The kernel's numgen random
// cannot be seeded: a replay of the loss scenario repeats its timing, not
// the packets lost. With -v the figures table of every scenario run is
// printed at the end.
//
// This file is the suite's pure part: from what the oracle and the client
// recorded, the figures of one run, and the table of many.
package faults

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/probe"
)

// Record is what one run of a scenario left: the oracle's samples, the
// client's timeline, and when the fault began and ended and the
// observation ended.
type Record struct {
	Samples    []e2ekit.Sample
	Client     probe.Timeline
	FaultStart time.Time
	FaultEnd   time.Time
	End        time.Time
}

// Figures are one run's measures. Ownership counts the holders whose
// link was up (Sample.Reachable).
type Figures struct {
	// Moves are the changes of the one node that holds the VIP during the
	// fault (from its start to its end), MovesAfter those after it.
	Moves, MovesAfter int
	// Double is the time two nodes or more held the VIP, over the whole
	// run; DoubleAfter its part after the fault ended.
	Double, DoubleAfter time.Duration
	// OutageDuring and OutageAfter are the client's time without an answer
	// during the fault and after it.
	OutageDuring, OutageAfter time.Duration
	// Recovery is the longest the client went unanswered after the fault
	// ended (only the part of an outage after the end counts).
	Recovery time.Duration
	// Converge is the time from the fault's end until the VIP stays on one
	// node and the client is answered, to the end of the run; -1 if the run
	// ended with none or several holders, or the client unanswered.
	Converge time.Duration
	// Owner is the one holder at the end ("" if none or several); Served
	// says the client's last answer came from it.
	Owner  string
	Served bool
	// Gap is the oracle's longest time between two samples: how fine the
	// ownership figures are. Late counts the heartbeats the daemons logged
	// as late (the caller sets it). Both tell how busy the machine was.
	Gap  time.Duration
	Late int
}

// Measure computes a run's figures.
func Measure(r Record) Figures {
	var f Figures
	sole := ""
	lastBad := time.Time{} // the last sample after the fault's end not showing the final owner
	var final []string
	if n := len(r.Samples); n > 0 {
		final = r.Samples[n-1].Reachable()
	}
	for i, s := range r.Samples {
		held := s.Reachable()
		if i > 0 {
			f.Gap = max(f.Gap, s.At.Sub(r.Samples[i-1].At))
		}
		if i+1 < len(r.Samples) && len(held) > 1 {
			d := r.Samples[i+1].At.Sub(s.At)
			f.Double += d
			if !s.At.Before(r.FaultEnd) {
				f.DoubleAfter += d
			}
		}
		if len(held) == 1 {
			if sole != "" && held[0] != sole {
				switch {
				case s.At.Before(r.FaultStart):
				case !s.At.After(r.FaultEnd):
					f.Moves++
				default:
					f.MovesAfter++
				}
			}
			sole = held[0]
		}
		if !s.At.Before(r.FaultEnd) && (len(final) != 1 || !slices.Equal(held, final)) {
			lastBad = s.At
		}
	}
	served := r.FaultEnd
	for _, o := range r.Client.Outages {
		f.OutageDuring += overlap(o, r.FaultStart, r.FaultEnd)
		f.OutageAfter += overlap(o, r.FaultEnd, r.End)
		if o.To.After(r.FaultEnd) {
			f.Recovery = max(f.Recovery, o.To.Sub(later(o.From, r.FaultEnd)))
			served = later(served, o.To)
		}
	}
	if len(final) == 1 {
		f.Owner = final[0]
		f.Served = r.Client.OK && r.Client.Last == f.Owner
	}
	f.Converge = -1
	if f.Served {
		alone := r.FaultEnd
		if !lastBad.IsZero() {
			// The owner held it alone from the next sample on (the last
			// sample shows it alone, so there is one).
			i := slices.IndexFunc(r.Samples, func(s e2ekit.Sample) bool { return s.At.After(lastBad) })
			alone = r.Samples[i].At
		}
		f.Converge = later(served, alone).Sub(r.FaultEnd)
	}
	return f
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// overlap is how much of the outage lies between from and to.
func overlap(o probe.Interval, from, to time.Time) time.Duration {
	a, b := later(o.From, from), o.To
	if to.Before(b) {
		b = to
	}
	if b.After(a) {
		return b.Sub(a)
	}
	return 0
}

// Row is a scenario's runs, for the table.
type Row struct {
	Scenario string
	Runs     []Figures
}

// Table prints one line per scenario: runs; VIP moves during the fault
// and after it (totals over the runs); double ownership (total, and the
// longest of one run); the client's outage during and after the fault and
// the time to converge after it (median and maximum of the runs); and how
// busy the machine was: late heartbeats (total) and the oracle's longest
// gap between samples. Times in seconds.
func Table(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| scenario | runs | moves during / after | double ownership, total (max) | outage during, median (max) | outage after, median (max) | converge, median (max) | late heartbeats, oracle's longest gap |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		var moves, after int
		var double, doubleMax time.Duration
		var during, outAfter, conv []time.Duration
		var gap time.Duration
		notConverged, late := 0, 0
		for _, f := range r.Runs {
			gap = max(gap, f.Gap)
			late += f.Late
			moves += f.Moves
			after += f.MovesAfter
			double += f.Double
			doubleMax = max(doubleMax, f.Double)
			during = append(during, f.OutageDuring)
			outAfter = append(outAfter, f.OutageAfter)
			if f.Converge < 0 {
				notConverged++
			} else {
				conv = append(conv, f.Converge)
			}
		}
		c := spread(conv)
		if notConverged > 0 {
			c += fmt.Sprintf(", %d not converged", notConverged)
		}
		fmt.Fprintf(w, "| %s | %d | %d / %d | %s (%s) | %s | %s | %s | %d, %s |\n", r.Scenario, len(r.Runs), moves, after,
			secs(double), secs(doubleMax), spread(during), spread(outAfter), c, late, secs(gap))
	}
}

// spread is "median (max)" of some durations.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s (%s)", secs(s[(len(s)-1)/2]), secs(s[len(s)-1]))
}

// secs has two decimals: the oracle samples every 10 ms, the client
// asks every 20 ms.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
