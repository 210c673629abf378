package resource

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
)

// AddrInUse asks, with ARP requests on the interface the address would go
// on (iface, or the one whose subnet holds addr), whether another machine
// answers for addr: a peer that stopped sending heartbeats but still holds
// its groups' addresses. It sends tries requests, waiting wait for an
// answer after each; it returns the answering MAC address, or nil when
// none answered. An address held here is not asked about (nil).
func AddrInUse(addr netip.Addr, iface string, tries int, wait time.Duration) (net.HardwareAddr, error) {
	a := &ipAddr{raw: addr.String(), addr: addr, iface: iface}
	l, _, err := a.resolve()
	if err != nil {
		return nil, err
	}
	if held, err := a.heldOn(l); err == nil && held {
		return nil, nil
	}
	ifi, err := net.InterfaceByIndex(l.Attrs().Index)
	if err != nil {
		return nil, fmt.Errorf("asking who has %s: %w", addr, err)
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return nil, fmt.Errorf("asking who has %s on %s: %w", addr, ifi.Name, err)
	}
	defer c.Close()
	for i := 0; i < tries; i++ {
		if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
			return nil, fmt.Errorf("asking who has %s on %s: %w", addr, ifi.Name, err)
		}
		mac, err := c.Resolve(addr)
		if err == nil {
			return mac, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("asking who has %s on %s: %w", addr, ifi.Name, err)
		}
	}
	return nil, nil
}

// heldOn reports whether the address is on link l here.
func (a *ipAddr) heldOn(l netlink.Link) (bool, error) {
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false, err
	}
	for _, ad := range addrs {
		if p, ok := netip.AddrFromSlice(ad.IP.To4()); ok && p == a.addr {
			return true, nil
		}
	}
	return false, nil
}
