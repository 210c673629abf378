package haconf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file reads values as Heartbeat 3.0.6 and its cluster-glue library
// read them (config.c, cl_misc.c), so that ha.cf means the same to both.

// ParseHeartbeatTime reads a time as Heartbeat's cl_get_msec does: a
// number (digits and dots, read as a decimal), optionally followed by a
// unit beginning with "ms" or "us" (any case); no unit means seconds.
// Heartbeat knows no "s" unit: "2s" is an error there, so it is here. The
// result is rounded to the millisecond, as Heartbeat rounds it.
func ParseHeartbeatTime(s string) (time.Duration, error) {
	s = strings.TrimLeft(s, whitespace)
	n := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.') {
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%q is not a time (examples: 2, 1.5, 500ms, 250000us)", s)
	}
	unit := strings.TrimLeft(s[n:], whitespace)
	mult, div := 1000.0, 1.0
	switch lu := strings.ToLower(unit); {
	case strings.HasPrefix(lu, "ms"):
		mult = 1
	case strings.HasPrefix(lu, "us"):
		mult, div = 1, 1000
	case unit != "":
		hint := ""
		if lu == "s" || lu == "sec" || lu == "secs" || lu == "seconds" {
			hint = fmt.Sprintf("; write %s for seconds or use ms", s[:n])
		}
		return 0, fmt.Errorf("%q: Heartbeat 3.0.6 reads plain seconds or the units ms and us, not %q%s", s, unit, hint)
	}
	f := atof(s[:n])
	ms := math.Floor(f*mult/div + 0.5)
	if ms > 1e9 {
		return 0, fmt.Errorf("%q is not a usable time", s)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// atof reads the longest decimal prefix of s as C's atof does ("1.2.3"
// is 1.2, "." is 0).
func atof(s string) float64 {
	if k := strings.IndexByte(s, '.'); k >= 0 {
		if j := strings.IndexByte(s[k+1:], '.'); j >= 0 {
			s = s[:k+1+j]
		}
	}
	if s == "." {
		return 0
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// atoi reads a leading integer as C's atoi does ("250ms" is 250, "abc"
// is 0); ok says whether there were digits at all.
func atoi(s string) (n int, ok bool) {
	s = strings.TrimLeft(s, whitespace)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	k := 0
	for k < len(s) && s[k] >= '0' && s[k] <= '9' && n < 1e9 {
		n = n*10 + int(s[k]-'0')
		k++
	}
	if neg {
		n = -n
	}
	return n, k > 0
}

var errNotBool = errors.New("is not one of true, false, on, off, yes, no, y, n, 1, 0")

// checkNoted checks a value of a directive lubdub accepts without acting
// on it, by the rule Heartbeat's setter applies, so that a file Heartbeat
// refuses is refused here too.
func checkNoted(name, v string) error {
	switch name {
	case "traditional_compression", "realtime", "coredumps", "use_logd", "syslogmsgfmt",
		"use_apphbd", "record_config_changes", "record_pengine_inputs", "enable_config_writes",
		"crmd_spawns_pengine":
		if _, ok := ParseBool(v); !ok {
			return errNotBool
		}
	case "compression":
		// The compression plugins Debian's heartbeat ships.
		if v != "zlib" && v != "bz2" {
			return errors.New("is not a compression module (zlib or bz2)")
		}
	case "compression_threshold", "memreserve":
		if n, _ := atoi(v); n <= 0 {
			return errors.New("must be a number above 0")
		}
	case "rtprio":
		if n, _ := atoi(v); n < 1 || n > 99 {
			return errors.New("must be a realtime priority from 1 to 99")
		}
	case "conn_logd_time":
		if d, err := ParseHeartbeatTime(v); err != nil || d <= 0 {
			return errors.New("must be a time above 0")
		}
	}
	return nil
}

// checkAPIAuth checks an apiauth line as set_api_authorization does: a
// client name, then uid= and gid= lists (at least one).
func checkAPIAuth(line string) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return errors.New("needs a client name and uid= or gid=")
	}
	if len(f[0]) >= 64 {
		return errors.New("client name too long")
	}
	if len(f) == 1 {
		return errors.New("needs uid= or gid= after the client name")
	}
	seen := map[string]bool{}
	for _, w := range f[1:] {
		k := w[:min(4, len(w))]
		if k != "uid=" && k != "gid=" {
			return fmt.Errorf("%q is neither uid= nor gid=", w)
		}
		if seen[k] {
			return fmt.Errorf("%s is given twice", k)
		}
		seen[k] = true
	}
	return nil
}

// FormatHeartbeatTime writes a time as ha.cf must give it to Heartbeat:
// plain seconds when whole, else milliseconds ("2", "1500ms").
func FormatHeartbeatTime(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
