// Package ldirectord reads ldirectord.cf, the file Heartbeat users gave
// ldirectord, and keeps the virtual services it describes in the kernel,
// adding and removing real servers as their health checks pass and fail.
//
// Desired (pure) turns the configuration and the servers' health into the
// table the kernel should hold; Checker (checks over real sockets and
// scripts) feeds it and syncs a datapath.DataPath.
package ldirectord

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lvs"
)

// Check types.
const (
	CheckConnect   = "connect"
	CheckNegotiate = "negotiate"
	CheckPing      = "ping"
	CheckExternal  = "external"
	CheckOn        = "on"
	CheckOff       = "off"
)

// Config is one ldirectord.cf.
type Config struct {
	File     string
	Virtuals []*Virtual
	Notes    []string // directives read but without effect in lubdub
}

// Real is one real (or fallback) server.
type Real struct {
	Addr    netip.AddrPort
	Fwd     string // lvs.Masq, lvs.Route, lvs.Tunnel
	Weight  int
	Request string // per-server overrides, or ""
	Receive string
	Line    int
	// ReceiveRE is Receive compiled (nil without one).
	ReceiveRE *regexp.Regexp
}

// Virtual is one virtual service with its checks.
type Virtual struct {
	Line             int
	Key              lvs.Key
	Reals            []Real
	Fallback         *Real
	Scheduler        string
	Persistent       int // seconds, 0: not persistent
	Netmask          netip.Addr
	CheckType        string
	Service          string
	Request, Receive string
	ReceiveRE        *regexp.Regexp
	VirtualHost      string
	HTTPMethod       string
	CheckPort        uint16
	CheckCommand     string
	CheckInterval    time.Duration
	CheckTimeout     time.Duration
	FailureCount     int
	Quiescent        bool
	quiescentSet     bool
}

// Defaults are ldirectord's.
const (
	DefaultCheckInterval    = 10 * time.Second
	DefaultCheckTimeout     = 5 * time.Second
	DefaultNegotiateTimeout = 30 * time.Second
	DefaultScheduler        = "wrr"
)

// services lubdub can negotiate with.
var negotiable = []string{"http", "https", "simpletcp", "none"}

// defaultService is ldirectord's choice of service=, from the port.
func defaultService(port uint16) string {
	switch port {
	case 80:
		return "http"
	case 443:
		return "https"
	}
	if s, ok := map[uint16]string{21: "ftp", 25: "smtp", 53: "dns", 110: "pop", 119: "nntp", 143: "imap", 389: "ldap",
		587: "submission", 993: "imaps", 995: "pops", 1521: "oracle", 1812: "radius", 3128: "http_proxy",
		3306: "mysql", 5432: "pgsql", 5060: "sip"}[port]; ok {
		return s
	}
	return "none"
}

// noEffect are ldirectord directives lubdub reads and notes but does not
// act on (lubdub logs through its own daemon, reloads on SIGHUP, and
// sends no mail).
var noEffect = map[string]bool{
	"logfile": true, "autoreload": true, "callback": true, "emailalert": true, "emailalertfreq": true,
	"emailalertstatus": true, "emailalertfrom": true, "smtp": true, "supervised": true, "fork": true,
	"execute": true, "maintenancedir": true, "cleanstop": true, "readdquiescent": true, "checkcount": true,
	"monitorfile": true, "fallbackcommand": true,
}

type globals struct {
	checkInterval, checkTimeout, negotiateTimeout time.Duration
	failureCount                                  int
	quiescent                                     bool
	fallback                                      *Real
}

// Find locates a configuration named in haresources as ldirectord does:
// an absolute path as it is, else in the configuration directory or its
// conf/ (dir/name when neither exists, for the error to name).
func Find(dir, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, "conf", name)} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join(dir, name)
}

