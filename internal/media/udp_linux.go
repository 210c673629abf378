package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/wire"
)

type udpMedium struct {
	cfg  haconf.Medium
	conn *net.UDPConn
	log  *slog.Logger
	done chan struct{}
	once sync.Once

	mu        sync.Mutex
	dst       *net.UDPAddr
	resolved  time.Time
	warnedBrd bool

	ownMu   sync.Mutex
	own     []netip.Addr // the interface's addresses
	ownTime time.Time
}

// openUDP opens a bcast, mcast or ucast medium on one interface.
//
// Each medium has one socket, bound to its device with SO_BINDTODEVICE, so
// that a frame is attributed to the link it arrived on: bcast binds the
// wildcard address, mcast its group, ucast the interface's own address
// (the more specific bind wins for unicast frames), and none but mcast
// receives multicast (IP_MULTICAST_ALL off).
func openUDP(m haconf.Medium, recv chan<- Packet, log *slog.Logger) (Medium, error) {
	ifi, err := net.InterfaceByName(m.Dev)
	if err != nil {
		return nil, fmt.Errorf("%s: interface %s does not exist", m.Type, m.Dev)
	}
	var bind string
	port := strconv.Itoa(m.Port)
	var dst *net.UDPAddr
	switch m.Type {
	case "bcast":
		bind = "0.0.0.0:" + port
	case "mcast":
		bind = net.JoinHostPort(m.Group.String(), port)
		dst = &net.UDPAddr{IP: m.Group.AsSlice(), Port: m.Port}
	case "ucast":
		all, err := LocalAddrs()
		if err != nil {
			return nil, fmt.Errorf("listing local addresses: %w", err)
		}
		if IsLocalPeer(m.Peer, all) {
			return nil, ErrSkipped
		}
		own, err := ifaceIPv4(m.Dev)
		if err != nil {
			return nil, err
		}
		bind = net.JoinHostPort(own.String(), port)
		dst = &net.UDPAddr{IP: net.ParseIP(m.Peer), Port: m.Port}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			serr = errors.Join(
				unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
				unix.SetsockoptString(s, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, m.Dev),
			)
			if m.Type == "bcast" {
				serr = errors.Join(serr, unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_BROADCAST, 1))
			}
			if m.Type != "mcast" {
				serr = errors.Join(serr, unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0))
			}
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", bind)
	if err != nil {
		return nil, fmt.Errorf("%s %s: opening UDP socket on %s: %w", m.Type, m.Dev, bind, err)
	}
	conn := pc.(*net.UDPConn)
	if m.Type == "mcast" {
		p := ipv4.NewPacketConn(conn)
		err := errors.Join(
			p.JoinGroup(ifi, &net.UDPAddr{IP: m.Group.AsSlice()}),
			p.SetMulticastInterface(ifi),
			p.SetMulticastTTL(m.TTL),
			p.SetMulticastLoopback(m.Loop),
		)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("mcast %s: joining group %s: %w", m.Dev, m.Group, err)
		}
	}
	u := &udpMedium{cfg: m, conn: conn, log: log, done: make(chan struct{}), dst: dst}
	go u.read(recv)
	return u, nil
}

func (u *udpMedium) Link() string        { return u.cfg.Dev }
func (u *udpMedium) Format() wire.Format { return wire.Netstring }

func (u *udpMedium) Close() error {
	u.once.Do(func() { close(u.done) })
	return u.conn.Close()
}

func (u *udpMedium) read(recv chan<- Packet) {
	buf := make([]byte, 65536)
	for {
		n, from, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			select {
			case <-u.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.log.Warn("reading heartbeat socket", "link", u.cfg.Dev, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if u.isOwn(from) {
			continue // our own broadcast or multicast, looped back by the kernel
		}
		p := Packet{Link: u.cfg.Dev, From: from.String(), Data: append([]byte(nil), buf[:n]...)}
		select {
		case recv <- p:
		case <-u.done:
			return
		}
	}
}

// isOwn reports whether a datagram was sent from this interface.
func (u *udpMedium) isOwn(from *net.UDPAddr) bool {
	a, ok := netip.AddrFromSlice(from.IP.To4())
	if !ok {
		return false
	}
	u.ownMu.Lock()
	defer u.ownMu.Unlock()
	if time.Since(u.ownTime) > 5*time.Second {
		u.own = nil
		if ifi, err := net.InterfaceByName(u.cfg.Dev); err == nil {
			addrs, _ := ifi.Addrs()
			u.own = ipv4s(addrs)
		}
		u.ownTime = time.Now()
	}
	for _, o := range u.own {
		if o == a {
			return true
		}
	}
	return false
}

func (u *udpMedium) Send(frame []byte) error {
	dst, err := u.destination()
	if err != nil {
		return err
	}
	if _, err := u.conn.WriteToUDP(frame, dst); err != nil {
		return fmt.Errorf("%s %s: sending to %s: %w", u.cfg.Type, u.cfg.Dev, dst, err)
	}
	return nil
}

// destination is fixed for mcast and ucast; for bcast it is the
// interface's broadcast address, looked up again every few seconds so
// that an address added after start-up is used.
func (u *udpMedium) destination() (*net.UDPAddr, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cfg.Type != "bcast" || (u.dst != nil && time.Since(u.resolved) < 5*time.Second) {
		return u.dst, nil
	}
	brd, configured, err := broadcastAddr(u.cfg.Dev)
	if err != nil {
		if u.dst != nil {
			return u.dst, nil
		}
		return nil, err
	}
	if !configured && !u.warnedBrd {
		u.warnedBrd = true
		u.log.Warn(fmt.Sprintf("interface %s has no broadcast address (add addresses with 'brd +'); sending to %s, computed from the prefix", u.cfg.Dev, brd), "link", u.cfg.Dev)
	}
	u.dst = &net.UDPAddr{IP: brd.AsSlice(), Port: u.cfg.Port}
	u.resolved = time.Now()
	return u.dst, nil
}

// broadcastAddr returns the interface's IPv4 broadcast address, or one
// computed from its prefix when none is configured.
func broadcastAddr(dev string) (netip.Addr, bool, error) {
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("bcast: interface %s: %w", dev, err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("bcast: listing addresses of %s: %w", dev, err)
	}
	for _, a := range addrs {
		if b, ok := netip.AddrFromSlice(a.Broadcast.To4()); ok && b.IsValid() && !b.IsUnspecified() {
			return b, true, nil
		}
	}
	for _, a := range addrs {
		ip := a.IP.To4()
		if ip == nil {
			continue
		}
		mask := net.IP(a.Mask).To4()
		var b [4]byte
		for i := range b {
			b[i] = ip[i] | ^mask[i]
		}
		return netip.AddrFrom4(b), false, nil
	}
	return netip.Addr{}, false, fmt.Errorf("bcast: interface %s has no IPv4 address", dev)
}

func ifaceIPv4(dev string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s does not exist", dev)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("listing addresses of %s: %w", dev, err)
	}
	if v := ipv4s(addrs); len(v) > 0 {
		return v[0], nil
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address", dev)
}

// LocalAddrs lists this host's IPv4 addresses.
func LocalAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	return ipv4s(addrs), nil
}

// ipv4s keeps the IPv4 addresses of an address list.
func ipv4s(addrs []net.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v, ok := netip.AddrFromSlice(n.IP.To4()); ok {
				out = append(out, v)
			}
		}
	}
	return out
}
