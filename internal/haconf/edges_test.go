package haconf

import (
	"strings"
	"testing"
	"time"
)

// loadWith reads an ha.cf and a lubdub.cf (with a good authkeys) as node1.
func loadWith(t *testing.T, hacf, lubdubcf string) (*Config, *Report) {
	t.Helper()
	dir := write(t, map[string]string{"ha.cf": hacf, "authkeys": goodAuth, "lubdub.cf": lubdubcf})
	return Load(dir, Options{Node: "node1"})
}

const twoNodes = "node node1 node2\nbcast eth0\n"

// Device and parameter names: letters of both cases, digits, '-', '_'
// and '.', up to 64 characters; the characters next to each range are
// refused.
func TestFenceDeviceNames(t *testing.T) {
	long := strings.Repeat("n", 64)
	for _, name := range []string{"azAZ09-_.", long} {
		if _, r := loadWith(t, twoNodes, "fence_device "+name+" fence_x\n"); len(r.Errors) != 0 {
			t.Errorf("fence_device %s: %v", name, r.Errors)
		}
	}
	for _, name := range []string{long + "n", "x`", "x{", "x@", "x[", "x/", "x:", "ha.cf"} {
		_, r := loadWith(t, twoNodes, "fence_device "+name+" fence_x\n")
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "is not a usable device name") {
			t.Errorf("fence_device %s: errors %v, want it refused as a name", name, r.Errors)
		}
	}
	_, r := loadWith(t, twoNodes, "fence_device x fence_x ip:addr=1\n")
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, `"ip:addr" is not a parameter name`) {
		t.Errorf("a parameter name with ':': %v", r.Errors)
	}
}

// pcmk_host_argument, like pcmk_host_map, is for fence_* agents; levels
// are 1 to 9; pcmk_host_list naming a node that is not one draws a
// warning, a cluster node none.
func TestFenceDeviceSettings(t *testing.T) {
	_, r := loadWith(t, twoNodes, "fence_device x external/r pcmk_host_argument=port\n")
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "pcmk_host_argument applies to fence_* agents only") {
		t.Errorf("pcmk_host_argument on an external plugin: %v", r.Errors)
	}
	if _, r := loadWith(t, twoNodes, "fence_device x fence_x pcmk_host_argument=port\n"); len(r.Errors) != 0 {
		t.Errorf("pcmk_host_argument on an agent: %v", r.Errors)
	}
	for idx, ok := range map[string]bool{"1": true, "9": true, "10": false, "0": false} {
		_, r := loadWith(t, twoNodes, "fence_device x fence_x\nfencing_level node2 "+idx+" x\n")
		if (len(r.Errors) == 0) != ok {
			t.Errorf("fencing_level index %s: errors %v", idx, r.Errors)
		}
	}
	_, r = loadWith(t, twoNodes, "fence_device x fence_x pcmk_host_list=node2,node7\n")
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].Msg, "pcmk_host_list names node7, which is not a cluster node") {
		t.Errorf("warnings %v, want one naming node7", r.Warnings)
	}
}

// A fencing level may use ha.cf's device only where ha.cf has one for the
// node; without a node given (lubdub check without --node), any stonith
// line will do.
func TestFencingLevelOnHacfDevice(t *testing.T) {
	const level = "fencing_level node2 1 ha.cf\n"
	dir := write(t, map[string]string{"ha.cf": twoNodes + "stonith_host node2 null node1\n", "authkeys": goodAuth, "lubdub.cf": level})
	if _, r := Load(dir, Options{}); len(r.Errors) != 0 {
		t.Errorf("without a node: %v", r.Errors)
	}
	_, r := Load(dir, Options{Node: "node1"})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "ha.cf has no stonith or stonith_host line for this node") {
		t.Errorf("on node1, whose ha.cf has no device: %v", r.Errors)
	}
	if _, r := Load(dir, Options{Node: "node2"}); len(r.Errors) != 0 {
		t.Errorf("on node2: %v", r.Errors)
	}
	dir = write(t, map[string]string{"ha.cf": twoNodes, "authkeys": goodAuth, "lubdub.cf": level})
	if _, r := Load(dir, Options{}); len(r.Errors) != 1 {
		t.Errorf("without any stonith line: %v", r.Errors)
	}
}

