// Package hbdiff generates variants of a Heartbeat configuration directory
// (ha.cf, authkeys, haresources) and compares what lubdub's parser and
// Heartbeat 3.0.6 make of each: their verdict (accepted or refused) and
// their reading (directive values as cl_status hbparameter shows them,
// nodes, media, the signing key). The end-to-end test runs the variants
// through Debian's Heartbeat in a namespace (internal/lab); this package
// is pure.
package hbdiff

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
)

// Variant is one configuration directory to try.
type Variant struct {
	Name  string            // what it changes, as "ha.cf/keepalive=500MS"
	Files map[string]string // ha.cf, authkeys, haresources; absent: no file
	Modes map[string]os.FileMode
	Parts []string // the catalog variants a random one combines
}

// Node is the local node's name in every variant (its nodeinfo).
const Node = "node1"

// Base is a configuration both Heartbeat and lubdub accept; every variant
// changes it.
func Base() map[string]string {
	return map[string]string{
		"ha.cf":       strings.Join(baseHacf, "\n") + "\n",
		"authkeys":    "auth 1\n1 sha1 topsecret\n",
		"haresources": "node1 198.18.9.10\n",
	}
}

var baseHacf = []string{
	"keepalive 1",
	"deadtime 10",
	"warntime 5",
	"initdead 20",
	"udpport 694",
	"bcast eth0",
	"auto_failback on",
	"node node1",
	"node node2",
}

// change is one edit of the base.
type change struct {
	name  string
	apply func(v *Variant)
}

// setDirective replaces the base's line for directive (or adds one) with
// line; an empty line removes it.
func setDirective(directive, line string) func(v *Variant) {
	return func(v *Variant) {
		lines := strings.Split(strings.TrimSuffix(v.Files["ha.cf"], "\n"), "\n")
		var out []string
		done := false
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) > 0 && f[0] == directive && !done {
				done = true
				if line != "" {
					out = append(out, line)
				}
				continue
			}
			out = append(out, l)
		}
		if !done && line != "" {
			out = append(out, line)
		}
		v.Files["ha.cf"] = strings.Join(out, "\n") + "\n"
	}
}

func addLine(file, line string) func(v *Variant) {
	return func(v *Variant) { v.Files[file] += line + "\n" }
}

func setFile(file, text string) func(v *Variant) {
	return func(v *Variant) { v.Files[file] = text }
}

func editFile(file string, f func(string) string) func(v *Variant) {
	return func(v *Variant) { v.Files[file] = f(v.Files[file]) }
}

