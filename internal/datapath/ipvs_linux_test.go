package datapath

import (
	"net/netip"
	"testing"

	"github.com/cloudflare/ipvs"
	"github.com/lubdub/lubdub/internal/lvs"
)

// The IPVS data path cannot run on a kernel without IPVS; its
// translation to and from the library's types is checked here.
func TestIPVSTranslation(t *testing.T) {
	s := &lvs.Service{Key: lvs.Key{Proto: "UDP", Addr: netip.MustParseAddrPort("198.18.0.10:53")}, Scheduler: "wlc",
		Persistent: true, Timeout: 600, Netmask: netip.MustParseAddr("255.255.255.0")}
	v := toIPVS(s)
	if v.Protocol != ipvs.UDP || v.Port != 53 || v.Address != s.Addr.Addr() || v.Scheduler != "wlc" ||
		v.Flags&ipvs.ServicePersistent == 0 || v.Timeout != 600 || v.Netmask.Bits() != 24 {
		t.Errorf("toIPVS: %+v", v)
	}
	back := fromIPVS(ipvs.ServiceExtended{Service: v})
	if back.Key != s.Key || back.Scheduler != s.Scheduler || !back.Persistent || back.Timeout != 600 || back.Netmask != s.Netmask {
		t.Errorf("fromIPVS: %+v", back)
	}
	for fwd, want := range map[string]ipvs.ForwardType{lvs.Masq: ipvs.Masquerade, lvs.Route: ipvs.DirectRoute, lvs.Tunnel: ipvs.Tunnel, lvs.Local: ipvs.Local} {
		d := toDest(&lvs.Dest{Addr: netip.MustParseAddrPort("198.18.1.2:8080"), Fwd: fwd, Weight: 7})
		if d.FwdMethod != want || d.Port != 8080 || d.Weight != 7 {
			t.Errorf("toDest %s: %+v", fwd, d)
		}
	}
	f := toIPVS(&lvs.Service{Key: lvs.Key{Proto: "FWM", FWMark: 9}, Scheduler: "rr"})
	if f.FWMark != 9 || fromIPVS(ipvs.ServiceExtended{Service: f}).Key.FWMark != 9 {
		t.Errorf("firewall mark: %+v", f)
	}
}