// Media sharing a device: a ucast line repeated draws a warning; ucast
// lines to different peers on one device are the usual layout and draw
// none; any other medium on a device ucast uses draws one, once.
func TestMediaOnOneDevice(t *testing.T) {
	for _, c := range []struct{ media, warn string }{
		{"ucast eth0 198.18.0.2\nucast eth0 198.18.0.3\n", ""},
		{"ucast eth0 198.18.0.2\nucast eth0 198.18.0.2\n", "ucast eth0 198.18.0.2 is given twice (first on line 2)"},
		{"ucast eth0 198.18.0.2\nbcast eth0\n", "two media use eth0"},
		{"bcast eth0\nucast eth0 198.18.0.2\nucast eth0 198.18.0.3\n", "two media use eth0"},
		{"bcast eth1\nmcast eth2 225.0.0.1 694 1 0\n", ""},
	} {
		_, r := loadHaCf(t, "node a\n"+c.media)
		var got []string
		for _, w := range r.Warnings {
			got = append(got, w.String())
		}
		if c.warn == "" && len(got) != 0 || c.warn != "" && (len(got) != 1 || !strings.Contains(got[0], c.warn)) {
			t.Errorf("%q: warnings %q, want %q", c.media, got, c.warn)
		}
	}
}

// A watchdog_fence_timeout too short for the watchdog's reset is an
// error that shows the sum it must exceed; one that sets the watchdog
// shorter than deadtime draws a warning (alone only with a short
// keepalive: otherwise the error holds too).
func TestWatchdogFenceTimeoutMessages(t *testing.T) {
	const nodes = "node node1 node2\nbcast eth0\ndeadtime 10\nwatchdog /dev/watchdog\n"
	_, r := loadWith(t, nodes+"keepalive 1\n", "watchdog_fence_timeout 15s\n")
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "watchdog_fence_timeout 15s must be more than deadtime + keepalive + the watchdog's timeout (7s, half of it in whole seconds, at least 1 s) = 18s") {
		t.Errorf("errors %v", r.Errors)
	}
	_, r = loadWith(t, nodes+"keepalive 100ms\n", "watchdog_fence_timeout 19500ms\n")
	if len(r.Errors) != 0 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].Msg, "sets the watchdog to 9s, less than deadtime (10s)") {
		t.Errorf("19.5s: errors %v warnings %v", r.Errors, r.Warnings)
	}
	// Watchdog 10 s, not less than deadtime: 20.1 s is exactly the sum,
	// 20.2 s more.
	_, r = loadWith(t, nodes+"keepalive 100ms\n", "watchdog_fence_timeout 20100ms\n")
	if len(r.Errors) != 1 || len(r.Warnings) != 0 {
		t.Errorf("20.1s: errors %v warnings %v, want an error alone", r.Errors, r.Warnings)
	}
	_, r = loadWith(t, nodes+"keepalive 100ms\n", "watchdog_fence_timeout 20200ms\n")
	if len(r.Errors) != 0 || len(r.Warnings) != 0 {
		t.Errorf("20.2s: errors %v warnings %v", r.Errors, r.Warnings)
	}
}

// lubdub check describes each fence device: what it fences and how long
// it waits first, only when set.
func TestDescribeFenceDevices(t *testing.T) {
	c, r := loadWith(t, twoNodes, "fence_device a fence_x pcmk_host_list=node2 pcmk_delay_base=2s x=1\nfence_device b fence_y\n")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	c.Describe(&b, "node1")
	for _, want := range []string{
		"  a: fence_x (fence agent, options on its standard input), fences node2, waits 2s first, 1 parameter(s)\n",
		"  b: fence_y (fence agent, options on its standard input), 0 parameter(s)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lubdub check lacks %q:\n%s", want, b.String())
		}
	}
}

// Heartbeat's times: the hint for a seconds unit it does not know, the
// largest time it keeps, and C's atof on odd numbers.
func TestHeartbeatTimeEdges(t *testing.T) {
	for _, unit := range []string{"s", "sec", "secs", "seconds"} {
		if _, err := ParseHeartbeatTime("2" + unit); err == nil || !strings.Contains(err.Error(), "write 2 for seconds or use ms") {
			t.Errorf("2%s: %v, want the hint", unit, err)
		}
	}
	if _, err := ParseHeartbeatTime("2min"); err == nil || strings.Contains(err.Error(), "write 2") {
		t.Errorf("2min: %v, want an error without the seconds hint", err)
	}
	if d, err := ParseHeartbeatTime("1000000000ms"); err != nil || d != 1e9*time.Millisecond {
		t.Errorf("1e9 ms: %v %v", d, err)
	}
	if _, err := ParseHeartbeatTime("1000000001ms"); err == nil {
		t.Error("1e9+1 ms accepted")
	}
	for in, want := range map[string]time.Duration{"10..5": 10 * time.Second, "1.5.9": 1500 * time.Millisecond, ".": 0, "2.": 2 * time.Second} {
		if d, err := ParseHeartbeatTime(in); err != nil || d != want {
			t.Errorf("%q: %v %v, want %v (C's atof)", in, d, err, want)
		}
	}
	for in, want := range map[time.Duration]string{2 * time.Second: "2", 1500 * time.Millisecond: "1500ms", 0: "0"} {
		if got := FormatHeartbeatTime(in); got != want {
			t.Errorf("FormatHeartbeatTime(%v) = %q, want %q", in, got, want)
		}
	}
}

