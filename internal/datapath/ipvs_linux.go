package datapath

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/lvs"
)

// IPVSPath is the IPVS data path: the kernel's own virtual-server table,
// over generic netlink. IPVS has no transactions: Sync applies the
// difference service by service, real server by real server.
type IPVSPath struct{ n *ipvsConn }

// OpenIPVS connects to IPVS; it fails on kernels without it.
func OpenIPVS() (*IPVSPath, error) {
	n, err := dialIPVS()
	if err != nil {
		return nil, err
	}
	if _, err := n.version(); err != nil {
		n.Close()
		return nil, fmt.Errorf("asking IPVS for its version: %w", err)
	}
	return &IPVSPath{n: n}, nil
}

func (p *IPVSPath) Name() string { return IPVS }
func (p *IPVSPath) Close() error { return p.n.Close() }

var fwdToIPVS = map[string]uint32{lvs.Masq: ipvsFwdMasq, lvs.Local: ipvsFwdLocal, lvs.Tunnel: ipvsFwdTunnel, lvs.Route: ipvsFwdRoute}
var fwdFromIPVS = map[uint32]string{ipvsFwdMasq: lvs.Masq, ipvsFwdLocal: lvs.Local, ipvsFwdTunnel: lvs.Tunnel, ipvsFwdRoute: lvs.Route}

func toIPVS(s *lvs.Service) *ipvsSvc {
	v := &ipvsSvc{Sched: s.Scheduler, Netmask: 0xffffffff}
	switch s.Proto {
	case "FWM":
		v.FWMark = s.FWMark
	case "UDP":
		v.Proto, v.Addr, v.Port = protoUDP, s.Addr.Addr(), s.Addr.Port()
	default:
		v.Proto, v.Addr, v.Port = protoTCP, s.Addr.Addr(), s.Addr.Port()
	}
	if s.Persistent {
		v.Flags |= ipvsSvcPersistent
		v.Timeout = uint32(s.Timeout)
		if s.Netmask.IsValid() {
			m := s.Netmask.As4()
			v.Netmask = uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
		}
	}
	return v
}

// rateCounters puts the estimator's rates where the counters go, for
// listing with --rate.
func rateCounters(c counters) counters {
	return counters{Conns: c.CPS, InPkts: c.InPPS, OutPkts: c.OutPPS, InBytes: c.InBPS, OutBytes: c.OutBPS}
}

func fromIPVS(v *ipvsSvc) *lvs.Service {
	s := &lvs.Service{Scheduler: v.Sched}
	switch {
	case v.FWMark != 0:
		s.Key = lvs.Key{Proto: "FWM", FWMark: v.FWMark}
	case v.Proto == protoUDP:
		s.Key = lvs.Key{Proto: "UDP", Addr: netip.AddrPortFrom(v.Addr, v.Port)}
	default:
		s.Key = lvs.Key{Proto: "TCP", Addr: netip.AddrPortFrom(v.Addr, v.Port)}
	}
	if v.Flags&ipvsSvcPersistent != 0 {
		s.Persistent, s.Timeout = true, int(v.Timeout)
		if m := v.Netmask; m != 0xffffffff { // /32 is no mask, as in the model
			s.Netmask = netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
		}
	}
	c := v.Stats
	s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes = c.Conns, c.InPkts, c.OutPkts, c.InBytes, c.OutBytes
	return s
}

func toDest(d *lvs.Dest) *ipvsDest {
	return &ipvsDest{Addr: d.Addr.Addr(), Port: d.Addr.Port(), Weight: uint32(d.Weight), Fwd: fwdToIPVS[d.Fwd]}
}

func fromDest(d *ipvsDest) *lvs.Dest {
	c := d.Stats
	return &lvs.Dest{Addr: netip.AddrPortFrom(d.Addr, d.Port), Fwd: fwdFromIPVS[d.Fwd], Weight: int(d.Weight),
		ActiveConn: uint64(d.ActiveConn), InActConn: uint64(d.InActConn),
		Conns: c.Conns, InPkts: c.InPkts, OutPkts: c.OutPkts, InBytes: c.InBytes, OutBytes: c.OutBytes}
}

// Load reads IPVS's table (keys filter it), in ipvsadm's order.
func (p *IPVSPath) Load(keys []lvs.Key, _ bool) (*lvs.Table, error) { return p.load(keys, false) }

// LoadRates is Load with IPVS's own rates (connections, packets and
// bytes per second) in place of the counters, as ipvsadm --rate shows
// them.
func (p *IPVSPath) LoadRates(keys []lvs.Key) (*lvs.Table, error) { return p.load(keys, true) }