// ReadFile reads and parses a configuration file.
func ReadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads an ldirectord.cf. Errors name the file and line.
func Parse(file string, r io.Reader) (*Config, error) {
	cfg := &Config{File: file}
	g := globals{failureCount: 1, quiescent: true}
	var cur *Virtual
	type timeouts struct{ check, negotiate time.Duration }
	vt := map[*Virtual]*timeouts{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line[:i], "\"") {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		errf := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", file, n, fmt.Sprintf(format, a...))
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, errf("%q is not a directive: write name=value", line)
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), unquote(strings.TrimSpace(val))
		indented := raw != "" && (raw[0] == ' ' || raw[0] == '\t')
		if key == "virtual" {
			v, err := parseVirtual(val)
			if err != nil {
				return nil, errf("%v", err)
			}
			v.Line = n
			cfg.Virtuals = append(cfg.Virtuals, v)
			cur = v
			vt[v] = &timeouts{}
			continue
		}
		if !indented {
			cur = nil
		}
		if noEffect[key] {
			cfg.Notes = append(cfg.Notes, fmt.Sprintf("%s:%d: %s has no effect in lubdub", file, n, key))
			continue
		}
		// Directives allowed both globally and per virtual.
		switch key {
		case "checktimeout", "negotiatetimeout", "connecttimeout", "checkinterval":
			d, err := haconf.ParseTime(val)
			if err != nil || d <= 0 {
				return nil, errf("%s=%s: want a time in seconds (like 5, or 500ms)", key, val)
			}
			switch {
			case key == "checkinterval" && cur != nil:
				cur.CheckInterval = d
			case key == "checkinterval":
				g.checkInterval = d
			case key == "checktimeout" && cur != nil:
				vt[cur].check = d
			case key == "checktimeout":
				g.checkTimeout = d
			case cur != nil:
				vt[cur].negotiate = d
			default:
				g.negotiateTimeout = d
			}
			continue
		case "failurecount":
			c, err := strconv.Atoi(val)
			if err != nil || c < 1 {
				return nil, errf("failurecount=%s: want a whole number of at least 1", val)
			}
			if cur != nil {
				cur.FailureCount = c
			} else {
				g.failureCount = c
			}
			continue
		case "quiescent":
			b, ok := haconf.ParseBool(val)
			if !ok {
				return nil, errf("quiescent=%s: want yes or no", val)
			}
			if cur != nil {
				cur.Quiescent, cur.quiescentSet = b, true
			} else {
				g.quiescent = b
			}
			continue
		case "fallback":
			f, err := parseReal(val, 0)
			if err != nil {
				return nil, errf("fallback=%s: %v", val, err)
			}
			f.Line = n
			if cur != nil {
				cur.Fallback = &f
			} else {
				g.fallback = &f
			}
			continue
		}
		if cur == nil {
			return nil, errf("unknown global directive %q (directives of a virtual service go indented under its virtual= line)", key)
		}
		if err := cur.set(key, val, n); err != nil {
			return nil, errf("%v", err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(cfg.Virtuals) == 0 {
		return nil, fmt.Errorf("%s: no virtual= service", file)
	}
	seen := map[lvs.Key]int{}
	for _, v := range cfg.Virtuals {
		if err := v.finish(g, vt[v].check, vt[v].negotiate); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, v.Line, err)
		}
		if l, dup := seen[v.Key]; dup {
			return nil, fmt.Errorf("%s:%d: virtual service %s is already defined at line %d", file, v.Line, v.Key, l)
		}
		seen[v.Key] = v.Line
	}
	return cfg, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// unset marks a per-virtual failurecount not given.
const unset = -1

func parseVirtual(val string) (*Virtual, error) {
	v := &Virtual{FailureCount: unset, HTTPMethod: "GET"}
	if m, err := strconv.ParseUint(val, 10, 32); err == nil && m > 0 {
		v.Key = lvs.Key{Proto: "FWM", FWMark: uint32(m)}
		return v, nil
	}
	ap, err := netip.ParseAddrPort(val)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("virtual=%s: want an IPv4 address and port (like 198.18.0.10:80) or a firewall mark", val)
	}
	proto := "TCP"
	if ap.Port() == 53 {
		proto = "UDP"
	}
	v.Key = lvs.Key{Proto: proto, Addr: ap}
	return v, nil
}

// requestReceiveRE is a real server's optional "request", "receive".
var requestReceiveRE = regexp.MustCompile(`^"([^"]*)"\s*,?\s*"([^"]*)"\s*$`)

