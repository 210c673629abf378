// Package ldirectord reads ldirectord.cf, the file Heartbeat users gave
// ldirectord, and keeps the virtual services it describes in the kernel,
// adding and removing real servers as their health checks pass and fail.
//
// Parse reads the file as ldirectord's read_config does (every directive
// it accepts, with its defaults and its error messages, but every error of
// a file at once, in file order); Desired (pure) turns the configuration
// and the servers' health into the table the kernel should hold; Checker
// (checks over real sockets and scripts) feeds it and syncs a
// datapath.DataPath, and takes a changed configuration on reload.
package ldirectord

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lvs"
)

// Check types (checktype=); CheckCombined is checktype=N (N connect
// checks, then one negotiate check).
const (
	CheckConnect      = "connect"
	CheckNegotiate    = "negotiate"
	CheckPing         = "ping"
	CheckExternal     = "external"
	CheckExternalPerl = "external-perl"
	CheckOn           = "on"
	CheckOff          = "off"
	CheckCombined     = "combined"
)

// Config is one ldirectord.cf.
type Config struct {
	File     string
	Virtuals []*Virtual
	// Notes are directives read but without (full) effect in lubdub, and
	// ldirectord's warnings, each as FILE:LINE: text.
	Notes []string
	// MaintenanceDir is maintenancedir=: a real server with a file named
	// for it there (IP or IP:PORT) is taken out, as by a failed check.
	MaintenanceDir string
	// AutoReload is autoreload=yes: the file is re-read when it changes.
	AutoReload bool
}

// Real is one real (or fallback) server.
type Real struct {
	// Addr is where traffic goes: a real server given without a port
	// takes the virtual service's (as ipvsadm does with port 0).
	Addr netip.AddrPort
	// PortGiven is false for a real server written without a port;
	// ldirectord then checks the service's well-known port (ld_checkport)
	// and hands its external check "0".
	PortGiven bool
	Fwd       string // lvs.Masq, lvs.Route, lvs.Tunnel
	Weight    int
	// Request and Receive are per-server overrides ("" when not given);
	// Request starts with "/", as ldirectord makes it.
	Request, Receive string
	Line             int
	// ReceiveRE is Receive compiled (nil without one).
	ReceiveRE *regexp.Regexp
	// fwdDefault: a fallback written without a method (gate, by
	// ldirectord's default).
	fwdDefault bool
}

// Virtual is one virtual service with its checks.
type Virtual struct {
	Line      int
	Key       lvs.Key
	Reals     []Real
	Fallback  *Real
	Scheduler string
	// Persistent is persistent= in seconds; 0: not persistent.
	Persistent int
	Netmask    netip.Addr
	CheckType  string
	// NumConnects is N of checktype=N (CheckCombined).
	NumConnects int
	Service     string
	// Request starts with "/" (ldirectord prefixes one); "/" by default.
	Request     string
	Receive     string
	ReceiveRE   *regexp.Regexp
	VirtualHost string
	HTTPMethod  string
	CheckPort   uint16
	// CheckCommand is the program of checktype=external (one path, run
	// without a shell, as ldirectord's exec does).
	CheckCommand  string
	CheckInterval time.Duration
	// CheckTimeout bounds connect, ping (per attempt) and external
	// checks; NegotiateTimeout bounds negotiate checks. Each falls back
	// on the other and then on the global values, as ldirectord's
	// ld_setup does.
	CheckTimeout     time.Duration
	NegotiateTimeout time.Duration
	// CheckCount is the number of ping attempts (checkcount=).
	CheckCount   int
	FailureCount int
	Quiescent    bool
	// CleanStop is cleanstop=: the service leaves the kernel when a
	// standalone lubdub ldirectord stops.
	CleanStop bool

	// as written, resolved at the end of the block
	bad        bool // its virtual= line was wrong: read, reported, dropped
	schedLine  int
	host, port string
	quiescent  string // "", "yes", "no"
	cleanstop  string
	checkTO    time.Duration
	negTO      time.Duration
	checkCount int
	intervalAt int
}

// Defaults are ldirectord's (set_defaults and the per-service defaults of
// read_config).
const (
	DefaultCheckInterval    = 10 * time.Second
	DefaultCheckTimeout     = 5 * time.Second
	DefaultNegotiateTimeout = 30 * time.Second
	DefaultScheduler        = "wrr"
	// MaxRange bounds a real= address range (A->B); ldirectord has no
	// bound.
	MaxRange = 1024
)

// negotiated are the services lubdub negotiates as ldirectord does; for
// the others of ldirectord's list it checks by connecting.
var negotiated = map[string]bool{"http": true, "https": true, "http_proxy": true, "simpletcp": true, "none": true}

// services is ldirectord's list for service=, with the well-known port
// ld_service_to_port gives each (0: none).
var services = map[string]uint16{
	"dns": 53, "ftp": 21, "http": 80, "https": 443, "http_proxy": 3128, "imap": 143, "imaps": 993,
	"ldap": 389, "ldaps": 636, "nntp": 119, "mysql": 3306, "none": 0, "oracle": 1521, "pop": 110,
	"pops": 995, "radius": 1812, "pgsql": 5432, "sip": 5060, "smtp": 25, "submission": 587, "simpletcp": 0,
}

// defaultService is ldirectord's ld_port_to_service: service= from the
// virtual service's port.
func defaultService(port uint16) string {
	for s, p := range services {
		if p == port && p != 0 {
			return s
		}
	}
	return "none"
}

