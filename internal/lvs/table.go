// Package lvs is the virtual-server table that ipvsadm manages, as a pure
// model: ipvsadm's command line parsed into commands, commands applied to
// a table with IPVS's rules and error messages, and the table printed in
// ipvsadm's list and save formats. The kernel data paths (nftables,
// IPVS) reconcile the kernel from this table.
package lvs

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Forwarding methods, as ipvsadm lists them.
const (
	Masq   = "Masq"   // -m, NAT
	Route  = "Route"  // -g, direct routing (the default)
	Tunnel = "Tunnel" // -i, IPIP
	Local  = "Local"  // a real server on the director itself
)

// DefaultScheduler is ipvsadm's.
const DefaultScheduler = "wlc"

// DefaultPersistence is ipvsadm's -p without a value, in seconds
// (libipvs's IPVS_SVC_PERSISTENT_TIMEOUT).
const DefaultPersistence = 360

// Schedulers ipvsadm accepts.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}

// Key identifies a virtual service: protocol and address, or a firewall
// mark.
type Key struct {
	Proto  string // "TCP" or "UDP"; "FWM" with Mark
	Addr   netip.AddrPort
	FWMark uint32
}

func (k Key) String() string {
	if k.Proto == "FWM" {
		return fmt.Sprintf("FWM  %d", k.FWMark)
	}
	return fmt.Sprintf("%s  %s", k.Proto, k.Addr)
}

// netProto is the protocol's name in /etc/services: tcp or udp (tcp for
// firewall marks, as ipvsadm sets it).
func (k Key) netProto() string {
	if k.Proto == "UDP" {
		return "udp"
	}
	return "tcp"
}

// name is the service as ipvsadm lists it ("TCP  host:port", "FWM  1"),
// cut to 33 characters as ipvsadm cuts it.
func (k Key) name(names Names) string {
	if k.Proto == "FWM" {
		return k.String()
	}
	s := k.Proto + "  " + addrPort(k.Addr, k.netProto(), names)
	return s[:min(len(s), 33)]
}

// flag is the ipvsadm option naming the service kind.
func (k Key) flag(names Names) string {
	switch k.Proto {
	case "FWM":
		return fmt.Sprintf("-f %d", k.FWMark)
	case "UDP":
		return "-u " + addrPort(k.Addr, "udp", names)
	}
	return "-t " + addrPort(k.Addr, "tcp", names)
}

// addrPort prints an address and port as ipvsadm's addrport_to_anyname
// does: numbers when names is nil (-n), else the host's name and the
// port's service name where they have one.
func addrPort(a netip.AddrPort, proto string, names Names) string {
	if names == nil {
		return a.String()
	}
	host, ok := names.HostName(a.Addr())
	if !ok {
		host = a.Addr().String()
	}
	port, ok := names.ServiceName(a.Port(), proto)
	if !ok {
		port = fmt.Sprint(a.Port())
	}
	return host + ":" + port
}