// parseReal reads "ADDR[:PORT] [gate|masq|ipip] [WEIGHT] ["request", "receive"]".
func parseReal(val string, defPort uint16) (Real, error) {
	r := Real{Fwd: lvs.Route, Weight: 1}
	rest := val
	if i := strings.Index(rest, "\""); i >= 0 {
		q := rest[i:]
		rest = rest[:i]
		m := requestReceiveRE.FindStringSubmatch(q)
		if m == nil {
			return r, fmt.Errorf("the request and receive strings go in quotes: \"request\", \"receive\"")
		}
		r.Request, r.Receive = m[1], m[2]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return r, fmt.Errorf("no address")
	}
	if strings.Contains(f[0], "->") {
		return r, fmt.Errorf("address ranges (A->B) are not supported: list each real server")
	}
	ap, err := netip.ParseAddrPort(f[0])
	if err != nil {
		a, aerr := netip.ParseAddr(f[0])
		if aerr != nil {
			return r, fmt.Errorf("%q is not an IPv4 address[:port]", f[0])
		}
		ap = netip.AddrPortFrom(a, defPort)
	}
	if !ap.Addr().Is4() {
		return r, fmt.Errorf("%q is not an IPv4 address", f[0])
	}
	r.Addr = ap
	if len(f) > 1 {
		switch f[1] {
		case "gate":
			r.Fwd = lvs.Route
		case "masq":
			r.Fwd = lvs.Masq
		case "ipip":
			r.Fwd = lvs.Tunnel
		default:
			return r, fmt.Errorf("forwarding method %q: want gate, masq or ipip", f[1])
		}
	}
	if len(f) > 2 {
		w, err := strconv.Atoi(f[2])
		if err != nil || w < 0 || w > 65535 {
			return r, fmt.Errorf("weight %q: want 0 to 65535", f[2])
		}
		r.Weight = w
	}
	if len(f) > 3 {
		return r, fmt.Errorf("unexpected %q after the weight", strings.Join(f[3:], " "))
	}
	return r, nil
}

// set reads one indented directive of a virtual service.
func (v *Virtual) set(key, val string, line int) error {
	switch key {
	case "real":
		r, err := parseReal(val, v.Key.Addr.Port())
		if err != nil {
			return fmt.Errorf("real=%s: %v", val, err)
		}
		r.Line = line
		for _, o := range v.Reals {
			if o.Addr == r.Addr {
				return fmt.Errorf("real server %s is already listed at line %d", r.Addr, o.Line)
			}
		}
		v.Reals = append(v.Reals, r)
	case "scheduler":
		ok := false
		for _, s := range lvs.Schedulers {
			ok = ok || s == val
		}
		if !ok {
			return fmt.Errorf("scheduler=%s: not a scheduler (rr, wrr, sh, dh, lc, wlc, ...)", val)
		}
		v.Scheduler = val
	case "persistent":
		p, err := strconv.Atoi(val)
		if err != nil || p < 1 {
			return fmt.Errorf("persistent=%s: want seconds (at least 1)", val)
		}
		v.Persistent = p
	case "netmask":
		a, err := netip.ParseAddr(val)
		if err != nil || !a.Is4() {
			return fmt.Errorf("netmask=%s: want a dotted IPv4 netmask", val)
		}
		v.Netmask = a
	case "protocol":
		switch strings.ToLower(val) {
		case "tcp", "udp":
			if v.Key.Proto == "FWM" {
				return fmt.Errorf("protocol=%s: a firewall-mark service takes protocol=fwm", val)
			}
			v.Key.Proto = strings.ToUpper(val)
		case "fwm":
			if v.Key.Proto != "FWM" {
				return fmt.Errorf("protocol=fwm: the virtual= line gives an address, not a firewall mark")
			}
		default:
			return fmt.Errorf("protocol=%s: want tcp, udp or fwm", val)
		}
	case "checktype":
		switch val {
		case CheckConnect, CheckNegotiate, CheckPing, CheckExternal, CheckOn, CheckOff:
			v.CheckType = val
		default:
			return fmt.Errorf("checktype=%s: want connect, negotiate, ping, external, on or off", val)
		}
	case "service":
		v.Service = strings.ToLower(val)
	case "request":
		v.Request = val
	case "receive":
		v.Receive = val
	case "virtualhost":
		v.VirtualHost = val
	case "httpmethod":
		if val != "GET" && val != "HEAD" {
			return fmt.Errorf("httpmethod=%s: want GET or HEAD", val)
		}
		v.HTTPMethod = val
	case "checkport":
		p, err := strconv.ParseUint(val, 10, 16)
		if err != nil || p == 0 {
			return fmt.Errorf("checkport=%s: want a port number", val)
		}
		v.CheckPort = uint16(p)
	case "checkcommand":
		v.CheckCommand = val
	case "login", "passwd", "database", "secret", "ops":
		return fmt.Errorf("%s= is for service checks lubdub does not do (it negotiates http, https and simpletcp): use checktype=connect or external", key)
	default:
		return fmt.Errorf("unknown directive %q in a virtual service", key)
	}
	return nil
}

