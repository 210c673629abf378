package resource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lubdub/lubdub/internal/haconf"
)

// ipAddr is IPaddr and IPaddr2: a service address added and removed
// through netlink, announced with gratuitous ARP.
type ipAddr struct {
	raw   string
	addr  netip.Addr
	bits  int    // 0: inferred
	iface string // "": inferred
	brd   netip.Addr
	alias bool // IPaddr: give the address an iface:N label, as ifconfig aliases
	env   Env
	once  sync.Once
}

func newIPAddr(r haconf.Resource, env Env) (*ipAddr, error) {
	if len(r.Args) == 0 {
		return nil, fmt.Errorf("resource %s: give the address, as %s::198.18.0.10/24/eth0", r.Raw, r.Type)
	}
	a := &ipAddr{raw: r.Raw, alias: r.Type == "IPaddr", env: env}
	parts := strings.Split(r.Args[0], "/")
	var err error
	if a.addr, err = netip.ParseAddr(parts[0]); err != nil || !a.addr.Is4() {
		return nil, fmt.Errorf("resource %s: %q is not an IPv4 address", r.Raw, parts[0])
	}
	for _, p := range parts[1:] {
		switch {
		case isDigits(p):
			a.bits, _ = strconv.Atoi(p)
		case strings.Count(p, ".") == 3:
			if a.brd, err = netip.ParseAddr(p); err != nil {
				return nil, fmt.Errorf("resource %s: broadcast %q: %w", r.Raw, p, err)
			}
		default:
			a.iface = p
		}
	}
	return a, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func (a *ipAddr) Name() string { return a.raw }

// resolve finds the interface and prefix: as given, or from the interface
// whose own address's subnet contains the service address.
func (a *ipAddr) resolve() (netlink.Link, int, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, 0, fmt.Errorf("listing interfaces: %w", err)
	}
	for _, l := range links {
		name := l.Attrs().Name
		if a.iface != "" && name != a.iface {
			continue
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			ones, _ := ad.Mask.Size()
			p, ok := netip.AddrFromSlice(ad.IP.To4())
			if !ok || p == a.addr {
				continue
			}
			bits := a.bits
			if bits == 0 {
				bits = ones
			}
			if netip.PrefixFrom(p, ones).Masked().Contains(a.addr) || a.iface != "" {
				return l, bits, nil
			}
		}
		if a.iface != "" {
			if a.bits == 0 {
				return nil, 0, fmt.Errorf("%s: interface %s has no address in the same subnet; give the prefix length (%s/24/%s)", a.raw, a.iface, a.addr, a.iface)
			}
			return l, a.bits, nil
		}
	}
	if a.iface != "" {
		return nil, 0, fmt.Errorf("%s: interface %s does not exist", a.raw, a.iface)
	}
	return nil, 0, fmt.Errorf("%s: no interface has a subnet containing %s; give it as %s/24/eth0", a.raw, a.addr, a.addr)
}

func (a *ipAddr) nlAddr(l netlink.Link, bits int) *netlink.Addr {
	ipn := &net.IPNet{IP: a.addr.AsSlice(), Mask: net.CIDRMask(bits, 32)}
	na := &netlink.Addr{IPNet: ipn}
	if a.brd.IsValid() {
		na.Broadcast = a.brd.AsSlice()
	} else if bits < 31 {
		b := netip.PrefixFrom(a.addr, bits).Masked().Addr().As4()
		m := net.CIDRMask(bits, 32)
		for i := range b {
			b[i] |= ^m[i]
		}
		na.Broadcast = net.IP(b[:])
	}
	if a.alias {
		na.Label = aliasLabel(l)
	}
	return na
}

// aliasLabel is the first free iface:N label.
func aliasLabel(l netlink.Link) string {
	used := map[string]bool{}
	if addrs, err := netlink.AddrList(l, netlink.FAMILY_V4); err == nil {
		for _, ad := range addrs {
			used[ad.Label] = true
		}
	}
	name := l.Attrs().Name
	for i := 0; ; i++ {
		if lb := fmt.Sprintf("%s:%d", name, i); !used[lb] && len(lb) <= 15 {
			return lb
		} else if len(lb) > 15 {
			return ""
		}
	}
}