func (p *IPVSPath) load(keys []lvs.Key, rates bool) (*lvs.Table, error) {
	svcs, err := p.n.services()
	if err != nil {
		return nil, fmt.Errorf("reading IPVS services: %w", err)
	}
	want := map[lvs.Key]bool{}
	for _, k := range keys {
		want[k] = true
	}
	t := &lvs.Table{}
	for i := range svcs {
		if rates {
			svcs[i].Stats = rateCounters(svcs[i].Stats)
		}
		s := fromIPVS(&svcs[i])
		if keys != nil && !want[s.Key] {
			continue
		}
		dests, err := p.n.dests(&svcs[i])
		if err != nil {
			return nil, fmt.Errorf("reading IPVS real servers of %s: %w", s.Key, err)
		}
		for j := range dests {
			if rates {
				dests[j].Stats = rateCounters(dests[j].Stats)
			}
			s.Dests = append(s.Dests, fromDest(&dests[j]))
		}
		t.Services = append(t.Services, s)
	}
	t.Sort() // the kernel's order is its hash table's
	return t, nil
}

// ipvsErr words a kernel refusal as ipvsadm does (libipvs's
// ipvs_strerror), then says what lubdub was doing.
func ipvsErr(what string, cmd uint8, err error) error {
	var msg string
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch cmd {
		case ipvsCmdNewService, ipvsCmdSetService:
			msg = map[syscall.Errno]string{syscall.EEXIST: "Service already exists", syscall.ESRCH: "No such service",
				syscall.ENOENT: "Scheduler or persistence engine not found"}[errno]
		case ipvsCmdDelService, ipvsCmdZero:
			msg = map[syscall.Errno]string{syscall.ESRCH: "No such service"}[errno]
		case ipvsCmdNewDest, ipvsCmdSetDest, ipvsCmdDelDest:
			msg = map[syscall.Errno]string{syscall.ESRCH: "Service not defined", syscall.EEXIST: "Destination already exists",
				syscall.ENOENT: "No such destination"}[errno]
		case ipvsCmdNewDaemon:
			msg = map[syscall.Errno]string{syscall.EEXIST: "Daemon has already run"}[errno]
		case ipvsCmdDelDaemon:
			msg = map[syscall.Errno]string{syscall.ESRCH: "No daemon is running"}[errno]
		}
		if msg == "" {
			msg = map[syscall.Errno]string{syscall.EPERM: "Permission denied (you must be root)",
				syscall.EINVAL:      "Invalid operation.  Possibly wrong module version, address not unicast, ...",
				syscall.ENOPROTOOPT: "Protocol not available", syscall.ENOMEM: "Memory allocation problem",
				syscall.EAFNOSUPPORT: "Operation not supported with specified address family"}[errno]
		}
		if msg == "" {
			// ipvsadm's strerror(3): Go's errno texts are the C
			// library's, in lower case.
			msg = errno.Error()
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
	}
	if msg == "" {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s (%s): %w", msg, what, err)
}

// Sync applies the difference to IPVS.
func (p *IPVSPath) Sync(old, new *lvs.Table) error {
	changed, deleted := Diff(old, new)
	for _, s := range deleted {
		if err := p.n.service(ipvsCmdDelService, toIPVS(s)); err != nil {
			return ipvsErr("removing IPVS service "+s.Key.String(), ipvsCmdDelService, err)
		}
	}
	for _, c := range changed {
		v := toIPVS(c.New)
		if c.Old == nil {
			if err := p.n.service(ipvsCmdNewService, v); err != nil {
				return ipvsErr("adding IPVS service "+c.New.Key.String(), ipvsCmdNewService, err)
			}
		} else if sameService(c.Old, c.New) {
			// Only real servers differ.
		} else if err := p.n.service(ipvsCmdSetService, v); err != nil {
			return ipvsErr("changing IPVS service "+c.New.Key.String(), ipvsCmdSetService, err)
		}
		if c.Old != nil {
			for _, d := range c.Old.Dests {
				if _, nd := c.New.Dest(d.Addr); nd == nil {
					if err := p.n.dest(ipvsCmdDelDest, v, toDest(d)); err != nil {
						return ipvsErr(fmt.Sprintf("removing real server %s from %s", d.Addr, c.New.Key), ipvsCmdDelDest, err)
					}
				}
			}
		}
		for _, d := range c.New.Dests {
			var od *lvs.Dest
			if c.Old != nil {
				_, od = c.Old.Dest(d.Addr)
			}
			cmd := uint8(0)
			switch {
			case od == nil:
				cmd = ipvsCmdNewDest
			case od.Fwd != d.Fwd || od.Weight != d.Weight:
				cmd = ipvsCmdSetDest
			}
			if cmd == 0 {
				continue
			}
			if err := p.n.dest(cmd, v, toDest(d)); err != nil {
				return ipvsErr(fmt.Sprintf("setting real server %s of %s", d.Addr, c.New.Key), cmd, err)
			}
		}
	}
	return nil
}

// sameService reports whether two versions of a service have the same
// settings (their real servers aside).
func sameService(a, b *lvs.Service) bool {
	return a.Scheduler == b.Scheduler && a.Persistent == b.Persistent && a.Timeout == b.Timeout && a.Netmask == b.Netmask
}

// Zero resets the counters of the given services (IPVS_CMD_ZERO), or of
// every service and the totals when keys is nil.
func (p *IPVSPath) Zero(keys []lvs.Key) error {
	if keys == nil {
		if err := p.n.service(ipvsCmdZero, nil); err != nil {
			return ipvsErr("zeroing IPVS counters", ipvsCmdZero, err)
		}
		return nil
	}
	for _, k := range keys {
		if err := p.n.service(ipvsCmdZero, toIPVS(&lvs.Service{Key: k})); err != nil {
			return ipvsErr("zeroing the counters of "+k.String(), ipvsCmdZero, err)
		}
	}
	return nil
}

// ProcConns is where IPVS lists its connections.
const ProcConns = "/proc/net/ip_vs_conn"

// Conns lists IPVS's connections, for -L -c, from ProcConns as ipvsadm
// does.
func (p *IPVSPath) Conns() ([]Conn, error) {
	f, err := os.Open(ProcConns)
	if err != nil {
		return nil, fmt.Errorf("reading IPVS connections: %w", err)
	}
	defer f.Close()
	return parseProcConns(f)
}

// parseProcConns reads /proc/net/ip_vs_conn: a header, then lines of
// "TCP C612640A 9C40 C612000A 0050 C6120B0B 0050 ESTABLISHED 899"
// (addresses and ports in hex, the expiry in seconds).
func parseProcConns(f io.Reader) ([]Conn, error) {
	var out []Conn
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if line == 1 || len(fs) < 9 {
			continue
		}
		var ap [3]netip.AddrPort
		ok := true
		for i := range ap {
			a, err1 := strconv.ParseUint(fs[1+2*i], 16, 32)
			pt, err2 := strconv.ParseUint(fs[2+2*i], 16, 16)
			if err1 != nil || err2 != nil {
				ok = false
				break
			}
			ap[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), uint16(pt))
		}
		exp, err := strconv.Atoi(fs[8])
		if !ok || err != nil {
			return nil, fmt.Errorf("%s:%d: cannot read %q", ProcConns, line, sc.Text())
		}
		out = append(out, Conn{Proto: fs[0], State: fs[7], Expire: time.Duration(exp) * time.Second, Client: ap[0], Virtual: ap[1], Real: ap[2]})
	}
	return out, sc.Err()
}