// values lists the forms tried for each ha.cf directive of Heartbeat
// 3.0.6 (its Directives[] and WLdirectives[] tables and the media plugins
// Debian ships), good and bad.
var values = []struct {
	directive string
	forms     []string
}{
	{"keepalive", []string{"1", "1000ms", "1000MS", "1000Ms", "1000msec", "1000mseconds", "1s", "1sec", "1.0", "0.5", ".5", "1.", "500000us", "500000usec", "1500us", "999.6ms", "1000 ms", "0", "0ms", "-1", "abc", "1e0", "1,2", "1.2.3", "2min", "3"}},
	{"deadtime", []string{"10", "10000ms", "10s", "2", "2001ms", "2.0005", "2.5", "0", "abc", "10 s", "30000us"}},
	{"warntime", []string{"5", "5000ms", "0", "11", "0.5", "abc", "1"}},
	{"initdead", []string{"20", "10", "9", "5", "0", "120", "abc", "20000ms"}},
	{"deadping", []string{"10", "2", "3", "abc", "0"}},
	{"udpport", []string{"694", "7000", "0", "65535", "65536", "abc", "ha-cluster", "-1", "694 695"}},
	{"baud", []string{"19200", "9600", "38400", "115200", "1234", "abc"}},
	{"hopfudge", []string{"1", "0", "255", "256", "abc", "-1"}},
	{"logfacility", []string{"local0", "LOCAL0", "daemon", "authpriv", "none", "bogus"}},
	{"debug", []string{"0", "1", "abc", "256"}},
	{"auto_failback", []string{"on", "off", "legacy", "yes", "no", "true", "false", "1", "0", "ON", "Off", "y", "n", "bogus", ""}},
	{"nice_failback", []string{"on", "off", "bogus"}},
	{"log_badpack", []string{"true", "off", "bogus"}},
	{"watchdog", []string{"/dev/watchdog", "watchdog", "/nonexistent/watchdog"}},
	{"msgfmt", []string{"classic", "netstring", "NETSTRING", "bogus"}},
	{"hbgenmethod", []string{"file", "time", "bogus"}},
	{"max_rexmit_delay", []string{"250", "0", "1000", "abc", "250ms"}},
	{"cluster", []string{"mycluster", "linux-ha"}},
	{"crm", []string{"off", "no", "false", "on", "respawn", "bogus"}},
	{"pacemaker", []string{"off", "on", "respawn"}},
	{"autojoin", []string{"none", "any", "other", "bogus"}},
	{"uuidfrom", []string{"file", "nodename", "bogus"}},
	{"compression", []string{"zlib", "bz2", "bogus"}},
	{"compression_threshold", []string{"2", "10", "abc"}},
	{"traditional_compression", []string{"yes", "no", "bogus"}},
	{"realtime", []string{"on", "off", "bogus"}},
	{"rtprio", []string{"5", "abc"}},
	{"coredumps", []string{"true", "false", "bogus"}},
	{"coreroot", []string{"/var/lib/heartbeat/cores"}},
	{"use_logd", []string{"no", "yes", "bogus"}},
	{"conn_logd_time", []string{"60", "abc"}},
	{"syslogmsgfmt", []string{"true", "false"}},
	{"memreserve", []string{"6500", "abc"}},
	{"env", []string{"FOO=bar", "bogus"}},
	{"apiauth", []string{"ipfail uid=hacluster", "mygroup gid=haclient", "bogus"}},
	{"use_apphbd", []string{"no", "yes"}},
	{"crm_daemon_dir", []string{"/usr/lib/pacemaker"}},
	{"crmd_spawns_pengine", []string{"yes"}},
	{"record_config_changes", []string{"on", "bogus"}},
	{"record_pengine_inputs", []string{"off"}},
	{"enable_config_writes", []string{"on"}},
	{"respawn", []string{"hacluster /usr/lib/heartbeat/ipfail"}},
	{"failfast", []string{"hacluster /bin/true"}},
	{"stonith", []string{"/etc/ha.d/stonith.cfg"}},
	{"stonith_host", []string{"* null node1"}},
	{"quorum_server", []string{"198.18.9.1"}},
	{"ping", []string{"198.18.9.1"}},
	{"ping_group", []string{"routers 198.18.9.1 198.18.9.2"}},
	{"ping6", []string{"2001:db8::1"}},
}

// media lists medium lines, each added to the base (whose bcast eth0
// stays) or replacing it (the ones marked alone).
var media = []struct {
	line  string
	alone bool
}{
	{"bcast eth1", false},
	{"bcast eth0 eth1", true},
	{"bcast eth0,eth1", true},
	{"bcast nosuch0", false},
	{"bcast", true},
	{"udp eth1", false},
	{"ucast eth0 198.18.200.2", false},
	{"ucast eth1 198.18.201.2", true},
	{"ucast eth0 198.18.200.1", true}, // the node's own address
	{"ucast eth0", false},
	{"ucast eth0 198.18.200.2 extra", false},
	{"ucast eth0 node2", false},
	{"ucast eth0 localhost", false},
	{"ucast nosuch0 198.18.200.2", false},
	{"ucast eth0 198.18.200.300", false},
	{"ucast\teth0\t198.18.200.2", false},
	{"mcast eth0 225.0.0.1 694 1 0", false},
	{"mcast eth1 239.1.2.3 7000 255 1", true},
	{"mcast eth0 225.0.0.1 694 1", false},
	{"mcast eth0 225.0.0.1 694 1 0 extra", false},
	{"mcast eth0 10.0.0.1 694 1 0", false},
	{"mcast eth0 225.0.0.1 694 256 0", false},
	{"mcast eth0 225.0.0.1 694 1 2", false},
	{"mcast eth0 225.0.0.1 abc 1 0", false},
	{"mcast eth0 225.0.0.1 0 1 0", false},
	{"mcast nosuch0 225.0.0.1 694 1 0", false},
	{"mcast6 eth0 ff02::1 694 1 0", false},
	{"ucast6 eth0 2001:db8::2", false},
	{"serial /dev/ttyS0", false},
	{"serial /nonexistent/tty", false},
}

