package haconf

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/testkit"
)

// copySeed copies the seed's three files to a temporary directory with
// authkeys at mode 600, as the seed's README says to.
func copySeed(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"ha.cf", "haresources", "authkeys"} {
		b, err := os.ReadFile(filepath.Join("testdata/seed", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSeedAcceptedButForXuanfeiLine(t *testing.T) {
	dir := copySeed(t)
	c, r := Load(dir, Options{})
	if len(r.Errors) != 1 {
		t.Fatalf("errors = %v, want exactly the xuanfei.com line", r.Errors)
	}
	e := r.Errors[0]
	if !strings.HasSuffix(e.File, "haresources") || e.Line != 33 || !strings.Contains(e.Msg, "xuanfei.com is not a cluster node") {
		t.Fatalf("error = %s", e)
	}
	if got := strings.Join(c.Nodes, ","); got != "xuanfei1-server,xuanfei2-server" {
		t.Errorf("nodes = %s", got)
	}
	if c.Keepalive != 2*time.Second || c.Deadtime != 10*time.Second || c.Initdead != 120*time.Second || c.Warntime != 5*time.Second {
		t.Errorf("timings = %v %v %v %v", c.Keepalive, c.Deadtime, c.Initdead, c.Warntime)
	}
	var media []string
	for _, m := range c.Media {
		media = append(media, m.String())
	}
	want := "serial /dev/ttyS0|bcast eth1 port 694|mcast eth1 group 225.0.0.1 port 694 ttl 1 loop true"
	if strings.Join(media, "|") != want {
		t.Errorf("media = %q", media)
	}
	if c.Baud != 19200 || c.Watchdog != "/dev/watchdog" || c.Logfacility != "local0" {
		t.Errorf("baud %d watchdog %q facility %q", c.Baud, c.Watchdog, c.Logfacility)
	}
	if c.Keys == nil || c.Keys.Keys[1].Method != "crc" {
		t.Errorf("keys = %+v", c.Keys)
	}
	if len(r.Warnings) == 0 || !strings.Contains(r.Warnings[len(r.Warnings)-1].Msg, "crc") {
		t.Errorf("no crc warning in %v", r.Warnings)
	}
}

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodAuth = "auth 3\n3 sha256 topsecret\n"

func TestHaCfRules(t *testing.T) {
	cases := []struct {
		name, hacf string
		wantErr    string // substring of the only error, "" for none
		line       int
	}{
		{"ok", "node a b\nkeepalive 100ms\ndeadtime 300ms\nbcast eth0\n", "", 0},
		{"deadtime too small", "node a\nkeepalive 2\ndeadtime 4\nbcast eth0\n", "must be more than twice keepalive", 3},
		{"initdead small", "node a\nkeepalive 1\ndeadtime 10\ninitdead 5\nbcast eth0\n", "initdead (5s) is smaller than deadtime (10s)", 4},
		{"unknown", "node a\nbcast eth0\nfrobnicate yes\n", `unknown directive "frobnicate"`, 3},
		{"crm", "node a\nbcast eth0\ncrm on\n", "does not run Pacemaker", 3},
		{"bad time", "node a\nbcast eth0\nkeepalive 2 minutes\n", `"minutes" is not a time`, 3},
		{"bad unit", "node a\nbcast eth0\nkeepalive 2min\n", "the units ms and us, not \"min\"", 3},
		{"mcast arity", "node a\nbcast eth1\nmcast eth0 225.0.0.1 694\n", "mcast takes 5 values", 3},
		{"mcast group", "node a\nbcast eth1\nmcast eth0 10.0.0.1 694 1 0\n", "not an IPv4 multicast group", 3},
		{"no media", "node a\n", "no heartbeat media", 0},
		{"stonith_host without type", "node a\nbcast eth0\nstonith_host *\n", "no stonith type given", 3},
		{"stonith without file", "node a\nbcast eth0\nstonith null\n", "no configuration file given", 3},
		{"baud", "node a\nserial /dev/ttyS0\nbaud 1234\n", "not a supported rate", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"ha.cf": tc.hacf, "authkeys": goodAuth})
			_, r := Load(dir, Options{})
			if tc.wantErr == "" {
				if len(r.Errors) != 0 {
					t.Fatalf("errors: %v", r.Errors)
				}
				return
			}
			if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, tc.wantErr) || r.Errors[0].Line != tc.line {
				t.Fatalf("errors = %v, want one at line %d containing %q", r.Errors, tc.line, tc.wantErr)
			}
		})
	}
}

