package datapath

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/lubdub/lubdub/internal/lvs"
)

func TestSlots(t *testing.T) {
	for _, c := range []struct {
		sched   string
		weights []int
		want    string
	}{
		{"rr", []int{1, 5, 0, 2}, "[0 1 3]"},
		{"wrr", []int{3, 1}, "[0 0 1 0]"},
		{"wrr", []int{2, 4}, "[1 0 1]"},
		{"wrr", []int{0, 0}, "[]"},
		{"sh", []int{1, 1}, "[0 1]"},
		{"wrr", []int{5, 0, 5}, "[0 2]"},
	} {
		if got := fmt.Sprint(Slots(c.sched, c.weights)); got != c.want {
			t.Errorf("%s %v: %s, want %s", c.sched, c.weights, got, c.want)
		}
	}
	// Large weights are scaled into maxSlots, every live server kept.
	s := Slots("wrr", []int{65535, 1, 30000})
	count := map[int]int{}
	for _, i := range s {
		count[i]++
	}
	if len(s) > maxSlots || count[1] < 1 || count[0] <= count[2] || count[2] <= count[1] {
		t.Errorf("scaled slots: %d slots, counts %v", len(s), count)
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
