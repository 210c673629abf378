package lvs

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Op is an ipvsadm command.
type Op string

// Commands.
const (
	OpAddService    Op = "-A"
	OpEditService   Op = "-E"
	OpDeleteService Op = "-D"
	OpClear         Op = "-C"
	OpAddDest       Op = "-a"
	OpEditDest      Op = "-e"
	OpDeleteDest    Op = "-d"
	OpList          Op = "-L"
	OpZero          Op = "-Z"
	OpSave          Op = "-S"
	OpRestore       Op = "-R"
	OpHelp          Op = "-h"
	OpVersion       Op = "--version"
	OpStartDaemon   Op = "--start-daemon"
	OpStopDaemon    Op = "--stop-daemon"
)

// Command is one parsed ipvsadm command line.
type Command struct {
	Op            Op
	Key           Key
	Scheduler     string
	Persistent    bool
	PersistentSet bool
	Timeout       int
	Netmask       netip.Addr
	Dest          netip.AddrPort
	Fwd           string
	Weight        int
	WeightSet     bool
	Numeric       bool
	Stats, Rate   bool
	Connections   bool // -c
	Exact         bool
	// Daemon is the sync daemon of --start-daemon and --stop-daemon
	// (State only for the latter).
	Daemon SyncDaemon
	// ListDaemons is -L --daemon.
	ListDaemons bool
	// given are the options given, by ipvsadm's name, for its table of
	// what goes with which command.
	given map[string]bool
}

// UsageError is a bad command line: ipvsadm prints it and exits 2, or
// Code (255 for what its option parser, popt, refuses).
type UsageError struct {
	Msg  string
	Code int
}

func (e *UsageError) Error() string { return e.Msg }

// ExitCode is ipvsadm's exit status for the error.
func (e *UsageError) ExitCode() int { return cmp.Or(e.Code, 2) }

// poptError is what ipvsadm's option parser refuses: "OPTION: why", exit 255.
func poptError(opt, why string) error { return &UsageError{Msg: opt + ": " + why, Code: 255} }

// IsRefusal reports whether err is one of IPVS's refusals (Service
// already exists, ...), for which ipvsadm exits 255.
func IsRefusal(err error) bool {
	var e ipvsError
	return errors.As(err, &e)
}

