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
