package lvs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Sync daemon states, as ipvsadm names them.
const (
	Master = "master" // sends this director's connections to the group
	Backup = "backup" // takes the connections a master sends into this director's table
)

// DefaultMcastInterface is the interface ipvsadm --start-daemon uses when
// --mcast-interface is not given (ipvsadm's DEF_MCAST_IFN).
const DefaultMcastInterface = "eth0"

// ifNameMax is how much of --mcast-interface ipvsadm 1.31 keeps: the
// bytes of IP_VS_IFNAME_MAXLEN (16) less the terminating NUL. (All 16,
// as ipvsadm 1.29's source has it, IPVS refuses with EINVAL; 1.31 gets
// "No such device" for a longer name, as lubdub does with 15.)
const ifNameMax = 15

// SyncDaemon is one of IPVS's connection synchronisation daemons, as
// ipvsadm --start-daemon starts it and -L --daemon lists it: the master
// multicasts the connections this director balances, the backup puts the
// ones it receives into this director's own table, so that they go on
// after the VIP moves here. Zero values leave the kernel's defaults.
type SyncDaemon struct {
	State     string     // Master or Backup
	Interface string     // --mcast-interface: where it sends or listens
	SyncID    int        // --syncid, 0-255: a backup takes only its master's messages
	MaxLen    int        // --sync-maxlen: bytes of UDP payload (kernel: the interface's MTU less headers)
	Group     netip.Addr // --mcast-group, IPv4 or IPv6 (kernel: 224.0.0.81)
	Port      int        // --mcast-port, the UDP port (kernel: 8848)
	TTL       int        // --mcast-ttl (kernel: 1)
}

// String is the daemon's line in ipvsadm -L --daemon (without the
// newline): the optional fields only when set, as list_daemon prints
// them.
func (d SyncDaemon) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sync daemon (mcast=%s, syncid=%d", d.State, d.Interface, d.SyncID)
	if d.MaxLen != 0 {
		fmt.Fprintf(&b, ", maxlen=%d", d.MaxLen)
	}
	if d.Group.IsValid() {
		fmt.Fprintf(&b, ", group=%s", d.Group)
	}
	if d.Port != 0 {
		fmt.Fprintf(&b, ", port=%d", d.Port)
	}
	if d.TTL != 0 {
		fmt.Fprintf(&b, ", ttl=%d", d.TTL)
	}
	b.WriteString(")")
	return b.String()
}

// ListDaemons prints ipvsadm -L --daemon: the master first, then the
// backup, as IPVS reports them; nothing when none runs.
func ListDaemons(ds []SyncDaemon) string {
	ds = slices.Clone(ds)
	slices.SortStableFunc(ds, func(a, b SyncDaemon) int { return strings.Compare(stateOrder(a.State), stateOrder(b.State)) })
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String() + "\n")
	}
	return b.String()
}

func stateOrder(s string) string {
	if s == Master {
		return "0"
	}
	return "1" + s
}

// cNumber reads a number as ipvsadm's string_to_number does with strtol:
// leading white space and a sign allowed, decimal digits, nothing after,
// within [min, max].
func cNumber(s string, min, max int) (int, bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg, t = t[0] == '-', t[1:]
	}
	if t == "" {
		return 0, false
	}
	n := 0
	for _, r := range t {
		if r < '0' || r > '9' {
			return 0, false
		}
		if n = n*10 + int(r-'0'); n > 1<<40 {
			return 0, false // strtol's ERANGE, or far out of any range here
		}
	}
	if neg {
		n = -n
	}
	return n, n >= min && n <= max
}

// parseMcastGroup reads --mcast-group as ipvsadm does: with a colon an
// IPv6 multicast address, else an IPv4 one in dotted quad (inet_pton).
func parseMcastGroup(v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	if strings.Contains(v, ":") {
		if err != nil || !a.Is6() || a.Zone() != "" || a.As16()[0] != 0xff {
			return netip.Addr{}, usage("invalid IPv6 mcast-group `%s'", v)
		}
		return a, nil
	}
	if err != nil || !a.Is4() || !a.IsMulticast() {
		return netip.Addr{}, usage("invalid IPv4 mcast-group `%s'", v)
	}
	return a, nil
}

// daemonOption reads the value of one of ipvsadm's daemon options into
// d, with ipvsadm's limits and messages.
func daemonOption(d *SyncDaemon, opt, v string) error {
	var ok bool
	switch opt {
	case "--mcast-interface":
		d.Interface = v[:min(len(v), ifNameMax)]
		return nil
	case "--syncid":
		if d.SyncID, ok = cNumber(v, 0, 255); !ok {
			return usage("illegal syncid specified")
		}
	case "--mcast-group":
		var err error
		d.Group, err = parseMcastGroup(v)
		return err
	case "--mcast-port":
		if d.Port, ok = cNumber(v, 1, 65535); !ok {
			return usage("illegal mcast-port specified")
		}
	case "--mcast-ttl":
		if d.TTL, ok = cNumber(v, 1, 255); !ok {
			return usage("illegal mcast-ttl specified")
		}
	case "--sync-maxlen":
		// 65535 less the IP and UDP headers.
		if d.MaxLen, ok = cNumber(v, 1, 65535-20-8); !ok {
			return usage("illegal sync-maxlen specified")
		}
	}
	return nil
}

// daemonOptNames are ipvsadm's names of the daemon options taking a
// value, for "multiple ... options" and its options table.
var daemonOptNames = map[string]string{"--mcast-interface": "mcast-interface", "--syncid": "syncid",
	"--mcast-group": "mcast-group", "--mcast-port": "mcast-port", "--mcast-ttl": "mcast-ttl", "--sync-maxlen": "sync-maxlen"}
