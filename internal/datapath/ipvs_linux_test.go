package datapath

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/mdlayher/netlink"
)

// roundTrip encodes a service as lubdub sends it and decodes it as the
// kernel's answers are read (the kernel answers with the same attributes).
func roundTrip(t *testing.T, v *ipvsSvc) *ipvsSvc {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Nested(ipvsAttrService, v.encodeFull)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatal(err)
	}
	var back ipvsSvc
	for ad.Next() {
		ad.Nested(back.decode)
	}
	if err := ad.Err(); err != nil {
		t.Fatal(err)
	}
	return &back
}

// The translation to IPVS's netlink attributes and back; the kernel side
// is tested in the VM (e2e/ipvs).
func TestIPVSTranslation(t *testing.T) {
	s := &lvs.Service{Key: lvs.Key{Proto: "UDP", Addr: netip.MustParseAddrPort("198.18.0.10:53")}, Scheduler: "wlc",
		Persistent: true, Timeout: 600, Netmask: netip.MustParseAddr("255.255.255.0")}
	v := toIPVS(s)
	if v.Proto != protoUDP || v.Port != 53 || v.Addr != s.Addr.Addr() || v.Sched != "wlc" ||
		v.Flags&ipvsSvcPersistent == 0 || v.Timeout != 600 || v.Netmask != 0xffffff00 {
		t.Errorf("toIPVS: %+v", v)
	}
	back := fromIPVS(roundTrip(t, v))
	if back.Key != s.Key || back.Scheduler != s.Scheduler || !back.Persistent || back.Timeout != 600 || back.Netmask != s.Netmask {
		t.Errorf("fromIPVS: %+v", back)
	}
	for fwd, want := range map[string]uint32{lvs.Masq: ipvsFwdMasq, lvs.Route: ipvsFwdRoute, lvs.Tunnel: ipvsFwdTunnel, lvs.Local: ipvsFwdLocal} {
		d := toDest(&lvs.Dest{Addr: netip.MustParseAddrPort("198.18.1.2:8080"), Fwd: fwd, Weight: 7})
		if d.Fwd != want || d.Port != 8080 || d.Weight != 7 || fromDest(d).Fwd != fwd {
			t.Errorf("toDest %s: %+v", fwd, d)
		}
	}
	f := toIPVS(&lvs.Service{Key: lvs.Key{Proto: "FWM", FWMark: 9}, Scheduler: "rr"})
	if f.FWMark != 9 || fromIPVS(roundTrip(t, f)).Key != (lvs.Key{Proto: "FWM", FWMark: 9}) {
		t.Errorf("firewall mark: %+v", f)
	}
	if s := fromIPVS(roundTrip(t, toIPVS(&lvs.Service{Key: lvs.Key{Proto: "TCP", Addr: netip.MustParseAddrPort("198.18.0.10:80")}, Scheduler: "rr"}))); s.Persistent || s.Netmask.IsValid() {
		t.Errorf("a service without persistence came back with it: %+v", s)
	}
}

func TestParseProcConns(t *testing.T) {
	in := "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n" +
		"TCP C6120064 9C40 C612000A 0050 C612010B 0050 TIME_WAIT         119\n"
	got, err := parseProcConns(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Conn{Proto: "TCP", State: "TIME_WAIT", Expire: 119 * time.Second, Client: netip.MustParseAddrPort("198.18.0.100:40000"),
		Virtual: netip.MustParseAddrPort("198.18.0.10:80"), Real: netip.MustParseAddrPort("198.18.1.11:80")}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseProcConns(strings.NewReader("h\nTCP zz 9C40 C612000A 0050 C612010B 0050 X 1\n")); err == nil {
		t.Error("a bad line was accepted")
	}
}

func FuzzParseProcConns(f *testing.F) {
	f.Add("Pro FromIP\nTCP C6120064 9C40 C612000A 0050 C612010B 0050 TIME_WAIT 119\n")
	f.Fuzz(func(t *testing.T, s string) { parseProcConns(strings.NewReader(s)) })
}

// The decoders take whatever the kernel (or a fuzzer) sends without
// panicking.
func FuzzIPVSDecode(f *testing.F) {
	ae := netlink.NewAttributeEncoder()
	v := toIPVS(&lvs.Service{Key: lvs.Key{Proto: "TCP", Addr: netip.MustParseAddrPort("198.18.0.10:80")}, Scheduler: "rr", Persistent: true, Timeout: 300})
	ae.Nested(ipvsAttrService, v.encodeFull)
	b, _ := ae.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, dec := range []func(*netlink.AttributeDecoder) error{(&ipvsSvc{}).decode, (&ipvsDest{}).decode} {
			ad, err := netlink.NewAttributeDecoder(b)
			if err != nil {
				return
			}
			for ad.Next() {
				ad.Nested(dec)
			}
		}
	})
}
