package haconf

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// hacfParser reads ha.cf.
type hacfParser struct {
	c    *Config
	r    *Report
	file string
	seen map[string]int // directive -> first line
	// raw time values and their lines, resolved in finish
	times   map[string]timeVal
	udpport string
	udpLine int
	// autoFailbackSet: an auto_failback on/off came before (it changes
	// what nice_failback means)
	autoFailbackSet bool
	baudSeen        bool
	portLines       []int // indexes of media whose port comes from udpport
	opts            Options
	node            string // opts.Node in lower case
}

type timeVal struct {
	d    time.Duration
	line int
}

// directive kinds
const (
	kindValues  = iota // each value is handled on its own (node a b c)
	kindScalar         // exactly one value
	kindLine           // the rest of the line as a whole
	kindNoted          // accepted, changes nothing in lubdub
	kindRefused        // Heartbeat accepts it, lubdub does not do it
	kindStonith        // a whole line read as Heartbeat's set_stonith_*info reads it
)

type directive struct {
	kind int
	// for kindNoted and kindRefused: why
	why string
	// default value recorded for hbparameter, as Heartbeat records it
	def string
}

// directives lists every ha.cf directive of Heartbeat 3.0.6 (its
// Directives[] and WLdirectives[] tables and the media plugins the Debian
// package ships).
var directives = map[string]directive{
	"node":                    {kind: kindValues},
	"keepalive":               {kind: kindScalar, def: "1000ms"},
	"deadtime":                {kind: kindScalar, def: "30000ms"},
	"warntime":                {kind: kindScalar},
	"initdead":                {kind: kindScalar},
	"udpport":                 {kind: kindScalar, def: "694"},
	"baud":                    {kind: kindScalar, def: "19200"},
	"hopfudge":                {kind: kindScalar, def: "1"},
	"logfile":                 {kind: kindScalar},
	"debugfile":               {kind: kindScalar},
	"logfacility":             {kind: kindScalar},
	"debug":                   {kind: kindScalar, def: "0"},
	"log_badpack":             {kind: kindScalar, def: "true"},
	"auto_failback":           {kind: kindScalar, def: "legacy"},
	"nice_failback":           {kind: kindScalar},
	"watchdog":                {kind: kindScalar},
	"msgfmt":                  {kind: kindScalar, def: "classic"},
	"hbgenmethod":             {kind: kindScalar, def: "file"},
	"max_rexmit_delay":        {kind: kindScalar, def: "250"},
	"cluster":                 {kind: kindScalar, def: "linux-ha"},
	"crm":                     {kind: kindScalar},
	"pacemaker":               {kind: kindScalar, def: "false"},
	"autojoin":                {kind: kindScalar, def: "none"},
	"uuidfrom":                {kind: kindScalar, def: "file"},
	"deadping":                {kind: kindScalar},
	"bcast":                   {kind: kindValues},
	"serial":                  {kind: kindValues},
	"mcast":                   {kind: kindLine},
	"ucast":                   {kind: kindLine},
	"compression":             {kind: kindNoted, def: "zlib", why: "lubdub's messages are small and never compressed"},
	"compression_threshold":   {kind: kindNoted, def: "2", why: "lubdub's messages are small and never compressed"},
	"traditional_compression": {kind: kindNoted, def: "no", why: "lubdub's messages are small and never compressed"},
	"realtime":                {kind: kindNoted, def: "true", why: "lubdub's timing does not depend on realtime scheduling"},
	"rtprio":                  {kind: kindNoted, why: "lubdub's timing does not depend on realtime scheduling"},
	"coredumps":               {kind: kindNoted, def: "true", why: "core dumps follow the system's settings"},
	"coreroot":                {kind: kindNoted, why: "core dumps follow the system's settings"},
	"use_logd":                {kind: kindNoted, why: "lubdub logs itself to logfile, debugfile and syslog"},
	"conn_logd_time":          {kind: kindNoted, def: "60", why: "lubdub logs itself to logfile, debugfile and syslog"},
	"syslogmsgfmt":            {kind: kindNoted, def: "true", why: "lubdub writes Heartbeat's log line format"},
	"memreserve":              {kind: kindNoted, def: "6500", why: "lubdub preallocates nothing"},
	"env":                     {kind: kindNoted, why: "lubdub starts no Heartbeat API clients"},
	"apiauth":                 {kind: kindNoted, why: "lubdub's control socket admits root and its owner only"},
	"use_apphbd":              {kind: kindNoted, why: "lubdub does not register with apphbd"},
	"crm_daemon_dir":          {kind: kindNoted, why: "it matters only with Pacemaker, which lubdub does not run"},
	"crmd_spawns_pengine":     {kind: kindNoted, why: "it matters only with Pacemaker, which lubdub does not run"},
	"record_config_changes":   {kind: kindNoted, def: "on", why: "it matters only with Pacemaker, which lubdub does not run"},
	"record_pengine_inputs":   {kind: kindNoted, def: "on", why: "it matters only with Pacemaker, which lubdub does not run"},
	"enable_config_writes":    {kind: kindNoted, def: "on", why: "it matters only with Pacemaker, which lubdub does not run"},
	"respawn":                 {kind: kindLine},
	"failfast":                {kind: kindRefused, why: "lubdub runs no Heartbeat API clients; remove the line"},
	"stonith":                 {kind: kindStonith},
	"stonith_host":            {kind: kindStonith},
	"quorum_server":           {kind: kindRefused, why: "quorum servers are not supported; remove the line"},
	"ping":                    {kind: kindLine},
	"ping6":                   {kind: kindRefused, why: "IPv6 ping nodes are not supported yet; use ping with IPv4 addresses"},
	"ping_group":              {kind: kindLine},
	"mcast6":                  {kind: kindRefused, why: "IPv6 media are not supported yet; use mcast"},
	"ucast6":                  {kind: kindRefused, why: "IPv6 media are not supported yet; use ucast"},
}