// present reports whether the address is on the link.
func (a *ipAddr) present(l netlink.Link) (bool, error) {
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("listing addresses of %s: %w", l.Attrs().Name, err)
	}
	for _, ad := range addrs {
		if p, ok := netip.AddrFromSlice(ad.IP.To4()); ok && p == a.addr {
			return true, nil
		}
	}
	return false, nil
}

func (a *ipAddr) Start(ctx context.Context) error {
	l, bits, err := a.resolve()
	if err != nil {
		return err
	}
	if ok, err := a.present(l); err != nil {
		return err
	} else if !ok {
		if err := netlink.AddrAdd(l, a.nlAddr(l, bits)); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding %s/%d on %s: %w", a.addr, bits, l.Attrs().Name, err)
		}
		a.env.Log.Info(fmt.Sprintf("IP address %s/%d added on %s", a.addr, bits, l.Attrs().Name), "resource", a.raw)
	}
	a.announcer().Announce(l.Attrs().Index, a.addr)
	return nil
}

// Announce sends the address's gratuitous ARP schedule again, if it is
// here: after a partition heals, clients may have followed the other side.
func (a *ipAddr) Announce(ctx context.Context) error {
	l, _, err := a.resolve()
	if err != nil {
		return err
	}
	if ok, err := a.present(l); err != nil || !ok {
		return err
	}
	// Reannounce, not Announce: a stop that released the address since
	// present looked must win.
	if a.announcer().Reannounce(a.addr) {
		a.env.Log.Info(fmt.Sprintf("announcing %s again on %s", a.addr, l.Attrs().Name), "resource", a.raw)
	}
	return nil
}

// announcer is the node's, or one of the agent's own where none was given
// (lubdub check makes agents it never starts).
func (a *ipAddr) announcer() *Announcer {
	a.once.Do(func() {
		if a.env.Announcer == nil {
			a.env.Announcer = NewAnnouncer(NewARPSender(), a.env.Log)
		}
	})
	return a.env.Announcer
}

// arpSender sends gratuitous ARP through one socket per interface.
type arpSender struct {
	mu    sync.Mutex
	conns map[int]*arp.Client
}

// NewARPSender returns the real ARPSender.
func NewARPSender() ARPSender { return &arpSender{conns: map[int]*arp.Client{}} }

func (s *arpSender) Send(ifindex int, addr netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[ifindex]
	if c == nil {
		ifi, err := net.InterfaceByIndex(ifindex)
		if err != nil {
			return err
		}
		if c, err = arp.Dial(ifi); err != nil {
			return fmt.Errorf("opening ARP socket on %s: %w", ifi.Name, err)
		}
		s.conns[ifindex] = c
	}
	hw := c.HardwareAddr()
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	req, err := arp.NewPacket(arp.OperationRequest, hw, addr, net.HardwareAddr{0, 0, 0, 0, 0, 0}, addr)
	if err != nil {
		return err
	}
	rep, err := arp.NewPacket(arp.OperationReply, hw, addr, bcast, addr)
	if err != nil {
		return err
	}
	if err := errors.Join(c.WriteTo(req, bcast), c.WriteTo(rep, bcast)); err != nil {
		// The interface may have gone (and come back with a new socket).
		c.Close()
		delete(s.conns, ifindex)
		return err
	}
	return nil
}

func (s *arpSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.conns {
		c.Close()
		delete(s.conns, i)
	}
	return nil
}

func (a *ipAddr) Stop(ctx context.Context) error {
	l, bits, err := a.resolve()
	if err != nil {
		// No interface for it: the address cannot be configured here.
		a.env.Log.Info(fmt.Sprintf("%s: %v; nothing to remove", a.raw, err), "resource", a.raw)
		return nil
	}
	// No announcement of the address may leave once it is gone.
	a.announcer().Release(a.addr)
	ok, err := a.present(l)
	if err != nil || !ok {
		return err
	}
	if err := netlink.AddrDel(l, &netlink.Addr{IPNet: &net.IPNet{IP: a.addr.AsSlice(), Mask: net.CIDRMask(bits, 32)}}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("removing %s from %s: %w", a.addr, l.Attrs().Name, err)
	}
	a.env.Log.Info(fmt.Sprintf("IP address %s removed from %s", a.addr, l.Attrs().Name), "resource", a.raw)
	return nil
}

func (a *ipAddr) Running(ctx context.Context) (bool, error) {
	l, _, err := a.resolve()
	if err != nil {
		return false, nil
	}
	return a.present(l)
}