// servicePort is ld_service_to_port.
func servicePort(s string) uint16 { return services[s] }

// Resolver turns host and service names into addresses and ports, as
// ldirectord's ld_gethostbyname (getaddrinfo, IPv4) and ld_getservbyname
// (getservbyname: /etc/services) do. proto is "tcp", "udp" or "" (any).
type Resolver interface {
	LookupHost(name string) (netip.Addr, error)
	LookupPort(proto, name string) (uint16, error)
}

// SystemResolver resolves through the system's files and name servers
// (/etc/hosts, /etc/services, then DNS per /etc/nsswitch.conf), each
// lookup bounded by Timeout.
type SystemResolver struct{ Timeout time.Duration }

// LookupHost returns name's first IPv4 address.
func (s SystemResolver) LookupHost(name string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return a.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout())
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(as) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no IPv4 address", name)
	}
	return as[0].Unmap(), nil
}

// LookupPort returns a port number as it is (0 to 65535) or a service
// name's port.
func (s SystemResolver) LookupPort(proto, name string) (uint16, error) {
	if n, err := strconv.ParseUint(name, 10, 64); err == nil {
		if n > 65535 {
			return 0, fmt.Errorf("port %s is out of range", name)
		}
		return uint16(n), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout())
	defer cancel()
	if proto != "tcp" && proto != "udp" {
		proto = "ip"
	}
	p, err := net.DefaultResolver.LookupPort(ctx, proto, name)
	if err != nil {
		return 0, err
	}
	return uint16(p), nil
}

func (s SystemResolver) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 5 * time.Second
}

// NumericResolver takes only numbers (for fuzzing: no lookups).
type NumericResolver struct{}

// LookupHost parses an address.
func (NumericResolver) LookupHost(name string) (netip.Addr, error) {
	a, err := netip.ParseAddr(name)
	return a.Unmap(), err
}

// LookupPort parses a port.
func (NumericResolver) LookupPort(_, name string) (uint16, error) {
	n, err := strconv.ParseUint(name, 10, 16)
	return uint16(n), err
}

// Error is one problem of a file, at a line (0: the file as a whole).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Errors are every problem of a file, in file order.
type Errors []Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
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

// ReadFile reads and parses a configuration file, resolving names through
// the system.
func ReadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads an ldirectord.cf, resolving names through the system. The
// error, if any, is Errors: every problem, each naming its line.
func Parse(file string, r io.Reader) (*Config, error) {
	return ParseWith(file, r, SystemResolver{})
}

// parser holds the state of one read.
type parser struct {
	file  string
	res   Resolver
	cfg   *Config
	errs  Errors
	notes []note
	// globals
	checkTO, negTO          time.Duration
	checkInterval           time.Duration
	checkCount, failures    int
	quiescent, cleanstop    bool
	fork                    bool
	fallback                *fallbackSpec
	seen                    map[lvs.Key]int
	checkIntervalGlobalLine int
	vfallback               map[*Virtual]*fallbackSpec
}

type note struct {
	line int
	text string
}

// fallbackSpec is a fallback= as written; its port stays a name until the
// virtual service's protocol is known.
type fallbackSpec struct {
	host, port, fwd string
	fwdGiven        bool
	line            int
}

func (p *parser) errf(line int, format string, a ...any) {
	p.errs = append(p.errs, Error{p.file, line, fmt.Sprintf(format, a...)})
}

func (p *parser) notef(line int, format string, a ...any) {
	p.notes = append(p.notes, note{line, fmt.Sprintf(format, a...)})
}