func (p *hacfParser) parse(text string) {
	c := p.c
	c.Params = map[string]string{}
	c.Hopfudge = 1
	c.Baud = 19200
	c.AutoFailback = "legacy"
	c.MsgFmt = "netstring"
	c.GenMethod = "file"
	c.MaxRexmitDelay = 250 * time.Millisecond
	c.LogBadPack = true
	c.Cluster = "linux-ha"
	p.seen = map[string]int{}
	p.times = map[string]timeVal{}

	for i, orig := range strings.Split(text, "\n") {
		raw, line := orig, i+1
		if k := strings.IndexByte(raw, '#'); k >= 0 {
			raw = raw[:k]
		}
		raw = strings.TrimSpace(strings.TrimRight(raw, "\r"))
		if raw == "" {
			continue
		}
		// As Heartbeat: the directive ends at white space, its values are
		// separated by white space or commas.
		name, rest := raw, ""
		if k := strings.IndexAny(raw, whitespace); k >= 0 {
			name, rest = raw[:k], strings.Trim(raw[k:], delims)
		}
		if name == "udp" {
			p.r.notef(p.file, line, "'udp' is Heartbeat's old name for 'bcast'; read as 'bcast %s'", rest)
			name = "bcast"
		}
		d, ok := directives[name]
		if !ok {
			p.r.errorf(p.file, line, "unknown directive %q (Heartbeat 3.0.6 does not accept it either)", name)
			continue
		}
		if d.kind == kindLine {
			switch name {
			case "ping", "ping_group":
				p.pingLine(name, rest, line)
			case "respawn":
				p.respawnLine(rest, line)
			default:
				p.mediaLine(name, rest, line)
			}
			continue
		}
		if d.kind == kindStonith {
			p.stonithLine(name, wholeLineValue(orig), line)
			continue
		}
		if d.kind == kindRefused {
			p.r.errorf(p.file, line, "%s: %s", name, d.why)
			continue
		}
		if name == "apiauth" {
			// A whole-line directive: client, then uid= and gid= lists.
			if err := checkAPIAuth(rest); err != nil {
				p.r.errorf(p.file, line, "apiauth %q: %v", rest, err)
				continue
			}
			p.r.notef(p.file, line, "%s is accepted but has no effect: %s", name, d.why)
			continue
		}
		values := splitValues(rest)
		if len(values) == 0 {
			// Heartbeat applies nothing and keeps the default.
			p.r.warnf(p.file, line, "%s has no value and is ignored (as Heartbeat does)", name)
			continue
		}
		if d.kind == kindNoted {
			good := true
			for _, v := range values {
				if err := checkNoted(name, v); err != nil {
					p.r.errorf(p.file, line, "%s %q: %v", name, v, err)
					good = false
				}
			}
			if good {
				p.r.notef(p.file, line, "%s is accepted but has no effect: %s", name, d.why)
				if name != "env" {
					c.Params[name] = values[len(values)-1]
				}
			}
			continue
		}
		if d.kind == kindScalar {
			if len(values) > 1 {
				p.r.warnf(p.file, line, "%s has %d values (%s): Heartbeat applies each in turn, so the last, %s, wins", name, len(values), rest, values[len(values)-1])
			}
			if first, dup := p.seen[name]; dup && name != "node" {
				p.r.warnf(p.file, line, "%s is set again (first on line %d); the later value wins", name, first)
			} else {
				p.seen[name] = line
			}
		}
		for _, v := range values {
			if p.value(name, v, line) {
				if d.kind == kindScalar {
					c.Params[name] = v
				}
			}
		}
	}
}

