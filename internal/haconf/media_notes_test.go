package haconf

import (
	"strings"
	"testing"
)

// Two media on one device share a link name in status output: a warning
// at the second; without any log destination a note says where logs go.
func TestMediaAndLoggingNotes(t *testing.T) {
	_, r := loadHaCf(t, "node a\nbcast eth0\nucast eth0 198.18.0.2\nmcast eth1 225.0.0.1 694 1 0\n")
	var warns []string
	for _, w := range r.Warnings {
		warns = append(warns, w.String())
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "two media use eth0") {
		t.Errorf("warnings %q, want one about eth0", warns)
	}
	hasNote := func(r *Report) bool {
		for _, n := range r.Notes {
			if strings.Contains(n.Msg, "lubdub logs to standard error only") {
				return true
			}
		}
		return false
	}
	if !hasNote(r) {
		t.Errorf("no note about logging to standard error: %v", r.Notes)
	}
	for _, l := range []string{"logfile /var/log/ha-log", "debugfile /var/log/ha-debug", "logfacility daemon"} {
		if _, r := loadHaCf(t, "node a\nbcast eth0\n"+l+"\n"); hasNote(r) {
			t.Errorf("%s: still noted as logging to standard error only", l)
		}
	}
}

// Addresses of every first digit are addresses; a continuation on the
// last line ends the group there; without nodes (a broken ha.cf) group
// lines are not checked against them.
func TestHaresourcesEdges(t *testing.T) {
	for _, spec := range []string{"9.18.0.10", "0.18.0.10"} {
		r, err := ParseResource(spec)
		if err != nil || r.Type != "IPaddr" {
			t.Errorf("%s: %+v %v, want an IPaddr", spec, r, err)
		}
	}
	r := &Report{}
	groups := parseHaresources("haresources", "node1 198.18.0.10 \\", &Config{Nodes: []string{"node1"}}, r)
	if len(r.Errors) != 0 || len(groups) != 1 || len(groups[0].Resources) != 1 {
		t.Errorf("continuation on the last line: %+v %v", groups, r.Errors)
	}
	r = &Report{}
	groups = parseHaresources("haresources", "anynode 198.18.0.10\n", &Config{}, r)
	if len(r.Errors) != 0 || len(groups) != 1 {
		t.Errorf("without nodes: %+v %v", groups, r.Errors)
	}
}