// C's atoi: a sign, digits, the rest ignored; max_rexmit_delay reads its
// value so.
func TestAtoi(t *testing.T) {
	for in, want := range map[string]int{"250ms": 250, " -7x": -7, "+3": 3, "abc": 0} {
		if n, _ := atoi(in); n != want {
			t.Errorf("atoi(%q) = %d, want %d", in, n, want)
		}
	}
	if _, ok := atoi("-"); ok {
		t.Error("atoi(\"-\") found digits")
	}
	c, r := loadHaCf(t, "node a\nbcast eth0\nmax_rexmit_delay 300ms\n")
	if len(r.Errors) != 0 || c.MaxRexmitDelay != 300*time.Millisecond {
		t.Errorf("max_rexmit_delay 300ms: %v %v", c.MaxRexmitDelay, r.Errors)
	}
	if _, r := loadHaCf(t, "node a\nbcast eth0\nmax_rexmit_delay -5\n"); len(r.Errors) != 1 {
		t.Errorf("max_rexmit_delay -5: %v", r.Errors)
	}
}

// stonith_host's host name and type at Heartbeat's length limits (fewer
// than 100 and 5120 characters).
func TestStonithLengthLimits(t *testing.T) {
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{"stonith_host " + strings.Repeat("h", 99) + " null node1", true},
		{"stonith_host " + strings.Repeat("h", 100) + " null node1", false},
		{"stonith_host * " + strings.Repeat("t", 5119) + " x", true},
		{"stonith_host * " + strings.Repeat("t", 5120) + " x", false},
	} {
		_, r := loadHaCf(t, "node node1 node2\nbcast eth0\n"+c.line+"\n")
		if (len(r.Errors) == 0) != c.ok {
			t.Errorf("%.40s... (%d characters): errors %v", c.line, len(c.line), r.Errors)
		}
	}
}

// SplitBrainRisk speaks for clusters that can run a group twice: two
// nodes without fencing, more without fencing where every partition runs
// groups or none fences itself; it is silent with fencing of either kind
// or without groups.
func TestSplitBrainRisk(t *testing.T) {
	const res = "node1 198.18.0.10\n"
	for _, c := range []struct{ hacf, cf, res, want string }{
		{twoNodes, "", res, "two nodes and no fencing"},
		{twoNodes, "", "", ""},
		{twoNodes + "ping 198.18.9.1\n", "", res, ""},
		{twoNodes + "ping 198.18.9.1\n", "", res + "node2 Filesystem::/dev/sda1::/data1::ext2\n", "Filesystem::/dev/sda1::/data1::ext2 has no IPaddr or IPaddr2 resource"},
		{twoNodes + "stonith_host * null node1 node2\n", "", res, ""},
		{twoNodes, "fence_device x fence_x\n", res, ""},
		{"node node1 node2 node3\nbcast eth0\n", "", res, "no fencing or self-fencing (watchdog_fence_timeout)"},
		{"node node1 node2 node3\nbcast eth0\n", "no_quorum_policy ignore\n", res, "no_quorum_policy ignore and no fencing"},
		{"node node1 node2 node3\nbcast eth0\nwatchdog /dev/watchdog\n", "watchdog_fence_timeout 70s\n", res, ""},
	} {
		dir := write(t, map[string]string{"ha.cf": c.hacf, "authkeys": goodAuth, "lubdub.cf": c.cf, "haresources": c.res})
		cfg, r := Load(dir, Options{Node: "node1"})
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if got := cfg.SplitBrainRisk(); c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%q %q %q: %q, want %q", c.hacf, c.cf, c.res, got, c.want)
		}
	}
}

// fence_delay is two deadtimes unless set.
func TestFenceDelay(t *testing.T) {
	c, _ := loadWith(t, twoNodes+"deadtime 10\n", "")
	if got := c.Tuning.FenceDelayFor(c.Deadtime); got != 20*time.Second {
		t.Errorf("default: %v, want 2 deadtimes", got)
	}
	c, _ = loadWith(t, twoNodes+"deadtime 10\n", "fence_delay 0s\n")
	if got := c.Tuning.FenceDelayFor(c.Deadtime); got != 0 {
		t.Errorf("fence_delay 0s: %v", got)
	}
}