// Heartbeat's separators (heartbeat.h): white space ends a directive's
// name, white space and commas separate its values.
const (
	whitespace = " \t\n\r\f"
	delims     = ", \t\n\r\f"
)

// splitValues splits on Heartbeat's delimiters: white space and commas.
func splitValues(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
}

var boolWords = map[string]bool{
	"true": true, "on": true, "yes": true, "y": true, "1": true,
	"false": false, "off": false, "no": false, "n": false, "0": false,
}

// ParseBool reads Heartbeat's yes/no words (yes, on, true, y, 1 and
// their opposites), any case.
func ParseBool(s string) (bool, bool) {
	v, ok := boolWords[strings.ToLower(s)]
	return v, ok
}

var timeRE = regexp.MustCompile(`^(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)$`)

// ParseTime reads a Heartbeat time: plain seconds (decimals allowed), or
// with a unit of s, ms or us.
func ParseTime(s string) (time.Duration, error) {
	m := timeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a time (examples: 2, 1.5, 500ms, 250000us)", s)
	}
	unit := time.Second
	switch strings.ToLower(m[2]) {
	case "", "s", "sec":
	case "ms", "msec":
		unit = time.Millisecond
	case "us", "usec":
		unit = time.Microsecond
	default:
		return 0, fmt.Errorf("%q has unknown unit %q (use s, ms or us)", s, m[2])
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f > 1e6 {
		return 0, fmt.Errorf("%q is not a usable time", s)
	}
	return time.Duration(f * float64(unit)), nil
}

var facilities = map[string]bool{
	"auth": true, "authpriv": true, "cron": true, "daemon": true, "kern": true, "lpr": true,
	"mail": true, "news": true, "syslog": true, "user": true, "uucp": true, "ftp": true,
	"local0": true, "local1": true, "local2": true, "local3": true,
	"local4": true, "local5": true, "local6": true, "local7": true, "none": true,
	"mark": true, "security": true,
}

var validBauds = map[int]bool{9600: true, 19200: true, 38400: true, 57600: true, 115200: true, 230400: true, 460800: true}