// Dest is one real server.
type Dest struct {
	Addr   netip.AddrPort
	Fwd    string
	Weight int
	// Counters, filled in by the data path for listing.
	ActiveConn, InActConn                     uint64
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// Service is one virtual service.
type Service struct {
	Key
	Scheduler                                 string
	Persistent                                bool
	Timeout                                   int // persistence, seconds
	Netmask                                   netip.Addr
	Dests                                     []*Dest
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// ipvsError is one of IPVS's errors, worded as ipvsadm prints them.
type ipvsError string

func (e ipvsError) Error() string { return string(e) }

// Errors from Apply, for callers to branch on.
const (
	ErrServiceExists     = ipvsError("Service already exists")
	ErrNoService         = ipvsError("No such service")
	ErrServiceNotDefined = ipvsError("Service not defined")
	ErrDestExists        = ipvsError("Destination already exists")
	ErrNoDest            = ipvsError("No such destination")
	ErrNoScheduler       = ipvsError("Scheduler or persistence engine not found")
)

// Table is the whole virtual-server table, in insertion order.
type Table struct {
	Services []*Service
}

func (t *Table) find(k Key) (int, *Service) {
	for i, s := range t.Services {
		if s.Key == k {
			return i, s
		}
	}
	return -1, nil
}

func (s *Service) Dest(a netip.AddrPort) (int, *Dest) {
	for i, d := range s.Dests {
		if d.Addr == a {
			return i, d
		}
	}
	return -1, nil
}

// Clone returns a deep copy.
func (t *Table) Clone() *Table {
	c := &Table{}
	for _, s := range t.Services {
		ns := *s
		ns.Dests = nil
		for _, d := range s.Dests {
			nd := *d
			ns.Dests = append(ns.Dests, &nd)
		}
		c.Services = append(c.Services, &ns)
	}
	return c
}

// Sort puts the services and their real servers in the order ipvsadm
// lists them (libipvs's ipvs_cmp_services and ipvs_cmp_dests): address
// services before firewall marks, then by mark, protocol (TCP before
// UDP), address and port; real servers by address and port.
func (t *Table) Sort() {
	proto := map[string]int{"TCP": 6, "UDP": 17}
	slices.SortStableFunc(t.Services, func(a, b *Service) int {
		return cmp.Or(cmp.Compare(a.FWMark, b.FWMark), cmp.Compare(proto[a.Proto], proto[b.Proto]),
			a.Addr.Addr().Compare(b.Addr.Addr()), cmp.Compare(a.Addr.Port(), b.Addr.Port()))
	})
	for _, s := range t.Services {
		slices.SortStableFunc(s.Dests, func(a, b *Dest) int { return a.Addr.Compare(b.Addr) })
	}
}

// Apply carries out a command that changes the table. Errors are
// ipvsadm's messages.
func (t *Table) Apply(c *Command) error {
	switch c.Op {
	case OpClear:
		t.Services = nil
	case OpAddService, OpEditService:
		_, s := t.find(c.Key)
		// -E, like -A, sets the whole service from its command line, as
		// ipvsadm does: what is not given takes its default.
		sched := cmp.Or(c.Scheduler, DefaultScheduler)
		if c.Op == OpAddService && s == nil || c.Op == OpEditService && s != nil {
			if !slices.Contains(Schedulers, sched) {
				return ErrNoScheduler
			}
		}
		if c.Op == OpAddService {
			if s != nil {
				return ErrServiceExists
			}
			s = &Service{Key: c.Key, Scheduler: DefaultScheduler}
			t.Services = append(t.Services, s)
		} else if s == nil {
			return ErrNoService
		}
		s.Scheduler = sched
		s.Persistent, s.Timeout, s.Netmask = c.Persistent, c.Timeout, netip.Addr{}
		if c.Persistent && c.Netmask.IsValid() && c.Netmask != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			s.Netmask = c.Netmask
		}
	case OpDeleteService:
		i, s := t.find(c.Key)
		if s == nil {
			return ErrNoService
		}
		t.Services = slices.Delete(t.Services, i, i+1)
	case OpAddDest, OpEditDest, OpDeleteDest:
		_, s := t.find(c.Key)
		if s == nil {
			return ErrServiceNotDefined
		}
		dst := c.Dest
		if dst.Port() == 0 && c.Key.Proto != "FWM" {
			dst = netip.AddrPortFrom(dst.Addr(), c.Key.Addr.Port())
		}
		i, d := s.Dest(dst)
		switch c.Op {
		case OpAddDest:
			if d != nil {
				return ErrDestExists
			}
			d = &Dest{Addr: dst, Fwd: Route, Weight: 1}
			s.Dests = append(s.Dests, d)
		case OpEditDest:
			if d == nil {
				return ErrNoDest
			}
		case OpDeleteDest:
			if d == nil {
				return ErrNoDest
			}
			s.Dests = slices.Delete(s.Dests, i, i+1)
			return nil
		}
		// -e, like -a, sets the whole real server: -g and weight 1
		// unless given, as ipvsadm does.
		d.Fwd, d.Weight = cmp.Or(c.Fwd, Route), 1
		if c.WeightSet {
			d.Weight = c.Weight
		}
	case OpZero:
		for _, s := range t.Services {
			if c.Key.Proto != "" && s.Key != c.Key {
				continue
			}
			s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes = 0, 0, 0, 0, 0
			for _, d := range s.Dests {
				d.Conns, d.InPkts, d.OutPkts, d.InBytes, d.OutBytes = 0, 0, 0, 0, 0
			}
		}
	default:
		return fmt.Errorf("command %s does not change the table", c.Op)
	}
	return nil
}

// ListOptions are -L's modifiers.
type ListOptions struct {
	Stats   bool  // --stats
	Rate    bool  // --rate (per second figures; the caller fills counters as rates)
	Only    *Key  // -L -t addr: one service
	Exact   bool  // --exact: counters in full
	Numeric bool  // -n
	Names   Names // without -n: addresses and ports printed as names
}

// Header is ipvsadm's first line, kept as it is for scripts that read it.
const Header = "IP Virtual Server version 1.2.1 (size=4096)\n"

// List prints the table as ipvsadm -L does: with -n, or without Names,
// as numbers.
func (t *Table) List(o ListOptions) (string, error) {
	names := o.Names
	if o.Numeric {
		names = nil
	}
	var b strings.Builder
	if o.Only == nil {
		b.WriteString(Header) // ipvsadm -L -t ADDR leaves it out
	}
	switch {
	case o.Stats:
		b.WriteString("Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n")
		b.WriteString("  -> RemoteAddress:Port\n")
	case o.Rate:
		b.WriteString("Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n")
		b.WriteString("  -> RemoteAddress:Port\n")
	default:
		b.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
		b.WriteString("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
	found := false
	for _, s := range t.Services {
		if o.Only != nil && s.Key != *o.Only {
			continue
		}
		found = true
		if o.Stats || o.Rate {
			fmt.Fprintf(&b, "%-33s %8s %8s %8s %8s %8s\n", s.Key.name(names), num(s.Conns, o.Exact), num(s.InPkts, o.Exact), num(s.OutPkts, o.Exact), num(s.InBytes, o.Exact), num(s.OutBytes, o.Exact))
			for _, d := range s.Dests {
				fmt.Fprintf(&b, "  -> %-28s %8s %8s %8s %8s %8s\n", s.destName(d, names), num(d.Conns, o.Exact), num(d.InPkts, o.Exact), num(d.OutPkts, o.Exact), num(d.InBytes, o.Exact), num(d.OutBytes, o.Exact))
			}
			continue
		}
		line := s.Key.name(names) + " " + s.Scheduler
		if s.Persistent {
			line += fmt.Sprintf(" persistent %d", s.Timeout)
			if s.Netmask.IsValid() && s.Netmask != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				line += " mask " + s.Netmask.String()
			}
		}
		b.WriteString(line + "\n")
		for _, d := range s.Dests {
			fmt.Fprintf(&b, "  -> %-28s %-7s %-6d %-10d %-10d\n", s.destName(d, names), d.Fwd, d.Weight, d.ActiveConn, d.InActConn)
		}
	}
	if o.Only != nil && !found {
		return "", ErrNoService
	}
	return b.String(), nil
}

// destName is a real server as ipvsadm lists it, cut to 28 characters.
func (s *Service) destName(d *Dest, names Names) string {
	n := addrPort(d.Addr, s.Key.netProto(), names)
	return n[:min(len(n), 28)]
}

// num prints a counter as ipvsadm's print_largenum does: in full below
// 100 million, then K, M, G, T; in full with --exact.
func num(v uint64, exact bool) string {
	switch {
	case exact || v < 100_000_000:
		return fmt.Sprint(v)
	case v < 1_000_000_000:
		return fmt.Sprintf("%dK", v/1_000)
	case v < 100_000_000_000:
		return fmt.Sprintf("%dM", v/1_000_000)
	case v < 100_000_000_000_000:
		return fmt.Sprintf("%dG", v/1_000_000_000)
	}
	return fmt.Sprintf("%dT", v/1_000_000_000_000)
}

// Save prints the table in ipvsadm -S -n's format, which -R reads back.
func (t *Table) Save() string { return t.SaveNames(nil) }

// SaveNames prints the table as ipvsadm -S does: without -n (names not
// nil), addresses and ports as names, which -R resolves again.
func (t *Table) SaveNames(names Names) string {
	var b strings.Builder
	for _, s := range t.Services {
		fmt.Fprintf(&b, "-A %s -s %s", s.Key.flag(names), s.Scheduler)
		if s.Persistent {
			fmt.Fprintf(&b, " -p %d", s.Timeout)
			if s.Netmask.IsValid() {
				fmt.Fprintf(&b, " -M %s", s.Netmask)
			}
		}
		b.WriteString("\n")
		for _, d := range s.Dests {
			fmt.Fprintf(&b, "-a %s -r %s %s -w %d", s.Key.flag(names), addrPort(d.Addr, s.Key.netProto(), names), fwdSwitch(d.Fwd), d.Weight)
			if d.Fwd == Tunnel {
				b.WriteString(" --tun-type ipip") // as ipvsadm 1.31 -S writes it
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func fwdSwitch(f string) string {
	switch f {
	case Masq:
		return "-m"
	case Tunnel:
		return "-i" // ipvsadm -S adds the tunnel type (see Save)
	}
	return "-g"
}
