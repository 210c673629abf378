package haconf

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Defaults Heartbeat's config.c gives what ha.cf leaves out.
func TestHeartbeatDefaults(t *testing.T) {
	c, r := loadHaCf(t, "node a\nbcast eth0\n")
	if len(r.Errors) != 0 {
		t.Fatal(r.Errors)
	}
	if c.MaxRexmitDelay != 250*time.Millisecond || c.UDPPort != 694 || c.AutoFailback != "legacy" {
		t.Errorf("max_rexmit_delay %v udpport %d auto_failback %q, want 250ms, 694, legacy", c.MaxRexmitDelay, c.UDPPort, c.AutoFailback)
	}
	if c.Params["max_rexmit_delay"] != "250" || c.Params["udpport"] != "694" {
		t.Errorf("params %v", c.Params)
	}
}

// A single-valued directive given twice: the later value wins, with a
// warning naming the first line; node lines add up without a warning.
func TestRepeatedDirectives(t *testing.T) {
	c, r := loadHaCf(t, "node a\nbcast eth0\nkeepalive 1\nkeepalive 2\nnode b\n")
	if len(r.Errors) != 0 || c.Keepalive != 2*time.Second || c.Params["keepalive"] != "2" || len(c.Nodes) != 2 {
		t.Fatalf("keepalive %v params %q nodes %v errors %v", c.Keepalive, c.Params["keepalive"], c.Nodes, r.Errors)
	}
	var warns []string
	for _, w := range r.Warnings {
		warns = append(warns, w.String())
	}
	if got := strings.Join(warns, "\n"); !strings.Contains(got, "ha.cf:4: keepalive is set again (first on line 3)") || strings.Contains(got, "node is set again") {
		t.Fatalf("warnings:\n%s", got)
	}
	// A refused value is not recorded for cl_status hbparameter.
	c, _ = loadHaCf(t, "node a\nbcast eth0\nudpport 0\n")
	if c.Params["udpport"] != "694" {
		t.Errorf("udpport param %q after a refused value", c.Params["udpport"])
	}
}

// Times above a million seconds are refused (nobody means them; the float
// would lose precision).
func TestParseTimeLimit(t *testing.T) {
	if d, err := ParseTime("1000000"); err != nil || d != 1e6*time.Second {
		t.Errorf("ParseTime(1000000) = %v %v", d, err)
	}
	if _, err := ParseTime("1000001"); err == nil {
		t.Error("ParseTime(1000001) accepted")
	}
}

// Key numbers 0 to 15 (Heartbeat's MAXAUTH is 16); digits 0 and 9 read as
// scanf reads them.
func TestKeyNumberRange(t *testing.T) {
	for text, want := range map[string]string{
		"auth 0\n0 sha1 k\n":            "",
		"auth 15\n15 sha1 k\n":          "",
		"auth 9\n9 sha1 k\n":            "",
		"auth 1\n1 sha1 k\n16 sha1 k\n": "key number 16 is out of range",
		"auth 1\n1 sha1 k\n-1 sha1 k\n": "key number -1 is out of range",
	} {
		r := &Report{}
		kr := parseAuthkeys("authkeys", text, r)
		var errs []string
		for _, e := range r.Errors {
			errs = append(errs, e.Msg)
		}
		got := strings.Join(errs, "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%q: errors %q, want %q", text, got, want)
		}
		if want == "" {
			n := strings.Fields(text)[1]
			if kr == nil || strconv.Itoa(kr.Send) != n {
				t.Errorf("%q: signing key %v, want %s", text, kr, n)
			}
		}
	}
	for in, want := range map[string]int{"10": 10, "09": 9, "90": 90, "0": 0} {
		if n, _, ok := scanInt(in); !ok || n != want {
			t.Errorf("scanInt(%q) = %d %v, want %d", in, n, ok, want)
		}
	}
}