// value handles one value of a directive; it reports whether it was good.
func (p *hacfParser) value(name, v string, line int) bool {
	c, r := p.c, p.r
	switch name {
	case "node":
		n := strings.ToLower(v)
		if c.HasNode(n) {
			r.warnf(p.file, line, "node %s is declared twice", n)
			return false
		}
		c.Nodes = append(c.Nodes, n)
	case "keepalive", "deadtime", "warntime", "initdead", "deadping":
		d, err := ParseHeartbeatTime(v)
		if err != nil {
			r.errorf(p.file, line, "%s: %v", name, err)
			return false
		}
		// As Heartbeat's setters: keepalive and warntime above 0; deadtime,
		// deadping and initdead may be 0 here and meet the cross-checks.
		if d <= 0 && (name == "keepalive" || name == "warntime") {
			r.errorf(p.file, line, "%s must be more than 0", name)
			return false
		}
		p.times[name] = timeVal{d, line}
	case "udpport":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 65535 {
			r.errorf(p.file, line, "udpport %q is not a port number (1-65535)", v)
			return false
		}
		p.udpport, p.udpLine = v, line
		c.UDPPort = n
	case "baud":
		n, err := strconv.Atoi(v)
		if err != nil || !validBauds[n] {
			r.errorf(p.file, line, "baud %q is not a supported rate (9600, 19200, 38400, 57600, 115200, 230400, 460800)", v)
			return false
		}
		if p.baudSeen {
			r.errorf(p.file, line, "baud is set twice")
			return false
		}
		p.baudSeen = true
		c.Baud = n
	case "hopfudge", "debug":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 255 {
			r.errorf(p.file, line, "%s %q must be a number from 0 to 255", name, v)
			return false
		}
		if name == "debug" {
			c.Debug = n
		} else {
			c.Hopfudge = n
		}
	case "logfile":
		c.Logfile = v
	case "debugfile":
		c.Debugfile = v
	case "logfacility":
		// Heartbeat compares facility names case-sensitively.
		if !facilities[v] {
			r.errorf(p.file, line, "logfacility %q is not a syslog facility in lower case (daemon, local0 ... local7, none, ...)", v)
			return false
		}
		c.Logfacility = v
	case "log_badpack":
		b, ok := ParseBool(v)
		if !ok {
			r.errorf(p.file, line, "log_badpack %q is not on or off", v)
			return false
		}
		c.LogBadPack = b
	case "auto_failback":
		// cl_status hbparameter shows the value as written.
		if strings.EqualFold(v, "legacy") {
			c.AutoFailback = "legacy"
			r.warnf(p.file, line, "auto_failback legacy is deprecated (as in Heartbeat); use on or off")
			p.autoFailbackSet = false
			return true
		}
		b, ok := ParseBool(v)
		if !ok {
			r.errorf(p.file, line, "auto_failback %q must be on, off or legacy", v)
			return false
		}
		c.AutoFailback = map[bool]string{true: "on", false: "off"}[b]
		p.autoFailbackSet = true
	case "nice_failback":
		// Heartbeat's set_nice_failback ignores the value's sense: after
		// an auto_failback on or off it means off, otherwise legacy. The
		// recorded auto_failback stays as written.
		if _, ok := ParseBool(v); !ok {
			r.errorf(p.file, line, "nice_failback %q must be on or off", v)
			return false
		}
		if p.autoFailbackSet {
			c.AutoFailback = "off"
		} else {
			c.AutoFailback = "legacy"
		}
		r.warnf(p.file, line, "nice_failback is obsolete; read as 'auto_failback %s', as Heartbeat 3.0.6 reads it here", c.AutoFailback)
	case "watchdog":
		if c.Watchdog != "" {
			r.errorf(p.file, line, "watchdog device given twice")
			return false
		}
		if !strings.HasPrefix(v, "/") {
			r.errorf(p.file, line, "watchdog %q must be a device path such as /dev/watchdog", v)
			return false
		}
		c.Watchdog = v
	case "msgfmt":
		switch v {
		case "classic", "netstring":
			c.MsgFmt = v
		default:
			r.errorf(p.file, line, "msgfmt %q must be classic or netstring", v)
			return false
		}
		if v == "classic" {
			r.notef(p.file, line, "msgfmt classic: lubdub reads both frames and, like Heartbeat 3.0.6, sends netstring frames on UDP and classic frames on serial")
			c.MsgFmt = "netstring"
		}
	case "hbgenmethod":
		if v != "file" && v != "time" {
			r.errorf(p.file, line, "hbgenmethod %q must be file or time", v)
			return false
		}
		c.GenMethod = v
	case "max_rexmit_delay":
		// Heartbeat reads it with atoi: "250ms" is 250.
		n, _ := atoi(v)
		if n <= 0 {
			r.errorf(p.file, line, "max_rexmit_delay %q must be a positive number of milliseconds", v)
			return false
		}
		c.MaxRexmitDelay = time.Duration(n) * time.Millisecond
	case "cluster":
		c.Cluster = v
	case "crm", "pacemaker":
		b, ok := ParseBool(v)
		if ok && !b {
			r.notef(p.file, line, "%s %s: lubdub manages resources from haresources, as Heartbeat does with %s off", name, v, name)
			c.Params["pacemaker"] = v // crm is pacemaker's old name
			return name == "pacemaker"
		}
		r.errorf(p.file, line, "%s %s: lubdub manages resources itself from haresources and does not run Pacemaker; remove the line or set it to off", name, v)
		return false
	case "autojoin":
		if v != "none" {
			r.errorf(p.file, line, "autojoin %s: lubdub admits only the nodes ha.cf declares; use 'autojoin none'", v)
			return false
		}
	case "uuidfrom":
		if v != "file" && v != "nodename" {
			r.errorf(p.file, line, "uuidfrom %q must be file or nodename", v)
			return false
		}
		if v == "nodename" {
			r.notef(p.file, line, "uuidfrom nodename: lubdub keeps its node uuid in the state directory either way")
		}
	case "bcast":
		if !validIfName(v) {
			r.errorf(p.file, line, "bcast: %q is not an interface name", v)
			return false
		}
		p.addMedium(Medium{Type: "bcast", Dev: v, Line: line})
	case "serial":
		if !strings.HasPrefix(v, "/") {
			r.errorf(p.file, line, "serial: %q must be a device path such as /dev/ttyS0", v)
			return false
		}
		p.addMedium(Medium{Type: "serial", Dev: v, Line: line})
	}
	return true
}