// Catalog is every single change of the base, in a fixed order.
func Catalog() []Variant {
	var cs []change
	for _, d := range values {
		for _, f := range d.forms {
			line := d.directive + " " + f
			cs = append(cs, change{"ha.cf/" + d.directive + "=" + f, setDirective(d.directive, strings.TrimSpace(line))})
		}
		if d.directive != "keepalive" && d.directive != "deadtime" && d.directive != "udpport" {
			continue
		}
		cs = append(cs, change{"ha.cf/" + d.directive + " missing", setDirective(d.directive, "")})
	}
	cs = append(cs, change{"ha.cf/warntime missing", setDirective("warntime", "")})
	cs = append(cs, change{"ha.cf/initdead missing", setDirective("initdead", "")})
	cs = append(cs, change{"ha.cf/initdead missing, deadtime 5", func(v *Variant) { setDirective("initdead", "")(v); setDirective("deadtime", "deadtime 5")(v) }})
	cs = append(cs, change{"ha.cf/initdead missing, deadtime 8", func(v *Variant) { setDirective("initdead", "")(v); setDirective("deadtime", "deadtime 8")(v) }})
	for _, m := range media {
		f := addLine("ha.cf", m.line)
		if m.alone {
			f = setDirective("bcast", m.line)
		}
		cs = append(cs, change{"ha.cf/media " + m.line, f})
	}
	cs = append(cs, change{"ha.cf/no media", setDirective("bcast", "")})
	cs = append(cs, change{"ha.cf/ucast per node, README layout", func(v *Variant) {
		setDirective("bcast", "ucast eth0 198.18.200.1")(v)
		addLine("ha.cf", "ucast eth0 198.18.200.2")(v)
	}})
	cs = append(cs, change{"ha.cf/two bcast on eth0", addLine("ha.cf", "bcast eth0")})
	cs = append(cs, change{"ha.cf/bcast and mcast on eth0", addLine("ha.cf", "mcast eth0 225.0.0.1 694 1 0")})
	cs = append(cs, change{"ha.cf/baud after serial", func(v *Variant) { addLine("ha.cf", "serial /dev/ttyS0")(v); addLine("ha.cf", "baud 38400")(v) }})
	// Node lines.
	for _, n := range []struct{ name, edit string }{
		{"one line", "node node1 node2"},
		{"comma", "node node1,node2"},
		{"tab", "node\tnode1\tnode2"},
		{"upper case", "node NODE1 Node2"},
		{"duplicate", "node node1 node2 node1"},
		{"self missing", "node node2"},
		{"no name", "node"},
		{"third node", "node node1 node2 node3"},
		{"long name", "node node1 node2 " + strings.Repeat("n", 80)},
	} {
		cs = append(cs, change{"ha.cf/node " + n.name, func(v *Variant) {
			setDirective("node", "")(v)
			setDirective("node", n.edit)(v)
		}})
	}
	// Layout of the whole file.
	for _, l := range []struct {
		name string
		f    func(string) string
	}{
		{"leading blanks", func(s string) string { return prefixLines(s, "   ") }},
		{"leading tab", func(s string) string { return prefixLines(s, "\t") }},
		{"tabs between", func(s string) string { return strings.ReplaceAll(s, " ", "\t") }},
		{"many blanks between", func(s string) string { return strings.ReplaceAll(s, " ", "    ") }},
		{"trailing blanks", func(s string) string { return strings.ReplaceAll(s, "\n", "  \n") }},
		{"trailing comments", func(s string) string { return strings.ReplaceAll(s, "\n", " # a comment\n") }},
		{"comments without blank", func(s string) string { return strings.ReplaceAll(s, "\n", "#comment\n") }},
		{"comment lines", func(s string) string { return "# ha.cf\n#\n" + strings.ReplaceAll(s, "\n", "\n# another\n") }},
		{"indented comment lines", func(s string) string { return "   # ha.cf\n\t# x\n" + s }},
		{"blank lines", func(s string) string { return "\n\n" + strings.ReplaceAll(s, "\n", "\n   \n\t\n") }},
		{"crlf", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }},
		{"no final newline", func(s string) string { return strings.TrimSuffix(s, "\n") }},
		{"upper-case directive", func(s string) string { return strings.Replace(s, "keepalive", "Keepalive", 1) }},
		{"equals sign", func(s string) string { return strings.Replace(s, "keepalive 1", "keepalive=1", 1) }},
		{"colon", func(s string) string { return strings.Replace(s, "keepalive 1", "keepalive: 1", 1) }},
		{"comma after directive", func(s string) string { return strings.Replace(s, "keepalive 1", "keepalive,1", 1) }},
		{"two values", func(s string) string { return strings.Replace(s, "keepalive 1", "keepalive 1 2", 1) }},
		{"repeated directive", func(s string) string { return s + "keepalive 2\n" }},
		{"unknown directive", func(s string) string { return s + "frobnicate yes\n" }},
		{"empty file", func(string) string { return "" }},
	} {
		cs = append(cs, change{"ha.cf/layout " + l.name, editFile("ha.cf", l.f)})
	}
	cs = append(cs, authChanges()...)
	cs = append(cs, haresourcesChanges()...)

	out := make([]Variant, 0, len(cs))
	for _, c := range cs {
		v := Variant{Name: c.name, Files: Base(), Modes: map[string]os.FileMode{}}
		c.apply(&v)
		out = append(out, v)
	}
	return out
}