func TestUdpportAppliesEverywhere(t *testing.T) {
	dir := write(t, map[string]string{"ha.cf": "node A\nbcast eth0\nucast eth0 198.18.0.2\nudpport 7000\n", "authkeys": goodAuth})
	c, r := Load(dir, Options{Node: "a"})
	if len(r.Errors) != 0 {
		t.Fatal(r.Errors)
	}
	for _, m := range c.Media {
		if m.Port != 7000 {
			t.Errorf("%s: port %d", m, m.Port)
		}
	}
	if c.Nodes[0] != "a" {
		t.Errorf("node names must be lower-cased: %v", c.Nodes)
	}
	if c.Params["udpport"] != "7000" || c.Params["deadtime"] != "30000ms" || c.Params["warntime"] != "15000ms" {
		t.Errorf("params = %v", c.Params)
	}
}

func TestDefaultsAsHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		deadtime, initdead time.Duration
		hacf               string
	}{
		{30 * time.Second, 30 * time.Second, ""},
		{3 * time.Second, 12 * time.Second, "deadtime 3\n"},
		{8 * time.Second, 16 * time.Second, "deadtime 8\n"},
	} {
		dir := write(t, map[string]string{"ha.cf": "node a\nbcast eth0\n" + tc.hacf, "authkeys": goodAuth})
		c, r := Load(dir, Options{})
		if len(r.Errors) != 0 {
			t.Fatal(r.Errors)
		}
		if c.Deadtime != tc.deadtime || c.Initdead != tc.initdead || c.Keepalive != time.Second || c.Warntime != tc.deadtime/2 {
			t.Errorf("%q: keepalive %v deadtime %v initdead %v warntime %v", tc.hacf, c.Keepalive, c.Deadtime, c.Initdead, c.Warntime)
		}
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2": 2 * time.Second, "1.5": 1500 * time.Millisecond, "500ms": 500 * time.Millisecond,
		"250000us": 250 * time.Millisecond, ".5": 500 * time.Millisecond, "3s": 3 * time.Second,
	} {
		got, err := ParseTime(in)
		if err != nil || got != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "x", "1e3", "2 h"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

// TestAuthkeysCases reads each testdata/authkeys case (sections "mode",
// "authkeys" and "want") and checks the reading against the values
// Heartbeat 3.0.6's parse_authfile gives: "send N", "key N METHOD SECRET",
// and every "error LINE: text" and "warning LINE: text" expected.
func TestAuthkeysCases(t *testing.T) {
	files, _ := filepath.Glob("testdata/authkeys/*.txt")
	if len(files) == 0 {
		t.Fatal("no cases")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			sec := testkit.Sections(t, f)
			dir := t.TempDir()
			file := filepath.Join(dir, "authkeys")
			mode := os.FileMode(0o600)
			if m := strings.TrimSpace(sec["mode"]); m != "" {
				v, err := strconv.ParseUint(m, 8, 32)
				if err != nil {
					t.Fatal(err)
				}
				mode = os.FileMode(v)
			}
			if err := os.WriteFile(file, []byte(sec["authkeys"]), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, mode); err != nil {
				t.Fatal(err)
			}
			r := &Report{}
			kr := loadAuthkeys(file, r)
			var got []string
			if kr != nil {
				got = append(got, fmt.Sprintf("send %d", kr.Send))
				for _, k := range slices.Sorted(maps.Keys(kr.Keys)) {
					key := kr.Keys[k]
					got = append(got, strings.TrimSpace(fmt.Sprintf("key %d %s %s", k, key.Method, key.Secret)))
				}
			}
			var want, wantDiags []string
			for _, l := range strings.Split(strings.TrimSpace(sec["want"]), "\n") {
				if strings.HasPrefix(l, "error ") || strings.HasPrefix(l, "warning ") {
					wantDiags = append(wantDiags, l)
				} else {
					want = append(want, l)
				}
			}
			if !slices.ContainsFunc(wantDiags, func(d string) bool { return strings.HasPrefix(d, "error") }) {
				if !slices.Equal(got, want) {
					t.Errorf("read %q, want %q", got, want)
				}
			}
			diags := map[string][]Diag{"error": r.Errors, "warning": r.Warnings}
			n := 0
			for _, w := range wantDiags {
				kind, rest, _ := strings.Cut(w, " ")
				lineS, text, _ := strings.Cut(rest, ": ")
				line, _ := strconv.Atoi(lineS)
				if !slices.ContainsFunc(diags[kind], func(d Diag) bool { return d.Line == line && strings.Contains(d.Msg, text) }) {
					t.Errorf("no %s on line %d saying %q; errors %v, warnings %v", kind, line, text, diags["error"], diags["warning"])
				}
				if kind == "error" {
					n++
				}
			}
			if len(diags["error"]) != n {
				t.Errorf("errors %v, want %d", diags["error"], n)
			}
		})
	}
}