func validIfName(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	return !strings.ContainsAny(s, "/ \t:")
}

// mediaLine handles mcast and ucast, whose arguments are a whole line,
// as Heartbeat's mcast and ucast plugins read them: words after the last
// one they take are ignored (with a warning here).
func (p *hacfParser) mediaLine(name, rest string, line int) {
	args := strings.Fields(rest)
	if len(args) == 0 {
		// The plugins add no medium for an empty line, and say nothing.
		p.r.warnf(p.file, line, "%s has no values and adds no medium (as in Heartbeat)", name)
		return
	}
	switch name {
	case "mcast":
		if len(args) < 5 {
			p.r.errorf(p.file, line, "mcast takes 5 values: dev group port ttl loop (for example: mcast eth1 225.0.0.1 694 1 0); got %d", len(args))
			return
		}
		if len(args) > 5 {
			p.r.warnf(p.file, line, "mcast: %q after dev group port ttl loop is ignored (as Heartbeat ignores it)", strings.Join(args[5:], " "))
		}
		m := Medium{Type: "mcast", Dev: args[0], Line: line}
		ok := true
		if !validIfName(args[0]) {
			p.r.errorf(p.file, line, "mcast: %q is not an interface name", args[0])
			ok = false
		}
		g, err := netip.ParseAddr(args[1])
		if err != nil || !g.Is4() || !g.IsMulticast() {
			p.r.errorf(p.file, line, "mcast: %q is not an IPv4 multicast group (224.0.0.0-239.255.255.255)", args[1])
			ok = false
		}
		m.Group = g
		port, err := strconv.Atoi(args[2])
		if err != nil || port <= 0 || port > 65535 {
			p.r.errorf(p.file, line, "mcast: port %q is not a port number", args[2])
			ok = false
		}
		m.Port = port
		// Heartbeat's mcast plugin refuses a ttl above 4.
		ttl, err := strconv.Atoi(args[3])
		if err != nil || ttl < 0 || ttl > 4 {
			p.r.errorf(p.file, line, "mcast: ttl %q must be 0-4 (Heartbeat 3.0.6 refuses more)", args[3])
			ok = false
		}
		m.TTL = ttl
		switch args[4] {
		case "0":
		case "1":
			m.Loop = true
		default:
			p.r.errorf(p.file, line, "mcast: loop %q must be 0 or 1", args[4])
			ok = false
		}
		if ok {
			p.c.Media = append(p.c.Media, m)
		}
	case "ucast":
		if len(args) < 2 {
			p.r.errorf(p.file, line, "ucast takes 2 values: dev peer (an address or a host name, for example: ucast eth0 10.0.0.2); got %d", len(args))
			return
		}
		if len(args) > 2 {
			p.r.warnf(p.file, line, "ucast: %q after dev peer is ignored (as Heartbeat ignores it)", strings.Join(args[2:], " "))
		}
		if !validIfName(args[0]) {
			p.r.errorf(p.file, line, "ucast: %q is not an interface name", args[0])
			return
		}
		peer, err := resolvePeer(args[1])
		if err != nil {
			p.r.errorf(p.file, line, "ucast: peer %q: %v", args[1], err)
			return
		}
		p.addMedium(Medium{Type: "ucast", Dev: args[0], Peer: peer, Line: line})
	}
}