func authChanges() []change {
	var cs []change
	for _, a := range []struct{ name, text string }{
		{"auth1", "auth1\n1 sha1 topsecret\n"},
		{"auth comment", "auth 1   # comment\n1 sha1 topsecret\n"},
		{"auth tab", "auth\t1\n1\tsha1\ttopsecret\n"},
		{"auth two numbers", "auth 1 2\n1 sha1 topsecret\n2 md5 other\n"},
		{"auth no number", "auth\n1 sha1 topsecret\n"},
		{"auth word", "auth one\n1 sha1 topsecret\n"},
		{"auth 0", "auth 0\n0 sha1 topsecret\n"},
		{"auth 15", "auth 15\n15 sha1 topsecret\n"},
		{"auth 16", "auth 16\n16 sha1 topsecret\n"},
		{"auth undefined key", "auth 2\n1 sha1 topsecret\n"},
		{"key comment", "auth 1\n1 sha1 topsecret # set 2019\n"},
		{"key two words", "auth 1\n1 sha1 top secret\n"},
		{"method upper case", "auth 1\n1 SHA1 topsecret\n"},
		{"md5", "auth 1\n1 md5 topsecret\n"},
		{"crc", "auth 1\n1 crc\n"},
		{"crc with key", "auth 1\n1 crc topsecret\n"},
		{"sha256", "auth 1\n1 sha256 topsecret\n"},
		{"unknown method", "auth 1\n1 blake3 topsecret\n"},
		{"no secret", "auth 1\n1 sha1\n"},
		{"no method", "auth 1\n1\n"},
		{"key before auth", "1 sha1 topsecret\nauth 1\n"},
		{"duplicate key", "auth 1\n1 sha1 topsecret\n1 md5 other\n"},
		{"two keys", "auth 2\n1 sha1 topsecret\n2 md5 other\n"},
		{"auth twice", "auth 1\nauth 1\n1 sha1 topsecret\n"},
		{"comments and blanks", "# keys\n\n  # indented\nauth 1\n\n1 sha1 topsecret\n"},
		{"leading blanks", "  auth 1\n  1 sha1 topsecret\n"},
		{"crlf", "auth 1\r\n1 sha1 topsecret\r\n"},
		{"no auth line", "1 sha1 topsecret\n"},
		{"empty", ""},
		{"key 1x", "auth 1\n1x sha1 topsecret\n"},
	} {
		cs = append(cs, change{"authkeys/" + a.name, setFile("authkeys", a.text)})
	}
	for _, m := range []os.FileMode{0o600, 0o400, 0o620, 0o602, 0o640, 0o604, 0o644, 0o660} {
		cs = append(cs, change{fmt.Sprintf("authkeys/mode %04o", m), func(v *Variant) { v.Modes["authkeys"] = m }})
	}
	cs = append(cs, change{"authkeys/missing", func(v *Variant) { delete(v.Files, "authkeys") }})
	return cs
}

