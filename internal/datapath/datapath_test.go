package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/lvs"
)

func TestSlots(t *testing.T) {
	count := func(s []int) map[int]int {
		c := map[int]int{}
		for _, i := range s {
			c[i]++
		}
		return c
	}
	for _, c := range []struct {
		sched   string
		weights []int
		head    string
		counts  string
	}{
		{"rr", []int{1, 5, 0, 2}, "[0 1 3 0 1 3]", "map[0:80 1:80 3:80]"},
		{"wrr", []int{3, 1}, "[0 0 1 0 0 0 1 0]", "map[0:180 1:60]"},
		{"wrr", []int{2, 4}, "[1 0 1 1 0 1]", "map[0:80 1:160]"},
		{"sh", []int{1, 1}, "[0 1 0 1 0 1]", "map[0:120 1:120]"},
		{"wrr", []int{5, 0, 5}, "[0 2 0 2 0 2]", "map[0:120 2:120]"},
		{"rr", []int{1, 1, 1, 1, 1, 1, 1}, "[0 1 2 3 4 5]", "map[0:35 1:35 2:34 3:34 4:34 5:34 6:34]"},
		{"wrr", []int{65535, 1, 30000}, "[0 2 0 0 2 0]", "map[0:164 1:1 2:75]"},
	} {
		s := Slots(c.sched, c.weights)
		if len(s) != SlotCount {
			t.Errorf("%s %v: %d slots", c.sched, c.weights, len(s))
			continue
		}
		if got := fmt.Sprint(s[:len(c.head)/2]); !strings.HasPrefix(c.head, got[:len(got)-1]) {
			t.Errorf("%s %v: starts %v, want %s", c.sched, c.weights, s[:8], c.head)
		}
		if got := fmt.Sprint(count(s)); got != c.counts {
			t.Errorf("%s %v: counts %s, want %s", c.sched, c.weights, got, c.counts)
		}
	}
	if s := Slots("wrr", []int{0, 0}); s != nil {
		t.Errorf("no live server: %v", s)
	}
}

func TestDiffTouchesOnlyChangedServices(t *testing.T) {
	mk := func(port uint16, sched string) *lvs.Service {
		return &lvs.Service{Key: lvs.Key{Proto: "TCP", Addr: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.10"), port)}, Scheduler: sched}
	}
	old := &lvs.Table{Services: []*lvs.Service{mk(80, "rr"), mk(81, "rr"), mk(82, "rr")}}
	nt := &lvs.Table{Services: []*lvs.Service{mk(80, "rr"), mk(81, "wrr"), mk(83, "sh")}}
	changed, deleted := Diff(old, nt)
	if len(changed) != 2 || changed[0].New.Addr.Port() != 81 || changed[0].Old == nil || changed[1].Old != nil ||
		len(deleted) != 1 || deleted[0].Addr.Port() != 82 {
		t.Errorf("changed %+v deleted %+v", changed, deleted)
	}
}

func TestCheckNFTMessages(t *testing.T) {
	s := &lvs.Service{Key: lvs.Key{Proto: "TCP", Addr: netip.MustParseAddrPort("198.18.0.10:80")}, Scheduler: "rr",
		Dests: []*lvs.Dest{{Addr: netip.MustParseAddrPort("198.18.1.2:80"), Fwd: lvs.Route, Weight: 1}}}
	if err := CheckNFT(s); err == nil || err.Error() != "TCP  198.18.0.10:80: real server 198.18.1.2:80: forwarding method Route (-g, ipvsadm's default) needs IPVS; the nftables data path forwards by NAT: give -m: not supported" {
		t.Errorf("got %v", err)
	}
	s.Dests[0].Fwd, s.Scheduler = lvs.Masq, "wlc"
	if err := CheckNFT(s); err == nil {
		t.Error("wlc accepted")
	}
	s.Scheduler = "dh"
	if err := CheckNFT(s); err != nil {
		t.Error(err)
	}
}

func TestDestMarkNeverZero(t *testing.T) {
	k := lvs.Key{Proto: "TCP", Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	if DestMark(k, netip.MustParseAddrPort("198.18.1.2:80")) == 0 {
		t.Fatal("mark 0")
	}
}
