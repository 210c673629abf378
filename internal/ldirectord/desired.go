package ldirectord

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

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

// Down takes a server down at once (a server in maintenance), and
// reports whether it changed state.
func (h *Health) Down(id ID) (changed bool) {
	was := h.up[id]
	h.up[id] = false
	h.fails[id]++
	return was
}

// Known reports whether a server has been checked.
func (h *Health) Known(id ID) bool {
	_, ok := h.up[id]
	return ok
}

// Forget drops the servers drop picks (no longer configured).
func (h *Health) Forget(drop func(ID) bool) {
	for id := range h.up {
		if drop(id) {
			delete(h.up, id)
			delete(h.fails, id)
		}
	}
}

// Up reports whether a server is up.
func (h *Health) Up(id ID) bool { return h.up[id] }

// Service is the virtual service as the kernel should hold it, given
// which real servers are up, as ldirectord keeps it: a down server is
// deleted, or kept at weight 0 with quiescent=yes; with none up, the
// fallback server serves at weight 1 (never quiescent). checktype=on
// counts every server up; checktype=off none (ldirectord adds none, and
// its fallback then serves).
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
		case v.Quiescent:
			s.Dests = append(s.Dests, &lvs.Dest{Addr: r.Addr, Fwd: r.Fwd, Weight: 0})
		}
	}
	if live == 0 && v.Fallback != nil {
		if _, d := s.Dest(v.Fallback.Addr); d != nil {
			d.Weight = 1
		} else {
			s.Dests = append(s.Dests, &lvs.Dest{Addr: v.Fallback.Addr, Fwd: v.Fallback.Fwd, Weight: 1})
		}
	}
	return s
}

// nftSchedulers are the schedulers the nftables data path carries out.
var nftSchedulers = []string{"rr", "wrr", "sh", "dh"}

// Check returns why the data path cannot carry the configuration's
// virtual services, every problem naming its line in ldirectord.cf's
// terms (Errors), or nil.
func (c *Config) Check(dp string) error {
	if dp != datapath.NFTables {
		return nil
	}
	var errs Errors
	add := func(line int, format string, a ...any) {
		errs = append(errs, Error{c.File, line, fmt.Sprintf(format, a...)})
	}
	const why = "this kernel has no IPVS, and lubdub's nftables data path"
	for _, v := range c.Virtuals {
		if v.Key.Proto == "FWM" {
			add(v.Line, "virtual=%d: firewall-mark services need IPVS; %s balances only address:port services", v.Key.FWMark, why)
			continue
		}
		if v.Key.Addr.Port() == 0 {
			add(v.Line, "virtual=%s: port 0 (all ports) needs IPVS; %s balances one port: give the service a port", v.Key.Addr, why)
			continue
		}
		if !slices.Contains(nftSchedulers, v.Scheduler) {
			add(max(v.schedLine, v.Line), "scheduler=%s: %s cannot see live connection counts when it picks a server: write scheduler=rr, wrr, sh or dh", v.Scheduler, why)
		}
		for _, r := range v.Reals {
			if r.Fwd != lvs.Masq {
				add(r.Line, "real server %s: forwarding method %s needs IPVS; %s forwards by NAT only: write masq", r.Addr, ldName(r.Fwd), why)
			}
		}
		if f := v.Fallback; f != nil && f.Fwd != lvs.Masq {
			if f.fwdDefault {
				add(f.Line, "fallback server %s has no forwarding method, so it is gate, ldirectord's default for a fallback; gate needs IPVS; %s forwards by NAT only: write \"%s masq\"", f.Addr, why, f.Addr)
			} else {
				add(f.Line, "fallback server %s: forwarding method %s needs IPVS; %s forwards by NAT only: write masq", f.Addr, ldName(f.Fwd), why)
			}
		}
		s := Service(v, func(ID) bool { return true })
		if v.Fallback != nil {
			s.Dests = append(s.Dests, &lvs.Dest{Addr: v.Fallback.Addr, Fwd: lvs.Masq, Weight: 1})
		}
		for _, d := range s.Dests {
			d.Fwd = lvs.Masq // reported above
		}
		s.Scheduler = "rr" // reported above
		if err := datapath.CheckNFT(s); err != nil {
			add(v.Line, "%v", err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

// ldName is ldirectord's word for an ipvsadm forwarding method.
func ldName(fwd string) string {
	for k, v := range forwardings {
		if v == fwd {
			return k
		}
	}
	return fwd
}

// Keys lists the configuration's virtual services.
func (c *Config) Keys() []lvs.Key {
	var k []lvs.Key
	for _, v := range c.Virtuals {
		k = append(k, v.Key)
	}
	return k
}