func TestHaresourcesGrammar(t *testing.T) {
	c := &Config{Nodes: []string{"node1", "node2"}}
	text := "# comment\nnode1 198.18.0.10 httpd smb\n" +
		"Node2 IPaddr2::198.18.0.11/24/eth0/198.18.0.255 \\\n   Filesystem::/dev/sdb1::/data::ext4 ocf:heartbeat:Dummy::state=/tmp/x::fake=1\n" +
		"node1 198.18.0.12/24/eth1 # trailing comment\n" +
		"node2 198.18.0.10 other\n"
	r := &Report{}
	groups := parseHaresources("haresources", text, c, r)
	if len(r.Errors) != 1 || r.Errors[0].Line != 6 || !strings.Contains(r.Errors[0].Msg, "already defined on line 2") {
		t.Fatalf("errors = %v", r.Errors)
	}
	if len(groups) != 3 {
		t.Fatalf("groups = %+v", groups)
	}
	g := groups[0]
	if g.Node != "node1" || g.Resources[0].Type != "IPaddr" || g.Resources[0].Args[0] != "198.18.0.10" || g.Resources[1].Type != "httpd" {
		t.Errorf("group 1 = %+v", g)
	}
	g = groups[1]
	if g.Node != "node2" || g.Line != 3 || len(g.Resources) != 3 || g.Resources[1].Args[2] != "ext4" || !g.Resources[2].OCF() || g.Resources[2].Params[1] != [2]string{"fake", "1"} {
		t.Errorf("group 2 = %+v", g)
	}
	for _, bad := range []string{"198.18.0.300", "198.18.0.1/33", "IPaddr::1.2.3.4/24/eth0/999.1.1.1", "Filesystem::/dev/sda", "ocf:x::a=b", "bad$name"} {
		if _, err := ParseResource(bad); err == nil {
			t.Errorf("ParseResource(%q) accepted", bad)
		}
	}
}