// LookupHost resolves a ucast peer's host name (Heartbeat calls
// gethostbyname); tests replace it.
var LookupHost = func(name string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
}

// resolvePeer returns a ucast peer's IPv4 address: the address itself,
// or the first IPv4 address of a host name (/etc/hosts, DNS), as
// Heartbeat takes the first address gethostbyname gives.
func resolvePeer(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			return "", fmt.Errorf("not an IPv4 address (IPv6 media are not supported yet)")
		}
		return a.String(), nil
	}
	if looksLikeIPv4(s) || strings.ContainsAny(s, "/ \t") {
		return "", fmt.Errorf("not an IPv4 address or a host name")
	}
	addrs, err := LookupHost(s)
	if err != nil {
		return "", fmt.Errorf("cannot resolve the host name (Heartbeat refuses it too): %w", err)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap().String(), nil
		}
	}
	return "", fmt.Errorf("the host name has no IPv4 address")
}

// addMedium records a medium whose port is udpport, resolved in finish
// because udpport applies wherever it stands in the file.
func (p *hacfParser) addMedium(m Medium) {
	if m.Type != "serial" {
		p.portLines = append(p.portLines, len(p.c.Media))
	}
	p.c.Media = append(p.c.Media, m)
}

// finish applies defaults and Heartbeat's cross-checks.
func (p *hacfParser) finish(opts Options) {
	c, r := p.c, p.r
	if c.UDPPort == 0 {
		c.UDPPort = 694
	}
	for _, i := range p.portLines {
		c.Media[i].Port = c.UDPPort
	}
	get := func(name string, def time.Duration) (time.Duration, int) {
		if tv, ok := p.times[name]; ok {
			return tv.d, tv.line
		}
		return def, 0
	}
	var kl, dl, wl, il int
	c.Keepalive, kl = get("keepalive", time.Second)
	c.Deadtime, dl = get("deadtime", 30*time.Second)
	if c.Deadtime <= 2*c.Keepalive {
		line := dl
		if line == 0 {
			line = kl
		}
		r.errorf(p.file, line, "deadtime (%s) must be more than twice keepalive (%s)", FormatDuration(c.Deadtime), FormatDuration(c.Keepalive))
	}
	if dp, dpl := get("deadping", -1); dpl == 0 {
		c.Deadping = c.Deadtime
		c.Params["deadping"] = fmt.Sprintf("%dms", c.Deadtime.Milliseconds())
	} else if dp <= 2*c.Keepalive {
		r.errorf(p.file, dpl, "deadping (%s) must be more than twice keepalive (%s)", FormatDuration(dp), FormatDuration(c.Keepalive))
	} else {
		c.Deadping = dp
	}
	c.Warntime, wl = get("warntime", 0)
	if wl == 0 {
		c.Warntime = c.Deadtime / 2
		c.Params["warntime"] = fmt.Sprintf("%dms", c.Warntime.Milliseconds())
	} else {
		if c.Warntime <= c.Keepalive {
			r.warnf(p.file, wl, "warntime (%s) is not more than keepalive (%s): every heartbeat will be logged as late", FormatDuration(c.Warntime), FormatDuration(c.Keepalive))
		}
		if c.Warntime >= c.Deadtime {
			r.warnf(p.file, wl, "warntime (%s) is not less than deadtime (%s): no late heartbeat will be logged before the node is declared dead", FormatDuration(c.Warntime), FormatDuration(c.Deadtime))
		}
	}
	c.Initdead, il = get("initdead", -1)
	if il == 0 {
		switch {
		case c.Deadtime > 10*time.Second:
			c.Initdead = c.Deadtime
		case c.Deadtime < 6*time.Second:
			c.Initdead = 12 * time.Second
		default:
			c.Initdead = 2 * c.Deadtime
		}
		c.Params["initdead"] = fmt.Sprintf("%dms", c.Initdead.Milliseconds())
	}
	if c.Initdead < c.Deadtime {
		r.errorf(p.file, il, "initdead (%s) is smaller than deadtime (%s)", FormatDuration(c.Initdead), FormatDuration(c.Deadtime))
	} else if c.Initdead < 10*time.Second {
		r.warnf(p.file, il, "initdead (%s) may be too small: it covers slow network start-up and should be at least deadtime and 10s", FormatDuration(c.Initdead))
	}
	for name, d := range directives {
		if _, ok := c.Params[name]; !ok && d.def != "" {
			c.Params[name] = d.def
		}
	}
	c.Params["udpport"] = strconv.Itoa(c.UDPPort)

	if len(c.Nodes) == 0 {
		r.errorf(p.file, 0, "no nodes defined: add a 'node NAME' line for every node (names as 'uname -n' prints them)")
	}
	if len(c.Media) == 0 {
		r.errorf(p.file, 0, "no heartbeat media defined: add bcast, mcast, ucast or serial")
	}
	if c.Logfile == "" && c.Debugfile == "" && c.Logfacility == "" {
		r.notef(p.file, 0, "no logfile, debugfile or logfacility: lubdub logs to standard error only")
	}
	if opts.Node != "" && len(c.Nodes) > 0 && !c.HasNode(opts.Node) {
		r.errorf(p.file, 0, "this node (%s) is not in the configuration: add 'node %s' or run with --node NAME (declared: %s)", strings.ToLower(opts.Node), strings.ToLower(opts.Node), strings.Join(c.Nodes, ", "))
	}
	checkMediaNames(p.file, c.Media, r)
	p.checkPingNodes()
	for _, s := range c.Stonith {
		if s.FromHost != "" && s.FromHost != "*" && len(c.Nodes) > 0 && !c.HasNode(s.FromHost) {
			r.warnf(p.file, s.Line, "stonith_host: %s is not a cluster node, so no node uses this device", s.FromHost)
		}
	}
	if len(c.Stonith) > 1 && p.node != "" {
		if use, ok := c.StonithFor(p.node); ok {
			for _, s := range c.Stonith {
				if s.Line != use.Line && s.AppliesTo(p.node) {
					r.warnf(p.file, s.Line, "%s %s is not used on %s: Heartbeat keeps only the last stonith device that applies (line %d); for several devices, use fence_device and fencing_level in lubdub.cf", map[bool]string{true: "stonith", false: "stonith_host"}[s.FromHost == ""], s.Type, p.node, use.Line)
				}
			}
		}
	}
}