func haresourcesChanges() []change {
	var cs []change
	for _, h := range []struct{ name, text string }{
		{"upper-case node", "NODE1 198.18.9.10\n"},
		{"other node", "node2 198.18.9.10\n"},
		{"unknown node", "nodex 198.18.9.10\n"},
		{"comment lines", "# groups\n  # indented\nnode1 198.18.9.10\n"},
		{"trailing comment", "node1 198.18.9.10 # the VIP\n"},
		{"continuation", "node1 198.18.9.10 \\\n  IPaddr::198.18.9.11\n"},
		{"continuation blank after", "node1 198.18.9.10 \\ \n  IPaddr::198.18.9.11\n"},
		{"continuation unknown node", "node1 198.18.9.10 \\\nnodex IPaddr::198.18.9.11\n"},
		{"node alone", "node1\n"},
		{"empty file", ""},
		{"blank lines", "\n  \n\t\nnode1 198.18.9.10\n\n"},
		{"tabs", "node1\t198.18.9.10\tIPaddr2::198.18.9.11/24/eth0\n"},
		{"crlf", "node1 198.18.9.10\r\n"},
		{"address forms", "node1 198.18.9.10/24 198.18.9.11/24/eth0 198.18.9.12/24/eth0/198.18.9.255 IPaddr::198.18.9.13\n"},
		{"bad address", "node1 198.18.9.300\n"},
		{"bad resource name", "node1 bad$name\n"},
		{"empty argument", "node1 Filesystem::::/data\n"},
		{"script arguments", "node1 198.18.9.10 Filesystem::/dev/sdb1::/data::ext4 httpd\n"},
		{"same group twice", "node1 198.18.9.10\nnode2 198.18.9.10\n"},
		{"two groups", "node1 198.18.9.10 httpd\nnode2 198.18.9.11 smb\n"},
		{"ocf agent", "node1 ocf:heartbeat:IPaddr2::ip=198.18.9.10\n"},
	} {
		cs = append(cs, change{"haresources/" + h.name, setFile("haresources", h.text)})
	}
	cs = append(cs, change{"haresources/missing", func(v *Variant) { delete(v.Files, "haresources") }})
	return cs
}

func prefixLines(s, p string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = p + l
		}
	}
	return strings.Join(lines, "")
}

// Random returns n variants, each the base with two to four catalog
// changes applied in turn, drawn with seed: the interactions single
// changes do not reach.
func Random(seed int64, n int) []Variant {
	cat := Catalog()
	rng := rand.New(rand.NewSource(seed))
	out := make([]Variant, 0, n)
	for range n {
		k := 2 + rng.Intn(3)
		picks := rng.Perm(len(cat))[:k]
		sort.Ints(picks)
		v := Variant{Files: Base(), Modes: map[string]os.FileMode{}}
		var names []string
		for _, p := range picks {
			// Re-apply the change on top of what is there: catalog
			// variants carry whole files, so merge file by file.
			c := cat[p]
			for f, text := range c.Files {
				if text != Base()[f] {
					v.Files[f] = mergeHacf(f, v.Files[f], text)
				}
			}
			for f := range Base() {
				if _, ok := c.Files[f]; !ok {
					delete(v.Files, f)
				}
			}
			for f, m := range c.Modes {
				v.Modes[f] = m
			}
			names = append(names, c.Name)
		}
		v.Name = fmt.Sprintf("random %d-%d: %s", seed, len(out), strings.Join(names, " + "))
		v.Parts = names
		out = append(out, v)
	}
	return out
}

// mergeHacf combines two edits of the base ha.cf: lines the second edit
// added or changed go into the first. Other files: the second wins.
func mergeHacf(file, cur, next string) string {
	if file != "ha.cf" {
		return next
	}
	base := map[string]bool{}
	for _, l := range baseHacf {
		base[l] = true
	}
	var extra []string
	nextHas := map[string]bool{}
	for _, l := range strings.Split(next, "\n") {
		nextHas[l] = true
		if l != "" && !base[l] {
			extra = append(extra, l)
		}
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(cur, "\n"), "\n") {
		// A base line the second edit removed or replaced goes.
		if base[l] && !nextHas[l] {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(append(out, extra...), "\n") + "\n"
}
