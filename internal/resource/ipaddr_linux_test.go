package resource

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/testkit"
	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
)

// arpWatch records the gratuitous ARP frames for an address seen on an
// interface.
type arpWatch struct {
	mu   sync.Mutex
	seen []time.Time
	c    *arp.Client
}

func watchARP(t *testing.T, ifname string, addr netip.Addr) *arpWatch {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		t.Fatal(err)
	}
	w := &arpWatch{c: c}
	go func() {
		for {
			p, _, err := c.Read()
			if err != nil {
				return
			}
			if p.SenderIP == addr && p.TargetIP == addr {
				w.mu.Lock()
				w.seen = append(w.seen, time.Now())
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return w
}

func (w *arpWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// IPaddr2 against a real kernel, in a namespace of its own: the address
// added with its prefix and broadcast inferred from the interface's
// subnet, announced by gratuitous ARP seen on the other end of the wire,
// silent at once after its stop (which removes it), and a re-announcement
// only while it is held.
func TestIPaddr2InNamespace(t *testing.T) {
	testkit.Isolated(t, func() {
		ipOut(t, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
		ipOut(t, "addr", "add", "198.18.0.1/24", "brd", "+", "dev", "eth0")
		ipOut(t, "link", "set", "eth0", "up")
		ipOut(t, "addr", "add", "198.19.0.2/24", "brd", "+", "dev", "peer0")
		ipOut(t, "link", "set", "peer0", "up")
		vip := netip.MustParseAddr("198.18.0.10")
		watch := watchARP(t, "peer0", vip)

		an := NewAnnouncer(NewARPSender(), slog.New(slog.DiscardHandler))
		// Spacings wide enough that a loaded machine is never two late
		// (the announcer skips frames a stall of two spacings missed): a
		// 2-core machine shared by other test runs stalls for 400 ms.
		an.Spacing, an.Repeats, an.Last = 500*time.Millisecond, 3, 2500*time.Millisecond
		defer an.Close()
		res, err := haconf.ParseResource("IPaddr2::198.18.0.10")
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(res, Env{Log: slog.New(slog.DiscardHandler), Announcer: an})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if ok, _ := a.Running(ctx); ok {
			t.Fatal("running before its start")
		}
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if out := ipOut(t, "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, "198.18.0.10/24 brd 198.18.0.255") {
			t.Errorf("address not added with the interface's prefix and broadcast:\n%s", out)
		}
		if ok, err := a.Running(ctx); !ok || err != nil {
			t.Fatalf("status after start: %v %v", ok, err)
		}
		// The schedule ends 2.5 s after the start; the frames reach the
		// watcher soon after.
		for end := time.Now().Add(8 * time.Second); time.Now().Before(end) && (an.Announcing(vip) || watch.count() < 10); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		// Each announcement is a request and a reply.
		if n := watch.count(); n != 10 {
			t.Errorf("%d gratuitous ARP frames seen on the wire, want 10 (a request and a reply now, at 3 repeats and at Last)", n)
		}
		// Re-announced while held (after a healed partition).
		if err := a.(*ipAddr).Announce(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if err := a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		n := watch.count()
		if n < 12 {
			t.Errorf("the re-announcement sent nothing (%d frames)", n)
		}
		if out := ipOut(t, "-4", "-o", "addr", "show", "dev", "eth0"); strings.Contains(out, "198.18.0.10") {
			t.Errorf("address still there after its stop:\n%s", out)
		}
		if ok, _ := a.Running(ctx); ok {
			t.Error("running after its stop")
		}
		// Silent at once after the stop, and no re-announcement of an
		// address no longer held.
		if err := a.(*ipAddr).Announce(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if got := watch.count(); got != n {
			t.Errorf("%d gratuitous ARP frames after the stop", got-n)
		}
		// A second stop of a stopped address succeeds (LSB).
		if err := a.Stop(ctx); err != nil {
			t.Errorf("second stop: %v", err)
		}
	})
}

// vethPair makes a veth pair in the current (isolated) namespace: "svc0"
// (198.18.0.1/24, where the resources go) and "peer0" (198.19.0.2/24, in
// another subnet so that no address is inferred onto it, which hears
// svc0's broadcasts), both up with carrier.
func vethPair(t *testing.T) (svc, peer netlink.Link, ok bool) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "svc0"}, PeerName: "peer0"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Errorf("adding a veth pair: %v", err)
		return nil, nil, false
	}
	var links [2]netlink.Link
	for i, c := range []struct{ name, addr string }{{"svc0", "198.18.0.1/24"}, {"peer0", "198.19.0.2/24"}} {
		l, err := netlink.LinkByName(c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			return nil, nil, false
		}
		a, _ := netlink.ParseAddr(c.addr)
		if err := netlink.AddrAdd(l, a); err != nil {
			t.Errorf("address on %s: %v", c.name, err)
			return nil, nil, false
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Errorf("%s up: %v", c.name, err)
			return nil, nil, false
		}
		links[i] = l
	}
	for i := 0; i < 100; i++ {
		l, err := netlink.LinkByName("svc0")
		if err == nil && l.Attrs().OperState == netlink.OperUp {
			return l, links[1], true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("svc0 has no carrier after 2s")
	return nil, nil, false
}

// addrsOn lists the link's IPv4 addresses as "addr/bits brd B label L".
func addrsOn(t *testing.T, l netlink.Link) map[string]string {
	t.Helper()
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Errorf("listing addresses: %v", err)
		return nil
	}
	out := map[string]string{}
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		out[a.IP.String()] = a.IP.String() + "/" + strconv.Itoa(ones) + " brd " + a.Broadcast.String() + " label " + a.Label
	}
	return out
}

func ipAgent(t *testing.T, spec string) Agent {
	t.Helper()
	r, err := haconf.ParseResource(spec)
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	a, err := New(r, Env{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	return a
}

// IPaddr2 and IPaddr as Heartbeat's agents configure them: the prefix,
// interface and broadcast inferred from the interface whose subnet holds
// the address, or as given; IPaddr adds an iface:N label as ifconfig's
// aliases did; start and stop are idempotent; status says whether the
// address is on its interface.
func TestIPAddrInPrivateNamespace(t *testing.T) {
	testkit.Isolated(t, func() {
		svc, _, ok := vethPair(t)
		if !ok {
			t.FailNow()
		}
		ctx := context.Background()
		cases := []struct {
			spec, addr, want string
		}{
			{"IPaddr2::198.18.0.10", "198.18.0.10", "198.18.0.10/24 brd 198.18.0.255 label svc0"},
			{"IPaddr::198.18.0.11", "198.18.0.11", "198.18.0.11/24 brd 198.18.0.255 label svc0:0"},
			{"IPaddr::198.18.0.12/24", "198.18.0.12", "198.18.0.12/24 brd 198.18.0.255 label svc0:1"},
			{"IPaddr2::198.18.0.20/28/svc0", "198.18.0.20", "198.18.0.20/28 brd 198.18.0.31 label svc0"},
			{"IPaddr2::198.18.0.21/27/svc0/198.18.0.30", "198.18.0.21", "198.18.0.21/27 brd 198.18.0.30 label svc0"},
			{"IPaddr2::198.18.0.40/29/svc0", "198.18.0.40", "198.18.0.40/29 brd 198.18.0.47 label svc0"},
			{"IPaddr2::198.18.0.50/30/svc0", "198.18.0.50", "198.18.0.50/30 brd 198.18.0.51 label svc0"},
			{"IPaddr2::198.18.7.1/31/svc0", "198.18.7.1", "198.18.7.1/31 brd <nil> label svc0"},
			{"IPaddr2::198.18.7.9/32/svc0", "198.18.7.9", "198.18.7.9/32 brd <nil> label svc0"},
		}
		var agents []Agent
		for _, c := range cases {
			a := ipAgent(t, c.spec)
			agents = append(agents, a)
			if ok, err := a.Running(ctx); ok || err != nil {
				t.Errorf("%s before start: running=%v err=%v", c.spec, ok, err)
			}
			if err := a.Start(ctx); err != nil {
				t.Errorf("%s: start: %v", c.spec, err)
				continue
			}
			if err := a.Start(ctx); err != nil {
				t.Errorf("%s: second start: %v", c.spec, err)
			}
			if got := addrsOn(t, svc)[c.addr]; got != c.want {
				t.Errorf("%s: on svc0 %q, want %q", c.spec, got, c.want)
			}
			if ok, err := a.Running(ctx); !ok || err != nil {
				t.Errorf("%s after start: running=%v err=%v", c.spec, ok, err)
			}
		}
		for i, a := range agents {
			if err := a.Stop(ctx); err != nil {
				t.Errorf("%s: stop: %v", cases[i].spec, err)
			}
			if err := a.Stop(ctx); err != nil {
				t.Errorf("%s: second stop: %v", cases[i].spec, err)
			}
			if ok, _ := a.Running(ctx); ok {
				t.Errorf("%s: running after stop", cases[i].spec)
			}
			if _, ok := addrsOn(t, svc)[cases[i].addr]; ok {
				t.Errorf("%s: address still on svc0 after stop", cases[i].spec)
			}
		}
		if got := addrsOn(t, svc); len(got) != 1 || got["198.18.0.1"] == "" {
			t.Errorf("svc0 keeps %v, want only its own 198.18.0.1", got)
		}
	})
}

// Addresses that cannot be placed are errors that say why; a stop or a
// status of such an address is not an error (it cannot be here).
func TestIPAddrRefusals(t *testing.T) {
	testkit.Isolated(t, func() {
		if _, _, ok := vethPair(t); !ok {
			t.FailNow()
		}
		ctx := context.Background()
		for spec, want := range map[string]string{
			"IPaddr2::198.18.9.9":             "no interface has a subnet containing 198.18.9.9",
			"IPaddr2::198.18.0.10/24/nosuch0": "interface nosuch0 does not exist",
		} {
			a := ipAgent(t, spec)
			if err := a.Start(ctx); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: start: %v, want %q", spec, err, want)
			}
			if ok, err := a.Running(ctx); ok || err != nil {
				t.Errorf("%s: running=%v err=%v", spec, ok, err)
			}
			if err := a.Stop(ctx); err != nil {
				t.Errorf("%s: stop: %v", spec, err)
			}
		}
		for spec, want := range map[string]string{
			"IPaddr2":                                "give the address",
			"IPaddr2::198.18.0.300":                  "is not an IPv4 address",
			"IPaddr::2001:db8::1":                    "is not an IPv4 address",
			"IPaddr2::198.18.0.10/24/svc0/198.18.0.": "broadcast",
		} {
			r, err := haconf.ParseResource(spec)
			if err != nil {
				continue // refused earlier, by the haresources grammar
			}
			if _, err := New(r, Env{Log: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %q", spec, err, want)
			}
		}
	})
}

// IPaddr's alias labels are interface names, at most 15 characters
// (IFNAMSIZ - 1): an interface whose name leaves no room gets none.
func TestIPaddrLabelLength(t *testing.T) {
	testkit.Isolated(t, func() {
		ctx := context.Background()
		for _, c := range []struct{ name, addr, label string }{
			{"lubdubdummy12", "198.18.3", "lubdubdummy12:0"},
			{"lubdubdummy123", "198.18.4", "lubdubdummy123"},
		} {
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: c.name}, PeerName: c.name[7:] + "p"}); err != nil {
				t.Errorf("adding %s: %v", c.name, err)
				return
			}
			l, _ := netlink.LinkByName(c.name)
			a, _ := netlink.ParseAddr(c.addr + ".1/24")
			if err := netlink.AddrAdd(l, a); err != nil {
				t.Errorf("address on %s: %v", c.name, err)
				return
			}
			netlink.LinkSetUp(l)
			ag := ipAgent(t, "IPaddr::"+c.addr+".10")
			if err := ag.Start(ctx); err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if got := addrsOn(t, l)[c.addr+".10"]; !strings.HasSuffix(got, " label "+c.label) {
				t.Errorf("on %s: %q, want label %s", c.name, got, c.label)
			}
			// The next free label, as long as it fits.
			if c.label == "lubdubdummy12:0" {
				if err := ipAgent(t, "IPaddr::"+c.addr+".11").Start(ctx); err != nil {
					t.Errorf("%s: second address: %v", c.name, err)
				} else if got := addrsOn(t, l)[c.addr+".11"]; !strings.HasSuffix(got, " label lubdubdummy12:1") {
					t.Errorf("on %s: %q, want label lubdubdummy12:1", c.name, got)
				}
			}
		}
	})
}