// StartDaemon starts one of IPVS's sync daemons (ipvsadm --start-daemon).
// A master and a backup may run at once; a second of the same kind is
// refused ("Daemon has already run").
func (p *IPVSPath) StartDaemon(d lvs.SyncDaemon) error {
	v := &ipvsDaemon{State: ipvsStateMaster, Ifn: d.Interface, SyncID: uint32(d.SyncID), MaxLen: uint16(d.MaxLen),
		Group: d.Group, Port: uint16(d.Port), TTL: uint8(d.TTL)}
	if d.State == lvs.Backup {
		v.State = ipvsStateBackup
	}
	if err := p.n.daemon(ipvsCmdNewDaemon, v); err != nil {
		return ipvsErr(fmt.Sprintf("starting the %s sync daemon on %s", d.State, d.Interface), ipvsCmdNewDaemon, err)
	}
	return nil
}

// StopDaemon stops the master or backup sync daemon (ipvsadm
// --stop-daemon); "No daemon is running" if it does not run.
func (p *IPVSPath) StopDaemon(state string) error {
	v := &ipvsDaemon{State: ipvsStateMaster}
	if state == lvs.Backup {
		v.State = ipvsStateBackup
	}
	if err := p.n.daemon(ipvsCmdDelDaemon, v); err != nil {
		return ipvsErr("stopping the "+state+" sync daemon", ipvsCmdDelDaemon, err)
	}
	return nil
}

// Daemons lists the sync daemons that run, with the settings IPVS
// reports (its defaults filled in).
func (p *IPVSPath) Daemons() ([]lvs.SyncDaemon, error) {
	ds, err := p.n.daemons()
	if err != nil {
		return nil, ipvsErr("reading IPVS sync daemons", ipvsCmdGetDaemon, err)
	}
	var out []lvs.SyncDaemon
	for _, d := range ds {
		state := ""
		switch {
		case d.State&ipvsStateMaster != 0:
			state = lvs.Master
		case d.State&ipvsStateBackup != 0:
			state = lvs.Backup
		default:
			continue
		}
		out = append(out, lvs.SyncDaemon{State: state, Interface: d.Ifn, SyncID: int(d.SyncID), MaxLen: int(d.MaxLen),
			Group: d.Group, Port: int(d.Port), TTL: int(d.TTL)})
	}
	return out, nil
}