func FuzzHaCf(f *testing.F) {
	b, _ := os.ReadFile("testdata/seed/ha.cf")
	f.Add(string(b))
	f.Add("node a\nmcast eth0 225.0.0.1 694 1 1\nkeepalive 100ms\ndeadtime 1.5\n")
	f.Add("node a b\nbcast eth0\nping 198.18.9.1, 198.18.9.2\nping_group r 198.18.9.3 198.18.9.4\ndeadping 5\nrespawn hacluster /usr/lib/heartbeat/ipfail\n")
	// ucast peers that are not addresses are looked up: not while fuzzing.
	LookupHost = func(string) ([]netip.Addr, error) { return nil, errors.New("no lookups while fuzzing") }
	f.Fuzz(func(t *testing.T, s string) {
		c := &Config{}
		r := &Report{}
		p := &hacfParser{c: c, r: r, file: "ha.cf"}
		p.parse(s)
		p.finish(Options{Node: "a"})
		if len(r.Errors) == 0 && (len(c.Nodes) == 0 || len(c.Media) == 0 || c.Deadtime <= 2*c.Keepalive) {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
		for _, pn := range c.PingNodes {
			if len(r.Errors) == 0 && (len(pn.Addrs) == 0 || c.HasNode(pn.Name) || c.Deadping <= 2*c.Keepalive) {
				t.Fatalf("accepted an invalid ping node: %+v (deadping %v)", pn, c.Deadping)
			}
		}
	})
}

func FuzzHaresources(f *testing.F) {
	b, _ := os.ReadFile("testdata/seed/haresources")
	f.Add(string(b))
	f.Add("node1 1.2.3.4/24/eth0 ocf:heartbeat:IPaddr2::ip=1.2.3.4 \\\n x::y\n")
	f.Fuzz(func(t *testing.T, s string) {
		c := &Config{Nodes: []string{"node1"}}
		for _, g := range parseHaresources("haresources", s, c, &Report{}) {
			if len(g.Resources) == 0 || g.Node != "node1" {
				t.Fatalf("bad group %+v", g)
			}
		}
	})
}

func FuzzAuthkeys(f *testing.F) {
	f.Add(goodAuth)
	f.Add("auth 1\n1 crc\n2 md5 x y z\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := &Report{}
		kr := parseAuthkeys("authkeys", s, r)
		if kr != nil {
			if _, ok := kr.Keys[kr.Send]; !ok {
				t.Fatal("keyring without its sending key")
			}
		}
	})
}

func TestTuning(t *testing.T) {
	r := &Report{}
	tu := parseTuning("lubdub.cf", "# comment\nstart_timeout 2s\nmonitor_interval 500ms\nmax_restarts 1\n", r)
	if len(r.Errors) != 0 || tu.StartTimeout != 2*time.Second || tu.MonitorInterval != 500*time.Millisecond || tu.MaxRestarts != 1 || tu.StopTimeout != DefaultTuning.StopTimeout {
		t.Fatalf("%+v %v", tu, r.Errors)
	}
	r = &Report{}
	parseTuning("lubdub.cf", "start_timeout\nfrob 1\nmax_restarts -1\nstop_timeout 0\n", r)
	if len(r.Errors) != 4 || r.Errors[1].Line != 2 {
		t.Fatalf("errors = %v", r.Errors)
	}
}

func FuzzTuning(f *testing.F) {
	f.Add("start_timeout 2s\nmonitor_interval 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := &Report{}
		tu := parseTuning("lubdub.cf", s, r)
		if tu.StartTimeout <= 0 || tu.StopTimeout <= 0 || tu.MonitorTimeout <= 0 || tu.MaxRestarts < 0 {
			t.Fatalf("bad tuning %+v", tu)
		}
	})
}

func TestParseHeartbeatTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2": 2 * time.Second, "1.5": 1500 * time.Millisecond, "500ms": 500 * time.Millisecond,
		"500MS": 500 * time.Millisecond, "500msec": 500 * time.Millisecond, "500mseconds": 500 * time.Millisecond,
		"250000us": 250 * time.Millisecond, "1500us": 2 * time.Millisecond, ".5": 500 * time.Millisecond,
		"1.": time.Second, "1.2.3": 1200 * time.Millisecond, "2.0005": 2001 * time.Millisecond, "0": 0,
		"999.4ms": 999 * time.Millisecond, "999.5ms": 1000 * time.Millisecond, "2 ms": 2 * time.Millisecond,
	} {
		got, err := ParseHeartbeatTime(in)
		if err != nil || got != want {
			t.Errorf("ParseHeartbeatTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "x", "1e3", "2s", "2sec", "2min", "ms"} {
		if _, err := ParseHeartbeatTime(bad); err == nil {
			t.Errorf("ParseHeartbeatTime(%q) accepted", bad)
		}
	}
}

func FuzzParseHeartbeatTime(f *testing.F) {
	for _, s := range []string{"2", "1.5", "500ms", "250000us", "1.2.3", "2s", "..", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseHeartbeatTime(s); err == nil && (d < 0 || d%time.Millisecond != 0) {
			t.Fatalf("%q read as %v", s, d)
		}
	})
}