// ParseWith is Parse with a resolver of the caller's.
func ParseWith(file string, r io.Reader, res Resolver) (*Config, error) {
	p := &parser{file: file, res: res, cfg: &Config{File: file}, checkInterval: DefaultCheckInterval,
		checkCount: 1, failures: 1, cleanstop: true, seen: map[lvs.Key]int{},
		vfallback: map[*Virtual]*fallbackSpec{}}
	var cur *Virtual
	skipping := false // inside a virtual6 block
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		line := stripComment(trimmed)
		// ldirectord takes a virtual service's directives from the
		// indented lines that follow its virtual= line.
		indented := raw[0] == ' ' || raw[0] == '\t'
		if indented && skipping {
			continue
		}
		if indented && cur != nil {
			p.virtualDirective(cur, line, n)
			continue
		}
		if cur != nil {
			p.finish(cur)
			cur = nil
		}
		skipping = false
		key, val, _ := strings.Cut(line, "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		switch {
		case indented:
			p.errf(n, "Unknown command %q (a virtual service's directives go indented under its virtual= line; there is none above)", line)
		case key == "virtual":
			cur = p.virtual(val, n)
		case key == "virtual6":
			p.errf(n, "virtual6=%s: IPv6 virtual services are not supported by lubdub", val)
			skipping = true
		default:
			p.global(key, val, line, n)
		}
	}
	if cur != nil {
		p.finish(cur)
	}
	for _, v := range p.cfg.Virtuals {
		p.applyGlobals(v)
	}
	if err := sc.Err(); err != nil {
		p.errs = append(p.errs, Error{file, n + 1, fmt.Sprintf("reading: %v", err)})
	}
	if len(p.cfg.Virtuals) == 0 && len(p.errs) == 0 {
		p.errs = append(p.errs, Error{file, 0, "no virtual= service"})
	}
	if p.checkIntervalGlobalLine == 0 && !p.fork {
		for _, v := range p.cfg.Virtuals {
			if v.intervalAt != 0 {
				p.notef(v.intervalAt, "checkinterval in virtual service %s: ldirectord ignores it when fork=no; lubdub honours it", v.Key)
			}
		}
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	p.errs = slices.Compact(p.errs)
	sort.SliceStable(p.notes, func(i, j int) bool { return p.notes[i].line < p.notes[j].line })
	for _, nt := range p.notes {
		p.cfg.Notes = append(p.cfg.Notes, Error{file, nt.line, nt.text}.Error())
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.cfg, nil
}

// stripComment drops a trailing comment; a # inside quotes stays.
func stripComment(s string) string {
	inQuote := false
	for i, c := range s {
		switch {
		case c == '"':
			inQuote = !inQuote
		case c == '#' && !inQuote:
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// quoted is ldirectord's KEY="(.*)": the text between the first and the
// last quote, or the whole value when unquoted (which lubdub accepts).
func quoted(s string) string {
	if i, j := strings.Index(s, `"`), strings.LastIndex(s, `"`); i == 0 && j > i {
		return s[i+1 : j]
	}
	return s
}

var digitsRE = regexp.MustCompile(`\d+`)

// seconds reads a time as ldirectord does (the first run of digits, in
// seconds) or as lubdub writes times (2, 1.5, 500ms). 0 means invalid.
func seconds(val string) time.Duration {
	if d, err := haconf.ParseTime(val); err == nil {
		return d
	}
	if m := digitsRE.FindString(val); m != "" {
		if n, err := strconv.Atoi(m); err == nil && n <= 1e6 {
			return time.Duration(n) * time.Second
		}
	}
	return 0
}

// count is ldirectord's `$1 =~ /(\d+)/ && $1`: the first run of digits,
// not 0.
func count(val string) int {
	if m := digitsRE.FindString(val); m != "" {
		if n, err := strconv.Atoi(m); err == nil && n <= 1e6 {
			return n
		}
	}
	return 0
}

func yesNo(val string) (bool, bool) {
	switch val {
	case "yes":
		return true, true
	case "no":
		return false, true
	}
	return false, false
}

// noEffect are directives lubdub reads (checking their values as
// ldirectord does) but does not act on, with why.
var noEffect = map[string]string{
	"logfile":          "lubdub logs to standard error (or, in the daemon, to ha.cf's logfile)",
	"callback":         "lubdub runs no callback when the file changes",
	"execute":          "lubdub starts no further ldirectord instances: run each configuration with lubdub ldirectord",
	"fork":             "lubdub checks each virtual service on its own schedule, as ldirectord does with fork=yes",
	"supervised":       "lubdub ldirectord always runs in the foreground",
	"readdquiescent":   "lubdub keeps a quiescent real server in the table at weight 0",
	"emailalert":       "lubdub sends no mail",
	"emailalertfreq":   "lubdub sends no mail",
	"emailalertstatus": "lubdub sends no mail",
	"emailalertfrom":   "lubdub sends no mail",
	"smtp":             "lubdub sends no mail",
	"fallbackcommand":  "lubdub runs no fallback command",
	"monitorfile":      "lubdub logs check results to its log, not to a monitor file",
	"servicename":      "it names the service in ldirectord's e-mail alerts, which lubdub does not send",
	"comment":          "it goes into ldirectord's e-mail alerts, which lubdub does not send",
	"load":             "ldirectord reads it and never uses it",
	"schedflags":       "lubdub's tables have no scheduler flags (ipvsadm -b)",
	"login":            "lubdub does not log in to the service it checks",
	"passwd":           "lubdub does not log in to the service it checks",
	"database":         "lubdub does not query databases",
	"secret":           "lubdub does not speak RADIUS",
}

// global reads one directive outside a virtual service.
func (p *parser) global(key, val, line string, n int) {
	switch key {
	case "checktimeout", "negotiatetimeout", "checkinterval":
		d := seconds(val)
		if d <= 0 {
			msg := map[string]string{"checktimeout": "invalid check timeout value",
				"negotiatetimeout": "invalid negotiate timeout value", "checkinterval": "invalid check interval value"}[key]
			p.errf(n, "%s (%s=%s)", msg, key, val)
			return
		}
		switch key {
		case "checktimeout":
			p.checkTO = d
		case "negotiatetimeout":
			p.negTO = d
		default:
			p.checkInterval = d
			p.checkIntervalGlobalLine = n
		}
	case "connecttimeout":
		d := seconds(val)
		if d <= 0 {
			p.errf(n, "invalid negotiate timeout value (connecttimeout=%s)", val)
			return
		}
		p.negTO = d
		p.notef(n, "connecttimeout directive deprecated in favour of negotiatetimeout (ldirectord refuses it; lubdub reads it as negotiatetimeout)")
	case "timeout":
		p.errf(n, "timeout directive deprecated in favour of checktimeout and negotiatetimeout")
	case "checkcount":
		c := count(val)
		if c == 0 {
			p.errf(n, "invalid check count value (checkcount=%s)", val)
			return
		}
		p.checkCount = c
		p.notef(n, "checkcount option is deprecated and slated for removal.  please see 'failurecount' (lubdub uses it as ldirectord does: ping attempts)")
	case "failurecount":
		c := count(val)
		if c == 0 {
			p.errf(n, "invalid failure count value (failurecount=%s)", val)
			return
		}
		p.failures = c
	case "fallback":
		if f := p.parseFallback(val, n); f != nil {
			// Resolved now for both protocols, as ldirectord does.
			if _, err := p.res.LookupHost(f.host); err != nil {
				p.errf(n, "invalid IPv4 address or could not resolve for fallback server: %s", f.host)
				return
			}
			if f.port != "" {
				_, e1 := p.res.LookupPort("tcp", f.port)
				_, e2 := p.res.LookupPort("udp", f.port)
				if e1 != nil && e2 != nil {
					p.errf(n, "invalid port for fallback server (%s)", f.port)
					return
				}
			}
			p.fallback = f
		}
	case "fallback6":
		p.notef(n, "fallback6 has no effect: lubdub has no IPv6 virtual services")
	case "fallbackcommand":
		if val == "" {
			p.errf(n, "invalid fallback command")
			return
		}
		p.notef(n, "fallbackcommand has no effect: %s", noEffect[key])
	case "autoreload":
		b, ok := yesNo(val)
		if !ok {
			p.errf(n, "autoreload must be 'yes' or 'no' (autoreload=%s)", val)
			return
		}
		p.cfg.AutoReload = b
	case "callback", "logfile":
		if !strings.HasPrefix(val, `"`) || strings.Count(val, `"`) < 2 {
			p.errf(n, "Unknown command %q (ldirectord reads %s only in quotes: %s=\"...\")", line, key, key)
			return
		}
		p.notef(n, "%s has no effect: %s", key, noEffect[key])
	case "execute":
		p.notef(n, "execute has no effect: %s", noEffect[key])
	case "fork":
		b, ok := yesNo(val)
		if !ok {
			p.errf(n, "fork must be 'yes' or 'no' (fork=%s)", val)
			return
		}
		p.fork = b
		p.notef(n, "fork has no effect: %s", noEffect[key])
	case "supervised":
		if _, ok := yesNo(val); !ok && !(val == "" && !strings.Contains(line, "=")) {
			p.errf(n, "supervised must be 'yes' or 'no' (supervised=%s)", val)
			return
		}
		if !strings.Contains(line, "=") {
			p.notef(n, "please update your config not to use a bare supervised directive")
		}
		p.notef(n, "supervised has no effect: %s", noEffect[key])
	case "quiescent", "readdquiescent", "cleanstop":
		b, ok := yesNo(val)
		if !ok {
			p.errf(n, "%s must be 'yes' or 'no' (%s=%s)", key, key, val)
			return
		}
		switch key {
		case "quiescent":
			p.quiescent = b
		case "cleanstop":
			p.cleanstop = b
		default:
			p.notef(n, "readdquiescent has no effect: %s", noEffect[key])
		}
	case "emailalert", "emailalertfreq", "emailalertstatus", "emailalertfrom", "smtp":
		if p.mail(key, val, n) {
			p.notef(n, "%s has no effect: %s", key, noEffect[key])
		}
	case "maintenancedir":
		if val == "" {
			p.errf(n, "maintenance directory not specified")
			return
		}
		p.cfg.MaintenanceDir = val
		if fi, err := os.Stat(val); err != nil || !fi.IsDir() {
			p.notef(n, "maintenance directory does not exist")
		}
	default:
		p.errf(n, "Unknown command %q", line)
	}
}

var (
	emailStatusWords = map[string]bool{"all": true, "none": true, "starting": true, "stopping": true, "running": true, "reloading": true}
	smtpRE           = regexp.MustCompile(`^[0-9A-Za-z._+-]+`)
)

// mail checks the e-mail directives' values as ldirectord does.
func (p *parser) mail(key, val string, n int) bool {
	switch key {
	case "emailalert":
		if unquote(val) == "" {
			p.errf(n, "no email address specified")
			return false
		}
	case "emailalertfreq":
		if !regexp.MustCompile(`^\d+$`).MatchString(val) {
			p.errf(n, "invalid email alert frequency (emailalertfreq=%s)", val)
			return false
		}
	case "emailalertstatus":
		words := regexp.MustCompile(`\s*,\s*`).Split(val, -1)
		none := false
		for _, w := range words {
			none = none || w == "none"
		}
		for _, w := range words {
			if w == "none" {
				continue
			}
			if !emailStatusWords[w] {
				p.errf(n, "invalid email alert status at: %q", w)
				return false
			}
			if none {
				p.errf(n, "invalid email alert status: %q specified with \"none\"", w)
				return false
			}
		}
	case "emailalertfrom":
		if val == "" {
			p.errf(n, "no email from address specified")
			return false
		}
	case "smtp":
		if !smtpRE.MatchString(val) {
			p.errf(n, "invalid SMTP server address (smtp=%s)", val)
			return false
		}
	}
	return true
}

var (
	virtualIPRE   = regexp.MustCompile(`^(\d+\.\d+\.\d+\.\d+):([0-9A-Za-z_-]+)`)
	virtualHostRE = regexp.MustCompile(`^([0-9A-Za-z._+-]+):([0-9A-Za-z_-]+)`)
	virtualFWMRE  = regexp.MustCompile(`^(\d+)`)
	virtual6RE    = regexp.MustCompile(`^\[([0-9A-Fa-f:]+)\]:([0-9A-Za-z_-]+)`)
	dottedRE      = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
)

// virtual starts a virtual service: virtual=ADDR:PORT, HOST:SERVICE or a
// firewall mark. Its address is resolved at the end of its block, when
// the protocol is known.
func (p *parser) virtual(val string, n int) *Virtual {
	v := &Virtual{Line: n, CheckType: CheckNegotiate, Scheduler: DefaultScheduler, Request: "/", HTTPMethod: "GET",
		CheckCommand: "/bin/true", FailureCount: -1, checkCount: -1}
	val = strings.TrimSpace(val)
	bad := func(format string, a ...any) *Virtual {
		p.errf(n, format, a...)
		v.bad = true
		return v
	}
	if m := virtualIPRE.FindStringSubmatch(val); m != nil {
		v.host, v.port = m[1], m[2]
	} else if m := virtualHostRE.FindStringSubmatch(val); m != nil {
		v.host, v.port = m[1], m[2]
	} else if m := virtualFWMRE.FindStringSubmatch(val); m != nil {
		if dottedRE.MatchString(strings.Fields(val)[0]) {
			return bad("invalid address for virtual server: %s has no port (ldirectord would read it as firewall mark %s): write ADDRESS:PORT", val, m[1])
		}
		mark, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil || mark == 0 {
			return bad("invalid address for virtual server: firewall mark %s (want 1 to 4294967295)", m[1])
		}
		v.Key = lvs.Key{Proto: "FWM", FWMark: uint32(mark)}
		v.Service, v.port = "none", "0"
	} else if virtual6RE.MatchString(val) {
		return bad("cannot specify an IPv6 address here. please use \"virtual6\" instead. (lubdub has no IPv6 virtual services)")
	} else {
		return bad("invalid address for virtual server (virtual=%s)", val)
	}
	if v.host != "" {
		v.Key.Proto = "TCP"
		if v.port == "53" || v.port == "domain" {
			v.Key.Proto = "UDP"
		}
	}
	return v
}

// virtualDirective reads one indented line of a virtual service (v is
// nil when its virtual= line was wrong: the block is still read, so that
// its own errors are reported too).
func (p *parser) virtualDirective(v *Virtual, line string, n int) {
	key, val, _ := strings.Cut(line, "=")
	key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
	fwm := v.Key.Proto == "FWM"
	switch key {
	case "real":
		p.reals(v, val, n)
	case "real6":
		p.errf(n, `cannot specify "real6" here.  please use "real" instead`)
	case "request":
		s := quoted(val)
		if s == "" {
			p.errf(n, "no request string specified")
			return
		}
		if !strings.HasPrefix(s, "/") {
			s = "/" + s
		}
		v.Request = s
	case "receive":
		s := quoted(val)
		if s == "" {
			p.errf(n, "invalid receive string")
			return
		}
		re, err := regexp.Compile(s)
		if err != nil {
			p.errf(n, "receive=%s: lubdub cannot use this Perl regular expression (Go's RE2 has no look-around or back-references): %v", val, err)
			return
		}
		v.Receive, v.ReceiveRE = s, re
	case "checktype":
		switch {
		case regexp.MustCompile(`^\d+$`).MatchString(val):
			c, err := strconv.Atoi(val)
			if err != nil || c > 1e6 {
				p.errf(n, "checktype=%s: number too large", val)
				return
			}
			v.CheckType, v.NumConnects = CheckCombined, c
		case val == CheckConnect || val == CheckNegotiate || val == CheckPing || val == CheckOff || val == CheckOn ||
			val == CheckExternal || val == CheckExternalPerl:
			v.CheckType = val
		default:
			p.errf(n, `checktype must be "connect", "negotiate", "on", "off", "ping", "external", "external-perl" or a positive number (checktype=%s)`, val)
		}
	case "checkcommand":
		s := quoted(val)
		if s == "" {
			p.errf(n, "invalid check command")
			return
		}
		v.CheckCommand = s
	case "checktimeout", "negotiatetimeout", "checkinterval":
		d := seconds(val)
		if d <= 0 {
			msg := map[string]string{"checktimeout": "invalid check timeout", "negotiatetimeout": "invalid negotiate timeout",
				"checkinterval": "invalid checkinterval"}[key]
			p.errf(n, "%s (%s=%s)", msg, key, val)
			return
		}
		switch key {
		case "checktimeout":
			v.checkTO = d
		case "negotiatetimeout":
			v.negTO = d
		default:
			v.CheckInterval, v.intervalAt = d, n
		}
	case "connecttimeout":
		d := seconds(val)
		if d <= 0 {
			p.errf(n, "invalid negotiate timeout (connecttimeout=%s)", val)
			return
		}
		v.negTO = d
		p.notef(n, "connecttimeout directive deprecated in favour of negotiatetimeout (ldirectord refuses it; lubdub reads it as negotiatetimeout)")
	case "checkcount":
		c := count(val)
		if c == 0 {
			p.errf(n, "invalid check count (checkcount=%s)", val)
			return
		}
		v.checkCount = c
		p.notef(n, "checkcount option is deprecated and slated for removal.  please see 'failurecount' (lubdub uses it as ldirectord does: ping attempts)")
	case "failurecount":
		c := count(val)
		if c == 0 {
			p.errf(n, "invalid failure count (failurecount=%s)", val)
			return
		}
		v.FailureCount = c
	case "checkport":
		m := digitsRE.FindString(val)
		if m == "" {
			p.errf(n, "invalid port (checkport=%s)", val)
			return
		}
		c, err := strconv.Atoi(m)
		if err != nil || c < 1 || c > 65535 {
			p.errf(n, "checkport must be in range 1..65536 (checkport=%s; 65535 is the highest port)", val)
			return
		}
		v.CheckPort = uint16(c)
	case "login", "passwd", "database", "secret", "load":
		s := quoted(val)
		msg := map[string]string{"login": "invalid login string", "passwd": "invalid password", "database": "invalid database",
			"secret": "invalid secret", "load": "invalid string for load testing"}[key]
		if s == "" || key == "load" && !regexp.MustCompile(`\w`).MatchString(s) {
			p.errf(n, "%s", msg)
			return
		}
		p.notef(n, "%s has no effect: %s", key, noEffect[key])
	case "scheduler":
		m := regexp.MustCompile(`[a-z]+`).FindString(val)
		if m == "" {
			p.errf(n, "invalid scheduler, should be only lowercase letters (a-z) (scheduler=%s)", val)
			return
		}
		known := false
		for _, s := range lvs.Schedulers {
			known = known || s == m
		}
		if !known {
			p.errf(n, "scheduler=%s: no such scheduler (IPVS has %s)", val, strings.Join(lvs.Schedulers, ", "))
			return
		}
		v.Scheduler, v.schedLine = m, n
	case "persistent":
		m := digitsRE.FindString(val)
		if m == "" {
			p.errf(n, "invalid persistent timeout (persistent=%s)", val)
			return
		}
		s, err := strconv.Atoi(m)
		if err != nil || s < 1 {
			p.errf(n, "invalid persistent timeout (persistent=%s: want at least 1 second)", val)
			return
		}
		v.Persistent = s
	case "schedflags":
		if strings.TrimSpace(val) == "" {
			p.errf(n, "invalid sched-flags")
			return
		}
		p.notef(n, "schedflags has no effect: %s", noEffect[key])
	case "netmask":
		a, err := netip.ParseAddr(val)
		if !dottedRE.MatchString(val) || err != nil || !a.Is4() {
			p.errf(n, "invalid netmask: dotted quad notation is required (netmask=%s)", val)
			return
		}
		v.Netmask = a
	case "protocol":
		m := regexp.MustCompile(`\w+`).FindString(val)
		switch {
		case m == "":
			p.errf(n, "invalid protocol")
		case fwm && m != "fwm":
			p.errf(n, "protocol must be fwm if the virtual service is a fwmark (a number)")
		case !fwm && m != "tcp" && m != "udp":
			p.errf(n, "protocol must be tcp or udp if the virtual service is an address and port")
		case !fwm:
			v.Key.Proto = strings.ToUpper(m)
		}
	case "ops":
		b, ok := yesNo(val)
		if !ok {
			p.errf(n, "ops must be 'yes' or 'no' (ops=%s)", val)
			return
		}
		if b {
			p.notef(n, "ops=yes has no effect: lubdub's tables have no one-packet scheduling (ipvsadm -o)")
		}
	case "service":
		m := regexp.MustCompile(`\w+`).FindString(val)
		if _, ok := services[m]; !ok || m == "" {
			p.errf(n, "service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, sip, smtp or submission (service=%s)", val)
			return
		}
		v.Service = m
	case "httpmethod":
		m := strings.ToUpper(regexp.MustCompile(`\w+`).FindString(val))
		if m != "GET" && m != "HEAD" {
			p.errf(n, "httpmethod must be GET or HEAD (httpmethod=%s)", val)
			return
		}
		v.HTTPMethod = m
	case "virtualhost":
		v.VirtualHost = strings.Trim(val, `"`)
	case "fallback":
		if f := p.parseFallback(val, n); f != nil {
			p.vfallback[v] = f
		}
	case "fallback6":
		p.errf(n, `cannot specify "fallback6" here.  please use "fallback" instead`)
	case "fallbackcommand":
		if quoted(val) == "" {
			p.errf(n, "invalid fallback command")
			return
		}
		p.notef(n, "fallbackcommand has no effect: %s", noEffect[key])
	case "quiescent", "cleanstop":
		if _, ok := yesNo(val); !ok {
			p.errf(n, "%s must be 'yes' or 'no' (%s=%s)", key, key, val)
			return
		}
		if key == "quiescent" {
			v.quiescent = val
		} else {
			v.cleanstop = val
		}
	case "emailalert", "emailalertfreq", "emailalertstatus", "smtp":
		if p.mail(key, val, n) {
			p.notef(n, "%s has no effect: %s", key, noEffect[key])
		}
	case "monitorfile":
		if quoted(val) == "" {
			p.errf(n, "unable to open monitorfile : no file named")
			return
		}
		p.notef(n, "monitorfile has no effect: %s", noEffect[key])
	case "servicename", "comment":
		p.notef(n, "%s has no effect: %s", key, noEffect[key])
	default:
		p.errf(n, "Unknown command %q", line)
	}
}

var (
	realRE = regexp.MustCompile(`^(\d+\.\d+\.\d+\.\d+|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])` +
		`(->(\d+\.\d+\.\d+\.\d+|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]))?(:(\d+|[A-Za-z0-9_-]+))?\s+(.*)$`)
	fwdRE       = regexp.MustCompile(`^(\w+)(.*)$`)
	weightRE    = regexp.MustCompile(`^\s+(\d+)(.*)$`)
	reqRecvRE   = regexp.MustCompile(`^\s+"(.*)"[, ]\s*"(.*)"(.*)$`)
	lowThreshRE = regexp.MustCompile(`^\s+l:(\d+)(.*)$`)
	upThreshRE  = regexp.MustCompile(`^\s+u:(\d+)(.*)$`)
	fallbackRE  = regexp.MustCompile(`^(\S+)(?:\s+(\S+))?\s*$`)
	hostPortRE  = regexp.MustCompile(`^(.*?)(?::([0-9A-Za-z_-]+))?$`)
)

// forwardings maps ldirectord's forwarding methods to ipvsadm's.
var forwardings = map[string]string{"gate": lvs.Route, "masq": lvs.Masq, "ipip": lvs.Tunnel}

// reals reads real=ADDR[->ADDR][:PORT] gate|masq|ipip [WEIGHT]
// ["REQUEST", "RECEIVE"] [l:LOW] [u:HIGH], as add_real_server does.
func (p *parser) reals(v *Virtual, val string, n int) {
	m := realRE.FindStringSubmatch(val)
	if m == nil {
		hint := ""
		if !strings.ContainsAny(strings.TrimSpace(val), " \t") {
			hint = ": give a forwarding method after the address (gate, masq or ipip)"
		}
		p.errf(n, "invalid address for real server (wrong format) (real=%s)%s", val, hint)
		return
	}
	r := Real{Line: n, Weight: 1}
	first, err := p.res.LookupHost(m[1])
	if err != nil || !first.Is4() {
		p.errf(n, "invalid address (%s) for real server (could not resolve host)", m[1])
		return
	}
	last := first
	if m[3] != "" {
		if last, err = p.res.LookupHost(m[3]); err != nil || !last.Is4() {
			p.errf(n, "invalid address (%s) for real server (could not resolve end host)", m[3])
			return
		}
	}
	var port uint16
	if m[5] != "" {
		if port, err = p.res.LookupPort("", m[5]); err != nil {
			p.errf(n, "invalid port (%s) for real server (could not resolve port)", m[5])
			return
		}
		r.PortGiven = port != 0
	}
	fm := fwdRE.FindStringSubmatch(m[6])
	if fm == nil || forwardings[fm[1]] == "" {
		p.errf(n, "forward method must be gate, masq or ipip (real=%s)", val)
		return
	}
	r.Fwd = forwardings[fm[1]]
	rest := fm[2]
	if w := weightRE.FindStringSubmatch(rest); w != nil {
		wt, err := strconv.Atoi(w[1])
		// ldirectord takes any number and leaves ipvsadm to refuse it at
		// start; ipvsadm 1.31 and IPVS take 0 to INT_MAX.
		if err != nil || wt > math.MaxInt32 {
			p.errf(n, "weight %s of real server %s: ipvsadm takes 0 to %d", w[1], m[1], math.MaxInt32)
			return
		}
		r.Weight, rest = wt, w[2]
	}
	if rr := reqRecvRE.FindStringSubmatch(rest); rr != nil {
		r.Request, r.Receive, rest = rr[1], rr[2], rr[3]
		if !strings.HasPrefix(r.Request, "/") {
			r.Request = "/" + r.Request
		}
		if r.ReceiveRE, err = regexp.Compile(r.Receive); err != nil {
			p.errf(n, "receive string %q of real server %s: lubdub cannot use this Perl regular expression (Go's RE2 has no look-around or back-references): %v", r.Receive, m[1], err)
			return
		}
	}
	for _, th := range []*regexp.Regexp{lowThreshRE, upThreshRE} {
		if t := th.FindStringSubmatch(rest); t != nil {
			p.notef(n, "connection thresholds (l:, u:) of real server %s have no effect: lubdub's tables have none (ipvsadm -x, -y)", m[1])
			rest = t[2]
		}
	}
	if strings.TrimSpace(rest) != "" {
		p.errf(n, "Invalid real server line, around %q", rest)
		return
	}
	lo, hi := ipInt(first), ipInt(last)
	if lo > hi {
		p.errf(n, "Invalid Range: %s-%s: the first address must not be greater than the second", first, last)
		return
	}
	if hi-lo >= MaxRange {
		p.errf(n, "range %s->%s has %d addresses: lubdub takes at most %d in one real= line", first, last, hi-lo+1, MaxRange)
		return
	}
	for a := lo; ; a++ {
		rr := r
		rr.Addr = netip.AddrPortFrom(intIP(a), port)
		dup := false
		for _, o := range v.Reals {
			if o.Addr.Addr() == rr.Addr.Addr() && o.Addr.Port() == rr.Addr.Port() {
				p.notef(n, "real server %s is already listed at line %d: ipvsadm would refuse it a second time; the first stays", rr.Addr, o.Line)
				dup = true
			}
		}
		if !dup {
			v.Reals = append(v.Reals, rr)
		}
		if a == hi {
			break
		}
	}
}

func ipInt(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func intIP(i uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
}

// parseFallback reads fallback=HOST[:PORT] [gate|masq|ipip], as
// parse_fallback does; gate is ldirectord's default method.
func (p *parser) parseFallback(val string, n int) *fallbackSpec {
	m := fallbackRE.FindStringSubmatch(val)
	if m == nil {
		p.errf(n, "invalid fallback server: %s", val)
		return nil
	}
	hp := hostPortRE.FindStringSubmatch(m[1])
	if hp == nil || hp[1] == "" {
		p.errf(n, "invalid fallback server: %s", val)
		return nil
	}
	f := &fallbackSpec{host: hp[1], port: hp[2], fwd: "gate", line: n}
	if m[2] != "" {
		if forwardings[m[2]] == "" {
			p.errf(n, "forward method must be gate, masq or ipip (fallback=%s)", val)
			return nil
		}
		f.fwd, f.fwdGiven = m[2], true
	}
	return f
}

// resolveFallback turns a fallback into a server of a virtual service
// (its port when the fallback gives none).
func (p *parser) resolveFallback(f *fallbackSpec, v *Virtual, at int) (*Real, bool) {
	a, err := p.res.LookupHost(f.host)
	if err != nil || !a.Is4() {
		p.errf(at, "invalid IPv4 address or could not resolve for fallback server: %s", f.host)
		return nil, false
	}
	port := v.Key.Addr.Port()
	if f.port != "" {
		pt, err := p.res.LookupPort(strings.ToLower(v.Key.Proto), f.port)
		if err != nil {
			p.errf(at, "invalid port for fallback server (%s)", f.port)
			return nil, false
		}
		port = pt
	}
	return &Real{Addr: netip.AddrPortFrom(a, port), PortGiven: f.port != "", Fwd: forwardings[f.fwd], Weight: 1,
		Line: f.line, fwdDefault: !f.fwdGiven}, true
}

// finish resolves a virtual service at the end of its block, as
// read_config does once the protocol is known.
func (p *parser) finish(v *Virtual) {
	if v.bad {
		return
	}
	if v.host != "" {
		a, err := p.res.LookupHost(v.host)
		if err != nil || !a.Is4() {
			p.errf(v.Line, "invalid address for virtual service (could not resolve %s to an IPv4 address)", v.host)
			return
		}
		port, err := p.res.LookupPort(strings.ToLower(v.Key.Proto), v.port)
		if err != nil {
			p.errf(v.Line, "invalid address for virtual service (no %s port %s in /etc/services)", strings.ToLower(v.Key.Proto), v.port)
			return
		}
		v.Key.Addr = netip.AddrPortFrom(a, port)
		if v.Service == "" {
			v.Service = defaultService(port)
		}
	}
	if l, dup := p.seen[v.Key]; dup {
		p.errf(v.Line, "duplicate virtual server %s (as at line %d)", v.Key, l)
		return
	}
	p.seen[v.Key] = v.Line
	if f := p.vfallback[v]; f != nil {
		fb, ok := p.resolveFallback(f, v, f.line)
		if !ok {
			return
		}
		v.Fallback = fb
	}
	for i := range v.Reals {
		if !v.Reals[i].PortGiven {
			v.Reals[i].Addr = netip.AddrPortFrom(v.Reals[i].Addr.Addr(), v.Key.Addr.Port())
		}
	}
	switch {
	case (v.CheckType == CheckNegotiate || v.CheckType == CheckCombined) && v.Service == "none" && v.CheckType == CheckNegotiate:
		p.notef(v.Line, "virtual service %s: checktype=negotiate with service=none: ldirectord checks nothing and counts every real server up, and so does lubdub (write checktype=connect, or a service=, to check)", v.Key)
	case (v.CheckType == CheckNegotiate || v.CheckType == CheckCombined) && !negotiated[v.Service]:
		p.notef(v.Line, "virtual service %s: lubdub does not speak %s: its negotiate check connects to the port (as checktype=connect does), within negotiatetimeout", v.Key, v.Service)
	case v.CheckType == CheckExternalPerl:
		p.notef(v.Line, "virtual service %s: checktype=external-perl: lubdub runs %s with perl as its own process (same arguments and exit code)", v.Key, v.CheckCommand)
	}
	p.cfg.Virtuals = append(p.cfg.Virtuals, v)
}

// applyGlobals gives a virtual service the global values it does not set
// itself: ldirectord applies them after reading the whole file, wherever
// they stand in it.
func (p *parser) applyGlobals(v *Virtual) {
	first := func(ds ...time.Duration) time.Duration {
		for _, d := range ds {
			if d > 0 {
				return d
			}
		}
		return 0
	}
	// checktimeout and negotiatetimeout are each other's defaults
	// (ld_setup).
	v.CheckTimeout = first(v.checkTO, v.negTO, p.checkTO, p.negTO, DefaultCheckTimeout)
	v.NegotiateTimeout = first(v.negTO, v.checkTO, p.negTO, p.checkTO, DefaultNegotiateTimeout)
	if v.CheckInterval == 0 {
		v.CheckInterval = p.checkInterval
	}
	v.CheckCount = p.checkCount
	if v.checkCount > 0 {
		v.CheckCount = v.checkCount
	}
	if v.FailureCount < 1 {
		v.FailureCount = p.failures
	}
	v.Quiescent = p.quiescent
	if v.quiescent != "" {
		v.Quiescent = v.quiescent == "yes"
	}
	v.CleanStop = p.cleanstop
	if v.cleanstop != "" {
		v.CleanStop = v.cleanstop == "yes"
	}
	if v.Fallback == nil && p.fallback != nil {
		if fb, ok := p.resolveFallback(p.fallback, v, p.fallback.line); ok {
			v.Fallback = fb
		}
	}
}

// Timeout is how long a check of the given type may take: negotiate
// checks get negotiatetimeout; connect and external checks checktimeout;
// ping checktimeout for each of checkcount attempts.
func (v *Virtual) Timeout(checkType string) time.Duration {
	switch checkType {
	case CheckNegotiate:
		return v.NegotiateTimeout
	case CheckPing:
		return v.CheckTimeout * time.Duration(max(v.CheckCount, 1))
	case CheckConnect:
		if v.Key.Proto == "UDP" {
			return v.CheckTimeout * time.Duration(max(v.CheckCount, 1))
		}
	}
	return v.CheckTimeout
}