func usage(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

var longOpts = map[string]string{
	"--add-service": "-A", "--edit-service": "-E", "--delete-service": "-D", "--clear": "-C",
	"--add-server": "-a", "--edit-server": "-e", "--delete-server": "-d", "--list": "-L",
	"--zero": "-Z", "--save": "-S", "--restore": "-R", "--help": "-h",
	"--tcp-service": "-t", "--udp-service": "-u", "--fwmark-service": "-f", "--scheduler": "-s",
	"--persistent": "-p", "--netmask": "-M", "--real-server": "-r", "--gatewaying": "-g",
	"--ipip": "-i", "--masquerading": "-m", "--weight": "-w", "--numeric": "-n", "--connection": "-c",
}

// Names resolves host and service names as ipvsadm does with
// gethostbyname, getservbyname and their reverses; proto is "tcp" or
// "udp". netdb.System is the machine's.
type Names interface {
	LookupHost(name string) (netip.Addr, bool)
	LookupPort(name, proto string) (uint16, bool)
	HostName(a netip.Addr) (string, bool)
	ServiceName(port uint16, proto string) (string, bool)
}

// Parse reads ipvsadm's arguments (without the program name), addresses
// and ports as numbers only.
func Parse(args []string) (*Command, error) { return ParseNames(args, nil) }

// ParseNames reads ipvsadm's arguments (without the program name); host
// and service names in -t, -u and -r are resolved with names, as ipvsadm
// does, when it is not nil.
func ParseNames(args []string, names Names) (*Command, error) {
	c := &Command{}
	var dest string // -r, resolved once the service's protocol is known
	setOp := func(op Op) error {
		if c.Op != "" && c.Op != op {
			return usage("invalid option `%s' (two commands: %s and %s)", op, c.Op, op)
		}
		c.Op = op
		return nil
	}
	// ipvsadm takes each option once (its set_option).
	seen := map[string]bool{}
	c.given = seen
	once := func(name string) error {
		if seen[name] {
			return usage("multiple '%s' options specified", name)
		}
		seen[name] = true
		return nil
	}
	args = splitLongValues(args)
	if err := commandFirst(args); err != nil {
		return nil, err
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := longOpts[a]; ok {
			a = v
		}
		if name, ok := map[string]string{"--stats": "stats", "--rate": "rate", "--exact": "exact", "--daemon": "daemon"}[a]; ok {
			if err := once(name); err != nil {
				return nil, err
			}
		}
		if op, ok := map[string]Op{"--start-daemon": OpStartDaemon, "--stop-daemon": OpStopDaemon}[a]; ok {
			if i+1 >= len(args) {
				return nil, poptError(a, "missing argument")
			}
			i++
			if c.Op != "" {
				// ipvsadm names the value (popt's last word) here.
				return nil, usage("invalid option `%s' (two commands: %s and %s)", args[i], c.Op, op)
			}
			c.Op = op
			switch args[i] {
			case Master, Backup:
				c.Daemon.State = args[i]
			default:
				// Sic: ipvsadm's own two wordings.
				if op == OpStartDaemon {
					return nil, usage("illegal start-daemon parameter specified")
				}
				return nil, usage("illegal start_daemon specified")
			}
			continue
		}
		if name, ok := daemonOptNames[a]; ok {
			if err := once(name); err != nil {
				return nil, err
			}
			if i+1 >= len(args) {
				return nil, poptError(a, "missing argument")
			}
			i++
			if err := daemonOption(&c.Daemon, a, args[i]); err != nil {
				return nil, err
			}
			continue
		}
		switch a {
		case "--daemon":
			c.ListDaemons = true
			continue
		case "--stats":
			c.Stats = true
			continue
		case "--rate":
			c.Rate = true
			continue
		case "--exact":
			c.Exact = true
			continue
		case "--version", "-v":
			if err := setOp(OpVersion); err != nil {
				return nil, err
			}
			continue
		case "--tun-type":
			// ipvsadm -S writes it for -i real servers; IPVS's default,
			// ipip, is the only one lubdub carries.
			if i+1 >= len(args) {
				return nil, poptError(a, "missing argument")
			}
			i++
			if args[i] != "ipip" {
				return nil, usage("tunnel type %q is not supported: lubdub tunnels with ipip", args[i])
			}
			continue
		}
		if len(a) < 2 || a[0] != '-' || a[1] == '-' {
			if strings.HasPrefix(a, "--") {
				return nil, poptError(a, "unknown option")
			}
			return nil, usage("Unknown or unexpected argument %q", args[i])
		}
		// Clusters such as -Ln.
		for j := 1; j < len(a); j++ {
			ch := a[j]
			rest := a[j+1:]
			value := func() (string, error) {
				if rest != "" {
					j = len(a)
					return rest, nil
				}
				if i+1 >= len(args) {
					return "", poptError("-"+string(ch), "missing argument")
				}
				i++
				return args[i], nil
			}
			var err error
			if name, ok := optNames[ch]; ok {
				if err := once(name); err != nil {
					return nil, err
				}
			}
			switch ch {
			case 'A', 'E', 'D', 'C', 'a', 'e', 'd', 'Z', 'S', 'R', 'h':
				err = setOp(Op("-" + string(ch)))
			case 'L', 'l':
				err = setOp(OpList)
			case 't', 'u':
				var v string
				if v, err = value(); err == nil {
					c.Key, err = parseServiceAddr(v, map[byte]string{'t': "TCP", 'u': "UDP"}[ch], names)
				}
			case 'f':
				var v string
				if v, err = value(); err == nil {
					n, perr := strconv.ParseUint(v, 10, 32)
					if perr != nil || n == 0 {
						return nil, usage("Illegal fwmark specified: %q", v)
					}
					c.Key = Key{Proto: "FWM", FWMark: uint32(n)}
				}
			case 's':
				var v string
				// ipvsadm takes any name; IPVS refuses unknown ones
				// (Table.Apply does too).
				if v, err = value(); err == nil {
					c.Scheduler = v
				}
			case 'p':
				c.Persistent, c.PersistentSet, c.Timeout = true, true, DefaultPersistence
				// The timeout is optional: take the next word if it is a number.
				v := rest
				if v == "" && i+1 < len(args) && isNumber(args[i+1]) {
					i++
					v = args[i]
				}
				j = len(a)
				if v != "" {
					n, perr := strconv.Atoi(v)
					if perr != nil || n < 1 || n > 86400*31 {
						return nil, usage("invalid timeout value `%s' specified (1 to 2678400 seconds)", v)
					}
					c.Timeout = n
				}
			case 'M':
				var v string
				if v, err = value(); err == nil {
					m, perr := netip.ParseAddr(v)
					if perr != nil || !m.Is4() {
						return nil, usage("Illegal netmask %q specified", v)
					}
					c.Netmask = m
				}
			case 'r':
				dest, err = value()
			case 'g':
				c.Fwd = Route
			case 'i':
				c.Fwd = Tunnel
			case 'm':
				c.Fwd = Masq
			case 'w':
				var v string
				if v, err = value(); err == nil {
					n, perr := strconv.Atoi(v)
					// ipvsadm 1.31 takes 0 to INT_MAX; IPVS takes them all.
					if perr != nil || n < 0 || n > math.MaxInt32 {
						return nil, usage("illegal weight specified: %q (0 to %d)", v, math.MaxInt32)
					}
					c.Weight, c.WeightSet = n, true
				}
			case 'X': // --exact
				if err := once("exact"); err != nil {
					return nil, err
				}
				c.Exact = true
			case 'n':
				c.Numeric = true
			case 'c':
				c.Connections = true
			default:
				return nil, poptError("-"+string(ch), "unknown option")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if dest != "" {
		var err error
		if c.Dest, err = parseRealServer(dest, c.Key.netProto(), names); err != nil {
			return nil, err
		}
	}
	if c.Op == OpStartDaemon && c.Daemon.Interface == "" {
		c.Daemon.Interface = DefaultMcastInterface
	}
	return c, c.check()
}

// Daemonic reports whether the command is one of the sync daemons' rather
// than the table's.
func (c *Command) Daemonic() bool { return c.Op == OpStartDaemon || c.Op == OpStopDaemon }

// commandFirst refuses a command line whose first option is one of
// ipvsadm's options rather than a command (-n -L): ipvsadm's
// parse_options takes the first option popt returns as the command and
// exits 255 through tryhelp_exit when it is not one. An unknown first
// option is left to the option loop, which names it.
func commandFirst(args []string) error {
	for _, a := range args {
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		if v, ok := longOpts[a]; ok {
			a = v
		}
		if strings.HasPrefix(a, "--") {
			switch {
			case a == "--start-daemon" || a == "--stop-daemon" || a == "--version" || a == "--set":
				return nil
			case valueOpts[a] || a == "--stats" || a == "--rate" || a == "--exact" || a == "--daemon" || a == "--tun-type":
				return notFirst(a)
			}
			return nil
		}
		if strings.ContainsRune("AEDCaedLlZSRhv", rune(a[1])) {
			return nil
		}
		if _, ok := optNames[a[1]]; ok {
			return notFirst(a[:2])
		}
		return nil
	}
	return nil
}

// notFirst is ipvsadm's tryhelp_exit line, then which option came first.
func notFirst(opt string) error {
	return &UsageError{Msg: fmt.Sprintf("Try `ipvsadm -h' or 'ipvsadm --help' for more information. %s: the command comes first (-L -n, not -n -L)", opt), Code: 255}
}

// valueOpts are the long options that take a value, which popt also
// takes as --option=value.
var valueOpts = map[string]bool{"--tcp-service": true, "--udp-service": true, "--fwmark-service": true, "--scheduler": true,
	"--persistent": true, "--netmask": true, "--real-server": true, "--weight": true, "--tun-type": true,
	"--start-daemon": true, "--stop-daemon": true, "--mcast-interface": true, "--syncid": true, "--mcast-group": true,
	"--mcast-port": true, "--mcast-ttl": true, "--sync-maxlen": true}

// splitLongValues turns --option=value into --option value.
func splitLongValues(args []string) []string {
	var out []string
	for _, a := range args {
		if name, v, ok := strings.Cut(a, "="); ok && valueOpts[name] {
			out = append(out, name, v)
			continue
		}
		out = append(out, a)
	}
	return out
}

// cmdNames are ipvsadm's names of the commands, for its messages.
var cmdNames = map[Op]string{OpAddService: "add-service", OpEditService: "edit-service", OpDeleteService: "delete-service",
	OpAddDest: "add-server", OpEditDest: "edit-server", OpDeleteDest: "delete-server", OpClear: "flush", OpList: "list",
	OpZero: "zero", OpSave: "save", OpRestore: "restore", OpStartDaemon: "start-daemon", OpStopDaemon: "stop-daemon"}

// optNames are ipvsadm's names of the one-letter options.
var optNames = map[byte]string{'n': "numeric", 'c': "connection", 't': "service-address", 'u': "service-address",
	'f': "service-address", 's': "scheduler", 'p': "persistent", 'M': "netmask", 'r': "real-server",
	'g': "forwarding-method", 'i': "forwarding-method", 'm': "forwarding-method", 'w': "weight"}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// optionOrder is ipvsadm's list of options (optnames), in its order: its
// options table is checked in that order. lubdub takes those it
// carries out; the others are never given.
var optionOrder = []string{"numeric", "connection", "service-address", "scheduler", "persistent", "netmask",
	"real-server", "forwarding-method", "weight", "u-threshold", "l-threshold", "mcast-interface", "timeout",
	"daemon", "stats", "rate", "thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen"}

// commandOptions is ipvsadm 1.31's table of legal combinations of commands
// and options (commands_v_options), one character per option of
// optionOrder: '+' compulsory, 'x' illegal, '1' only one of those, ' '
// optional.
var commandOptions = map[Op]string{
	//               -n-c svc-s-p-M-r fwd-w-x-y-mc tot dmn-st-rt thr-pc srt sid-ex ops-pe-b grp port ttl size
	OpAddService:    "xx+   xxxxxxxxxxxxxxx   xxxx",
	OpEditService:   "xx+   xxxxxxxxxxxxxxx   xxxx",
	OpDeleteService: "xx+xxxxxxxxxxxxxxxxxxxxxxxxx",
	OpClear:         "xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	OpList:          " 11xxxxxxxxx11       xxxxxxx",
	OpAddDest:       "xx+xxx+    xxxxxxxxxxxxxxxxx",
	OpDeleteDest:    "xx+xxx+xxxxxxxxxxxxxxxxxxxxx",
	OpEditDest:      "xx+xxx+    xxxxxxxxxxxxxxxxx",
	OpStartDaemon:   "xxxxxxxxxxx xxxxxxx xxxx    ",
	OpStopDaemon:    "xxxxxxxxxxxxxxxxxxx xxxxxxxx",
	OpRestore:       "xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	OpSave:          " xxxxxxxxxxxxxxxxxxxxxxxxxxx",
	OpZero:          "xx xxxxxxxxxxxxxxxxxxxxxxxxx",
}

// check applies ipvsadm's rules on which options go with which command
// (generic_opt_check, then process_options's own), with its messages.
func (c *Command) check() error {
	switch c.Op {
	case "":
		return usage("No command specified (see lubdub lvs -h)")
	case OpVersion, OpHelp:
		return nil
	}
	row := commandOptions[c.Op]
	one := ""
	for j, name := range optionOrder {
		switch given := c.given[name]; {
		case !given && row[j] == '+':
			return usage("You need to supply the '%s' option for the '%s' command", name, cmdNames[c.Op])
		case given && row[j] == 'x':
			return usage("Illegal '%s' option with the '%s' command", name, cmdNames[c.Op])
		case given && row[j] == '1' && one != "":
			return usage("The option '%s' conflicts with the '%s' option in the '%s' command", name, one, cmdNames[c.Op])
		case given && row[j] == '1':
			one = name
		}
	}
	if c.Op == OpList && (c.Connections || c.ListDaemons) && (c.Stats || c.Rate) {
		return usage("options conflicts in the list command")
	}
	isSvc := c.Op == OpAddService || c.Op == OpEditService
	if isSvc && c.Key.Proto != "FWM" && c.Key.Addr.Port() == 0 && !c.Persistent {
		return usage("Zero port specified for non-persistent service")
	}
	// As ipvsadm: a real server forwarded to by -g (the default) or -i
	// gets the service's port, whatever port was given; only -m maps
	// ports.
	if (c.Op == OpAddDest || c.Op == OpEditDest) && c.Key.Proto != "FWM" && c.Fwd != Masq {
		c.Dest = netip.AddrPortFrom(c.Dest.Addr(), c.Key.Addr.Port())
	}
	return nil
}

func parseServiceAddr(v, proto string, names Names) (Key, error) {
	ap, ok := parseAddrPort(v, strings.ToLower(proto), names)
	if !ok {
		return Key{}, usage("illegal virtual server address[:port] specified: %q", v)
	}
	if !ap.Addr().Is4() {
		return Key{}, usage("illegal virtual server address[:port] specified: %q (IPv4 only)", v)
	}
	return Key{Proto: proto, Addr: ap}, nil
}

func parseRealServer(v, proto string, names Names) (netip.AddrPort, error) {
	ap, ok := parseAddrPort(v, proto, names)
	if !ok {
		return netip.AddrPort{}, usage("illegal real server address[:port] specified: %q", v)
	}
	if !ap.Addr().Is4() {
		return netip.AddrPort{}, usage("illegal real server address[:port] specified: %q (IPv4 only)", v)
	}
	return ap, nil
}

// parseAddrPort reads "host[:port]" as ipvsadm's parse_service does: a
// string of digits alone is no address; the host is a dotted quad or a
// name; the port, after the last colon, a number up to 65535 or a
// service name for proto.
func parseAddrPort(v, proto string, names Names) (netip.AddrPort, bool) {
	if v == "" || isDigits(v) {
		return netip.AddrPort{}, false
	}
	host, port, hasPort := v, "", false
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		host, port, hasPort = v[:i], v[i+1:], true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		if names == nil || host == "" {
			return netip.AddrPort{}, false
		}
		var ok bool
		if a, ok = names.LookupHost(host); !ok {
			return netip.AddrPort{}, false
		}
	}
	if !hasPort {
		return netip.AddrPortFrom(a, 0), true
	}
	if n, err := strconv.ParseUint(port, 10, 16); err == nil && isDigits(port) {
		return netip.AddrPortFrom(a, uint16(n)), true
	}
	if names == nil || port == "" {
		return netip.AddrPort{}, false
	}
	n, ok := names.LookupPort(port, proto)
	return netip.AddrPortFrom(a, n), ok
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Restore reads ipvsadm -S -n lines (as -R does) into commands; errors
// name the line. Besides the table's commands it takes --start-daemon and
// --stop-daemon lines, which ipvsadm -R runs too (Command.Daemonic).
func Restore(r io.Reader) ([]*Command, error) { return RestoreNames(r, nil) }

// RestoreNames reads ipvsadm -S lines, names resolved with names as -R
// does, into commands; errors name the line.
func RestoreNames(r io.Reader, names Names) ([]*Command, error) {
	var out []*Command
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, err := ParseNames(strings.Fields(line), names)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		switch c.Op {
		case OpAddService, OpEditService, OpDeleteService, OpClear, OpAddDest, OpEditDest, OpDeleteDest, OpZero,
			OpStartDaemon, OpStopDaemon:
		default:
			return nil, fmt.Errorf("line %d: %s cannot be restored", n, c.Op)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return out, nil
}
