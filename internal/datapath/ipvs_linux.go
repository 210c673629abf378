package datapath

import (
	"fmt"
	"net/netip"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/lubdub/lubdub/internal/lvs"
)

// IPVSPath is the IPVS data path: the kernel's own virtual-server table,
// over generic netlink. IPVS has no transactions: Sync applies the
// difference service by service, real server by real server.
type IPVSPath struct{ c ipvs.Client }

// OpenIPVS connects to IPVS; it fails on kernels without it.
func OpenIPVS() (*IPVSPath, error) {
	c, err := ipvs.New()
	if err != nil {
		return nil, fmt.Errorf("opening IPVS netlink (is ip_vs loaded?): %w", err)
	}
	if _, err := c.Info(); err != nil {
		return nil, fmt.Errorf("asking IPVS for its version: %w", err)
	}
	return &IPVSPath{c: c}, nil
}

func (p *IPVSPath) Name() string { return IPVS }
func (p *IPVSPath) Close() error { return nil }

var fwdToIPVS = map[string]ipvs.ForwardType{lvs.Masq: ipvs.Masquerade, lvs.Local: ipvs.Local, lvs.Tunnel: ipvs.Tunnel, lvs.Route: ipvs.DirectRoute}

func toIPVS(s *lvs.Service) ipvs.Service {
	v := ipvs.Service{Family: ipvs.INET, Scheduler: s.Scheduler}
	switch s.Proto {
	case "FWM":
		v.FWMark = s.FWMark
	case "UDP":
		v.Protocol, v.Address, v.Port = ipvs.UDP, s.Addr.Addr(), s.Addr.Port()
	default:
		v.Protocol, v.Address, v.Port = ipvs.TCP, s.Addr.Addr(), s.Addr.Port()
	}
	v.Netmask = netmask.MaskFrom(32, 32)
	if s.Persistent {
		v.Flags |= ipvs.ServicePersistent
		v.Timeout = uint32(s.Timeout)
		if s.Netmask.IsValid() {
			v.Netmask = netmask.MaskFrom4(s.Netmask.As4())
		}
	}
	return v
}

func fromIPVS(v ipvs.ServiceExtended) *lvs.Service {
	s := &lvs.Service{Scheduler: v.Scheduler}
	switch {
	case v.FWMark != 0:
		s.Key = lvs.Key{Proto: "FWM", FWMark: v.FWMark}
	case v.Protocol == ipvs.UDP:
		s.Key = lvs.Key{Proto: "UDP", Addr: netip.AddrPortFrom(v.Address, v.Port)}
	default:
		s.Key = lvs.Key{Proto: "TCP", Addr: netip.AddrPortFrom(v.Address, v.Port)}
	}
	if v.Flags&ipvs.ServicePersistent != 0 {
		s.Persistent, s.Timeout = true, int(v.Timeout)
		if m := v.Netmask.AsSlice(); len(m) == 4 {
			s.Netmask = netip.AddrFrom4([4]byte(m))
		}
	}
	s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes = v.Stats.Connections, v.Stats.IncomingPackets, v.Stats.OutgoingPackets, v.Stats.IncomingBytes, v.Stats.OutgoingBytes
	return s
}

func toDest(d *lvs.Dest) ipvs.Destination {
	return ipvs.Destination{Family: ipvs.INET, Address: d.Addr.Addr(), Port: d.Addr.Port(), Weight: uint32(d.Weight), FwdMethod: fwdToIPVS[d.Fwd]}
}

// Load reads IPVS's table (keys filter it).
func (p *IPVSPath) Load(keys []lvs.Key, _ bool) (*lvs.Table, error) {
	svcs, err := p.c.Services()
	if err != nil {
		return nil, fmt.Errorf("reading IPVS services: %w", err)
	}
	want := map[lvs.Key]bool{}
	for _, k := range keys {
		want[k] = true
	}
	t := &lvs.Table{}
	for _, v := range svcs {
		s := fromIPVS(v)
		if keys != nil && !want[s.Key] {
			continue
		}
		dests, err := p.c.Destinations(v.Service)
		if err != nil {
			return nil, fmt.Errorf("reading IPVS real servers of %s: %w", s.Key, err)
		}
		for _, d := range dests {
			fwd := map[ipvs.ForwardType]string{ipvs.Masquerade: lvs.Masq, ipvs.Local: lvs.Local, ipvs.Tunnel: lvs.Tunnel, ipvs.DirectRoute: lvs.Route}[d.FwdMethod]
			s.Dests = append(s.Dests, &lvs.Dest{Addr: netip.AddrPortFrom(d.Address, d.Port), Fwd: fwd, Weight: int(d.Weight),
				ActiveConn: uint64(d.ActiveConnections), InActConn: uint64(d.InactiveConnections),
				Conns: d.Stats.Connections, InPkts: d.Stats.IncomingPackets, OutPkts: d.Stats.OutgoingPackets,
				InBytes: d.Stats.IncomingBytes, OutBytes: d.Stats.OutgoingBytes})
		}
		t.Services = append(t.Services, s)
	}
	return t, nil
}

// Sync applies the difference to IPVS.
func (p *IPVSPath) Sync(old, new *lvs.Table) error {
	changed, deleted := Diff(old, new)
	for _, s := range deleted {
		if err := p.c.RemoveService(toIPVS(s)); err != nil {
			return fmt.Errorf("removing IPVS service %s: %w", s.Key, err)
		}
	}
	for _, c := range changed {
		v := toIPVS(c.New)
		if c.Old == nil {
			if err := p.c.CreateService(v); err != nil {
				return fmt.Errorf("adding IPVS service %s: %w", c.New.Key, err)
			}
		} else if err := p.c.UpdateService(v); err != nil {
			return fmt.Errorf("changing IPVS service %s: %w", c.New.Key, err)
		}
		if c.Old != nil {
			for _, d := range c.Old.Dests {
				if _, nd := c.New.Dest(d.Addr); nd == nil {
					if err := p.c.RemoveDestination(v, toDest(d)); err != nil {
						return fmt.Errorf("removing real server %s from %s: %w", d.Addr, c.New.Key, err)
					}
				}
			}
		}
		for _, d := range c.New.Dests {
			var od *lvs.Dest
			if c.Old != nil {
				_, od = c.Old.Dest(d.Addr)
			}
			var err error
			switch {
			case od == nil:
				err = p.c.CreateDestination(v, toDest(d))
			case od.Fwd != d.Fwd || od.Weight != d.Weight:
				err = p.c.UpdateDestination(v, toDest(d))
			}
			if err != nil {
				return fmt.Errorf("setting real server %s of %s: %w", d.Addr, c.New.Key, err)
			}
		}
	}
	return nil
}

// Zero is not offered by the IPVS netlink library lubdub uses.
func (p *IPVSPath) Zero([]lvs.Key) error {
	return fmt.Errorf("zeroing IPVS counters: %w by lubdub on IPVS (Debian's ipvsadm -Z does it)", ErrUnsupported)
}