// checkMediaNames warns about media that share a device where that hides
// a failure. ucast lines on one device to different peers are the usual
// layout (one line per node, the same file on every node: the line naming
// the node's own address is skipped) and each peer's link is told apart
// by its node, so Heartbeat and lubdub say nothing about them. Two other
// media on one device (bcast and mcast on eth0, say) share the link name
// "eth0" for the same peers, so a failure of one cannot be seen.
func checkMediaNames(file string, media []Medium, r *Report) {
	peers := map[string]int{} // "dev peer" -> first line
	byDev := map[string][]int{}
	for i, m := range media {
		if m.Type == "ucast" {
			key := m.Dev + " " + m.Peer
			if first, dup := peers[key]; dup {
				r.warnf(file, m.Line, "ucast %s %s is given twice (first on line %d)", m.Dev, m.Peer, first)
				continue
			}
			peers[key] = m.Line
		}
		byDev[m.Dev] = append(byDev[m.Dev], i)
	}
	for i, m := range media {
		idx := byDev[m.Dev]
		if len(idx) < 2 || idx[0] != i {
			continue
		}
		nonUcast := 0
		for _, k := range idx {
			if media[k].Type != "ucast" {
				nonUcast++
			}
		}
		if nonUcast == 0 {
			continue
		}
		r.warnf(file, m.Line, "two media use %s: their links share that name in status output, so a failure of one cannot be told from the other", m.Dev)
	}
}
