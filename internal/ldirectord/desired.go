package ldirectord

import (
	"fmt"
	"net/netip"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lvs"
)

// ID names one real server of one virtual service.
type ID struct {
	Virtual lvs.Key
	Real    netip.AddrPort
}

// Health tracks check results: a real server goes down after
// FailureCount failures in a row and up at the first success. Servers
// not yet checked are down.
type Health struct {
	fails map[ID]int
	up    map[ID]bool
}

// NewHealth returns a tracker with every server down.
func NewHealth() *Health { return &Health{fails: map[ID]int{}, up: map[ID]bool{}} }

// Observe records one check and reports whether the server changed state.
func (h *Health) Observe(id ID, ok bool, failureCount int) (changed bool) {
	was := h.up[id]
	if ok {
		h.fails[id] = 0
		h.up[id] = true
		return !was
	}
	h.fails[id]++
	if h.fails[id] >= failureCount || !was {
		h.up[id] = false
	}
	return was && !h.up[id]
}

// Up reports whether a server is up.
func (h *Health) Up(id ID) bool { return h.up[id] }

// Service is the virtual service as the kernel should hold it, given
// which real servers are up: down servers are left out (or kept at weight
// 0 with quiescent=yes); with none up, the fallback server serves;
// checktype=on counts every server up, checktype=off none (and no
// fallback).
func Service(v *Virtual, up func(ID) bool) *lvs.Service {
	s := &lvs.Service{Key: v.Key, Scheduler: v.Scheduler}
	if v.Persistent > 0 {
		s.Persistent, s.Timeout, s.Netmask = true, v.Persistent, v.Netmask
	}
	live := 0
	for _, r := range v.Reals {
		isUp := v.CheckType == CheckOn || (v.CheckType != CheckOff && up(ID{v.Key, r.Addr}))
		switch {
		case isUp:
			live++
			s.Dests = append(s.Dests, &lvs.Dest{Addr: r.Addr, Fwd: r.Fwd, Weight: r.Weight})
		case v.Quiescent && v.CheckType != CheckOff:
			s.Dests = append(s.Dests, &lvs.Dest{Addr: r.Addr, Fwd: r.Fwd, Weight: 0})
		}
	}
	if live == 0 && v.Fallback != nil && v.CheckType != CheckOff {
		if _, d := s.Dest(v.Fallback.Addr); d != nil {
			d.Weight = 1
		} else {
			s.Dests = append(s.Dests, &lvs.Dest{Addr: v.Fallback.Addr, Fwd: v.Fallback.Fwd, Weight: 1})
		}
	}
	return s
}

// Check returns why the data path cannot carry a virtual service of the
// configuration, naming its line, or nil.
func (c *Config) Check(dp string) error {
	if dp != datapath.NFTables {
		return nil
	}
	all := func(ID) bool { return true }
	for _, v := range c.Virtuals {
		s := Service(v, all)
		if v.Fallback != nil {
			s.Dests = append(s.Dests, &lvs.Dest{Addr: v.Fallback.Addr, Fwd: v.Fallback.Fwd, Weight: 1})
		}
		for _, d := range s.Dests {
			if d.Fwd == lvs.Route || d.Fwd == lvs.Tunnel {
				return fmt.Errorf("%s:%d: real server %s: gate and ipip need IPVS; on nftables (this kernel has no IPVS) write masq",
					c.File, lineOf(v, d.Addr), d.Addr)
			}
		}
		if err := datapath.CheckNFT(s); err != nil {
			return fmt.Errorf("%s:%d: %w", c.File, v.Line, err)
		}
	}
	return nil
}

func lineOf(v *Virtual, a netip.AddrPort) int {
	for _, r := range v.Reals {
		if r.Addr == a {
			return r.Line
		}
	}
	if v.Fallback != nil && v.Fallback.Addr == a && v.Fallback.Line != 0 {
		return v.Fallback.Line
	}
	return v.Line
}

// Keys lists the configuration's virtual services.
func (c *Config) Keys() []lvs.Key {
	var k []lvs.Key
	for _, v := range c.Virtuals {
		k = append(k, v.Key)
	}
	return k
}
