package lvs

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
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

// UsageError is a bad command line: ipvsadm prints it and exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

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
			return usage("Two or more commands specified (%s and %s)", c.Op, op)
		}
		c.Op = op
		return nil
	}
	haveKey := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := longOpts[a]; ok {
			a = v
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
		}
		if len(a) < 2 || a[0] != '-' || a[1] == '-' {
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
					return "", usage("Option -%c requires an argument", ch)
				}
				i++
				return args[i], nil
			}
			var err error
			switch ch {
			case 'A', 'E', 'D', 'C', 'a', 'e', 'd', 'Z', 'S', 'R', 'h':
				err = setOp(Op("-" + string(ch)))
			case 'L', 'l':
				err = setOp(OpList)
			case 't', 'u':
				var v string
				if v, err = value(); err == nil {
					if haveKey {
						return nil, usage("Two or more service options specified")
					}
					haveKey = true
					c.Key, err = parseServiceAddr(v, map[byte]string{'t': "TCP", 'u': "UDP"}[ch], names)
				}
			case 'f':
				var v string
				if v, err = value(); err == nil {
					if haveKey {
						return nil, usage("Two or more service options specified")
					}
					haveKey = true
					n, perr := strconv.ParseUint(v, 10, 32)
					if perr != nil || n == 0 {
						return nil, usage("Illegal fwmark specified: %q", v)
					}
					c.Key = Key{Proto: "FWM", FWMark: uint32(n)}
				}
			case 's':
				var v string
				if v, err = value(); err == nil {
					if !slices.Contains(Schedulers, v) {
						return nil, usage("Illegal scheduler %q (one of %s)", v, strings.Join(Schedulers, "|"))
					}
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
						return nil, usage("Illegal timeout %q specified (1 to 2678400 seconds)", v)
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
					if perr != nil || n < 0 || n > 65535 {
						return nil, usage("Illegal weight %q specified (0 to 65535)", v)
					}
					c.Weight, c.WeightSet = n, true
				}
			case 'n':
				c.Numeric = true
			case 'c':
				c.Connections = true
			default:
				return nil, usage("Unknown option -%c", ch)
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
			return usage("No service specified: give -t, -u or -f")
		}
	}
	isDest := c.Op == OpAddDest || c.Op == OpEditDest || c.Op == OpDeleteDest
	if isDest && !c.Dest.Addr().IsValid() {
		return usage("No destination specified")
	}
	if !isDest && (c.Dest.Addr().IsValid() || c.Fwd != "" || c.WeightSet) {
		return usage("Illegal option for %s: -r, -g, -i, -m and -w go with -a or -e", c.Op)
	}
	isSvc := c.Op == OpAddService || c.Op == OpEditService
	if !isSvc && (c.Scheduler != "" || c.PersistentSet || c.Netmask.IsValid()) {
		return usage("Illegal option for %s: -s, -p and -M go with -A or -E", c.Op)
	}
	if c.Op == OpDeleteDest && (c.Fwd != "" || c.WeightSet) {
		return usage("Illegal option for -d: only the service and -r")
	}
	if (c.Stats || c.Rate || c.Connections || c.Exact) && c.Op != OpList {
		return usage("--stats, --rate, --exact and -c go with -L")
	}
	if (c.Op == OpAddDest || c.Op == OpEditDest) && c.Key.Proto != "FWM" && (c.Fwd == "" || c.Fwd == Route || c.Fwd == Tunnel) &&
		c.Dest.Port() != 0 && c.Dest.Port() != c.Key.Addr.Port() {
		return usage("The real server's port must be the service's with -g and -i (only -m maps ports)")
	}
	return nil
}

func parseServiceAddr(v, proto string, names Names) (Key, error) {
	ap, ok := parseAddrPort(v, strings.ToLower(proto), names)
	if !ok {
		return Key{}, usage("Illegal virtual server address[:port] specified: %q", v)
	}
	if !ap.Addr().Is4() {
		return Key{}, usage("Illegal virtual server address[:port] specified: %q (IPv4 only)", v)
	}
	return Key{Proto: proto, Addr: ap}, nil
}

func parseRealServer(v, proto string, names Names) (netip.AddrPort, error) {
	ap, ok := parseAddrPort(v, proto, names)
	if !ok {
		return netip.AddrPort{}, usage("Illegal real server address[:port] specified: %q", v)
	}
	if !ap.Addr().Is4() {
		return netip.AddrPort{}, usage("Illegal real server address[:port] specified: %q (IPv4 only)", v)
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