// finish applies globals and defaults and checks the whole service.
func (v *Virtual) finish(g globals, check, negotiate time.Duration) error {
	if v.Scheduler == "" {
		v.Scheduler = DefaultScheduler
	}
	if v.CheckType == "" {
		v.CheckType = CheckNegotiate
	}
	if v.Service == "" {
		v.Service = defaultService(v.Key.Addr.Port())
	}
	if v.CheckType == CheckNegotiate {
		ok := false
		for _, s := range negotiable {
			ok = ok || s == v.Service
		}
		if !ok {
			return fmt.Errorf("service=%s: lubdub negotiates http, https and simpletcp; use checktype=connect or external for %s", v.Service, v.Service)
		}
		if v.Service == "none" {
			v.CheckType = CheckConnect
		}
	}
	if v.CheckType == CheckNegotiate && v.Service == "simpletcp" && v.Receive == "" {
		return fmt.Errorf("service=simpletcp needs receive=")
	}
	if v.CheckType == CheckExternal && v.CheckCommand == "" {
		v.CheckCommand = "/bin/true"
	}
	if v.Receive != "" {
		re, err := regexp.Compile(v.Receive)
		if err != nil {
			return fmt.Errorf("receive=%q is not a regular expression: %v", v.Receive, err)
		}
		v.ReceiveRE = re
	}
	for i, r := range v.Reals {
		if r.Receive != "" {
			re, err := regexp.Compile(r.Receive)
			if err != nil {
				return fmt.Errorf("real=%s: receive %q is not a regular expression: %v", r.Addr, r.Receive, err)
			}
			v.Reals[i].ReceiveRE = re
		}
	}
	if v.CheckInterval == 0 {
		v.CheckInterval = g.checkInterval
	}
	if v.CheckInterval == 0 {
		v.CheckInterval = DefaultCheckInterval
	}
	// checktimeout falls back to negotiatetimeout, and both to defaults.
	if check == 0 {
		check = g.checkTimeout
	}
	if negotiate == 0 {
		negotiate = g.negotiateTimeout
	}
	// A negotiate check takes negotiatetimeout, else checktimeout, else
	// 30 s; the others checktimeout, else negotiatetimeout, else 5 s.
	switch {
	case v.CheckType == CheckNegotiate && negotiate != 0:
		v.CheckTimeout = negotiate
	case v.CheckType == CheckNegotiate && check != 0:
		v.CheckTimeout = check
	case v.CheckType == CheckNegotiate:
		v.CheckTimeout = DefaultNegotiateTimeout
	case check != 0:
		v.CheckTimeout = check
	case negotiate != 0:
		v.CheckTimeout = negotiate
	default:
		v.CheckTimeout = DefaultCheckTimeout
	}
	if v.FailureCount == unset {
		v.FailureCount = g.failureCount
	}
	if !v.quiescentSet {
		v.Quiescent = g.quiescent
	}
	if v.Fallback == nil && g.fallback != nil {
		f := *g.fallback
		v.Fallback = &f
	}
	if v.Fallback != nil && v.Fallback.Addr.Port() == 0 {
		v.Fallback.Addr = netip.AddrPortFrom(v.Fallback.Addr.Addr(), v.Key.Addr.Port())
	}
	return nil
}