// What ha.cf's lines leave for status tools and lubdub check: a noted
// directive's last value (env's none), msgfmt classic read as netstring
// with a note, uuidfrom nodename noted, a stonith_host line for another
// node marked so, and its parameters named when cluster-glue names them.
func TestHacfReadings(t *testing.T) {
	c, r := loadHaCf(t, "node node1 node2\nbcast eth0\nrealtime on\nrealtime off\nenv A=1\nmsgfmt classic\nuuidfrom nodename\nstonith_host node2 null node1\n")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if c.Params["realtime"] != "off" || c.Params["env"] != "" || c.MsgFmt != "netstring" {
		t.Errorf("realtime %q env %q msgfmt %q", c.Params["realtime"], c.Params["env"], c.MsgFmt)
	}
	var notes []string
	for _, n := range r.Notes {
		notes = append(notes, n.Msg)
	}
	for _, want := range []string{"msgfmt classic: lubdub reads both frames", "uuidfrom nodename: lubdub keeps its node uuid"} {
		if !strings.Contains(strings.Join(notes, "\n"), want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
	var b strings.Builder
	c.Describe(&b, "node1")
	if want := "  stonith_host node2 null with 1 parameter word(s) (ha.cf line 8) (for node2)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("lubdub check lacks %q:\n%s", want, b.String())
	}
	s := StonithDevice{FromHost: "*", Type: "baytech", Params: "10.0.0.3 admin secret", Names: []string{"ipaddr", "login", "password"}, Line: 3}
	if got, want := s.String(), "stonith_host * baytech with ipaddr, login, password (ha.cf line 3)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// In lubdub.cf a # inside double quotes, after an escaped quote too, is
// part of the value.
func TestLubdubCfQuotedHash(t *testing.T) {
	c, r := loadWith(t, twoNodes, `fence_device x fence_x pw="a\"#b" # comment`+"\n")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if got := c.Fencing.Devices[0].Params["pw"]; got != `a"#b` {
		t.Errorf("pw %q", got)
	}
}

// Directives lubdub notes without acting on are checked as Heartbeat's
// setters check them, at the edges of what they take.
func TestNotedDirectiveValues(t *testing.T) {
	long := strings.Repeat("c", 63)
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{"compression_threshold 1", true},
		{"compression_threshold 0", false},
		{"memreserve 9", true},
		{"memreserve -1", false},
		{"rtprio 1", true},
		{"rtprio 99", true},
		{"rtprio 0", false},
		{"rtprio 100", false},
		{"apiauth " + long + " uid=hacluster", true},
		{"apiauth " + long + "c uid=hacluster", false},
		{"apiauth ipfail uid=hacluster gid=haclient", true},
		{"apiauth ipfail gid=haclient", true},
		{"apiauth ipfail uidx=hacluster", false},
		{"apiauth ipfail uid=a uid=b", false},
		{"apiauth ipfail", false},
	} {
		_, r := loadHaCf(t, "node a\nbcast eth0\n"+c.line+"\n")
		if (len(r.Errors) == 0) != c.ok {
			t.Errorf("%.50s: errors %v, want ok=%v", c.line, r.Errors, c.ok)
		}
	}
	for in, want := range map[string]int{"9": 9, "10000000001": 1000000000, "19999999999": 1999999999} {
		if n, _ := atoi(in); n != want {
			t.Errorf("atoi(%q) = %d, want %d (digits read until the number reaches 1e9)", in, n, want)
		}
	}
	if d, err := ParseHeartbeatTime(".5.3"); err != nil || d != 500*time.Millisecond {
		t.Errorf(".5.3: %v %v, want 0.5 s as C's atof", d, err)
	}
}

// crm and pacemaker: off is Heartbeat's own resource manager, which
// lubdub is; on (or respawn) asks for Pacemaker, which lubdub refuses.
func TestCrmAndPacemaker(t *testing.T) {
	for line, ok := range map[string]bool{"crm off": true, "pacemaker no": true, "crm on": false, "pacemaker yes": false, "crm respawn": false} {
		_, r := loadHaCf(t, "node a\nbcast eth0\n"+line+"\n")
		if (len(r.Errors) == 0) != ok {
			t.Errorf("%s: errors %v, want ok=%v", line, r.Errors, ok)
		}
	}
}

// Without cluster-glue to ask, stonith lines are kept unchecked with one
// note, at the first of them.
func TestStonithUncheckedNoteOnce(t *testing.T) {
	_, r := loadHaCf(t, "node node1 node2\nbcast eth0\nstonith_host node1 null node2\nstonith_host node2 null node1\n")
	var lines []int
	for _, n := range r.Notes {
		if strings.Contains(n.Msg, "checked when cluster-glue is installed") {
			lines = append(lines, n.Line)
		}
	}
	if len(lines) != 1 || lines[0] != 3 {
		t.Errorf("notes at lines %v, want one at line 3", lines)
	}
}
