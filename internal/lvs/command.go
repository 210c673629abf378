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
	haveKey := false
	// ipvsadm takes each option once (its set_option).
	seen := map[string]bool{}
	once := func(name string) error {
		if seen[name] {
			return usage("multiple '%s' options specified", name)
		}
		seen[name] = true
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := longOpts[a]; ok {
			a = v
		}
		if name, ok := map[string]string{"--stats": "stats", "--rate": "rate", "--exact": "exact"}[a]; ok {
			if err := once(name); err != nil {
				return nil, err
			}
		}
		switch a {
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
					haveKey = true
					c.Key, err = parseServiceAddr(v, map[byte]string{'t': "TCP", 'u': "UDP"}[ch], names)
				}
			case 'f':
				var v string
				if v, err = value(); err == nil {
					haveKey = true
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
	return c, c.check(haveKey)
}

// cmdNames are ipvsadm's names of the commands, for its messages.
var cmdNames = map[Op]string{OpAddService: "add-service", OpEditService: "edit-service", OpDeleteService: "delete-service",
	OpAddDest: "add-server", OpEditDest: "edit-server", OpDeleteDest: "delete-server", OpClear: "flush", OpList: "list",
	OpZero: "zero", OpSave: "save", OpRestore: "restore"}

// optNames are ipvsadm's names of the one-letter options.
var optNames = map[byte]string{'n': "numeric", 'c': "connection", 't': "service-address", 'u': "service-address",
	'f': "service-address", 's': "scheduler", 'p': "persistent", 'M': "netmask", 'r': "real-server",
	'g': "forwarding-method", 'i': "forwarding-method", 'm': "forwarding-method", 'w': "weight"}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// check applies ipvsadm's per-command rules on which options go together.
func (c *Command) check(haveKey bool) error {
	switch c.Op {
	case "":
		return usage("No command specified (see lubdub lvs -h)")
	case OpVersion:
		return nil
	case OpAddService, OpEditService, OpDeleteService, OpAddDest, OpEditDest, OpDeleteDest:
		if !haveKey {
			return usage("You need to supply the 'service-address' option for the '%s' command", cmdNames[c.Op])
		}
	}
	isDest := c.Op == OpAddDest || c.Op == OpEditDest || c.Op == OpDeleteDest
	if isDest && !c.Dest.Addr().IsValid() {
		return usage("You need to supply the 'real-server' option for the '%s' command", cmdNames[c.Op])
	}
	isSvc := c.Op == OpAddService || c.Op == OpEditService
	// The first option, in ipvsadm's order of options, that the command
	// does not take.
	for _, o := range []struct {
		name    string
		given   bool
		allowed bool
	}{
		{"connection", c.Connections, c.Op == OpList},
		{"scheduler", c.Scheduler != "", isSvc},
		{"persistent", c.PersistentSet, isSvc},
		{"netmask", c.Netmask.IsValid(), isSvc},
		{"real-server", c.Dest.Addr().IsValid(), isDest},
		{"forwarding-method", c.Fwd != "", isDest && c.Op != OpDeleteDest},
		{"weight", c.WeightSet, isDest && c.Op != OpDeleteDest},
		{"stats", c.Stats, c.Op == OpList},
		{"rate", c.Rate, c.Op == OpList},
		{"exact", c.Exact, c.Op == OpList},
	} {
		if o.given && !o.allowed {
			return usage("Illegal '%s' option with the '%s' command", o.name, cmdNames[c.Op])
		}
	}
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
// name the line.
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
		case OpAddService, OpEditService, OpDeleteService, OpClear, OpAddDest, OpEditDest, OpDeleteDest, OpZero:
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
