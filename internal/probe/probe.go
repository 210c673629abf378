// Package probe reads what lubdub probe prints: one line per change of
// what the client sees ("ok TEXT" or "fail REASON"), the return to service
// marked "(outage 0.123s)". The demo, the end-to-end tests and the
// benchmarks read it through these functions, so the format lives in one
// place (internal/cli writes it).
package probe

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// OutageFormat is how a line marks the outage that the answer ended.
const OutageFormat = " (outage %.3fs)"

var outageRE = regexp.MustCompile(`\(outage ([0-9.]+)s\)`)

// ServedBy reports whether the probe's last line is a good answer with
// this text (the serving node's name).
func ServedBy(output, text string) bool {
	lines := strings.Split(strings.TrimSpace(output), "\n")
	return strings.Contains(lines[len(lines)-1], " ok "+text)
}

// Outages lists every outage the probe reported, in order.
func Outages(output string) []time.Duration {
	var out []time.Duration
	for _, m := range outageRE.FindAllStringSubmatch(output, -1) {
		var s float64
		fmt.Sscan(m[1], &s)
		out = append(out, time.Duration(s*float64(time.Second)))
	}
	return out
}

// Answers lists the good answers' texts, in order (consecutive equal
// answers print once).
func Answers(output string) []string {
	var out []string
	for _, l := range strings.Split(output, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[2] == "ok" {
			out = append(out, f[3])
		}
	}
	return out
}

// Interval is a stretch of time during which the client got no answer.
type Interval struct {
	From, To time.Time
	// Before and After are the answers either side (Before "" when the
	// output starts with failures, After "" while the outage is open).
	Before, After string
	// Failures are the failed requests' reasons, as the probe printed
	// them ("connection refused", "body: Client.Timeout").
	Failures []string
}

// Len is the interval's duration.
func (i Interval) Len() time.Duration { return i.To.Sub(i.From) }

// Timeline is what the client saw, in wall-clock time.
type Timeline struct {
	// Outages are the stretches without an answer, in order. A closed one
	// runs from the last good answer before it to the answer that ended it
	// (the outage the probe printed; failures before the first answer are
	// none, as for the probe); one still open at the end runs from its
	// first failed request to the end.
	Outages []Interval
	// Answers are the good answers that changed who serves, in order.
	Answers []Answer
	// OK: the last request was answered; Last is its text.
	OK   bool
	Last string
}

// Answer is a change of who serves, as the client saw it.
type Answer struct {
	At   time.Time
	Text string
}

// ReadTimeline reads the probe's output into wall-clock time. The probe
// prints the time of day (local time) of each change; ref, a moment near
// the probe's start, gives the day (a line more than 12 hours before ref
// is taken as the next day's). end closes an outage still open. Lines it
// cannot read (the summary, a truncated last line) are skipped.
func ReadTimeline(output string, ref, end time.Time) Timeline {
	var tl Timeline
	var failFrom time.Time
	var fails []string
	day := time.Date(ref.Year(), ref.Month(), ref.Day(), 0, 0, 0, 0, ref.Location())
	for _, l := range strings.Split(output, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || (f[2] != "ok" && f[2] != "fail") {
			continue
		}
		tod, err := time.ParseInLocation("15:04:05.000", f[0], ref.Location())
		if err != nil {
			continue
		}
		at := day.Add(time.Duration(tod.Hour())*time.Hour + time.Duration(tod.Minute())*time.Minute +
			time.Duration(tod.Second())*time.Second + time.Duration(tod.Nanosecond()))
		if at.Before(ref.Add(-12 * time.Hour)) {
			at = at.Add(24 * time.Hour)
		}
		if f[2] == "fail" {
			if tl.OK || failFrom.IsZero() {
				failFrom = at
			}
			tl.OK = false
			fails = append(fails, strings.Join(f[3:], " "))
			continue
		}
		text := ""
		if len(f) > 3 {
			text = f[3]
		}
		if m := outageRE.FindStringSubmatch(l); m != nil {
			var s float64
			fmt.Sscan(m[1], &s)
			tl.Outages = append(tl.Outages, Interval{From: at.Add(-time.Duration(s * float64(time.Second))), To: at,
				Before: tl.Last, After: text, Failures: fails})
		}
		failFrom, fails = time.Time{}, nil
		if len(tl.Answers) == 0 || tl.Answers[len(tl.Answers)-1].Text != text {
			tl.Answers = append(tl.Answers, Answer{At: at, Text: text})
		}
		tl.OK, tl.Last = true, text
	}
	if !tl.OK && !failFrom.IsZero() && end.After(failFrom) {
		tl.Outages = append(tl.Outages, Interval{From: failFrom, To: end, Before: tl.Last, Failures: fails})
	}
	return tl
}
