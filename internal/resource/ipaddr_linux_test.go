package resource

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lubdub/lubdub/internal/haconf"
)

// inPrivateNetns runs f on a thread moved into a fresh network namespace,
// which disappears with the thread (never unlocked), so nothing is left
// behind whether f passes, fails or the test is killed. Goroutines that
// the code under test starts run elsewhere, outside the namespace: tests
// of those run in a process of their own (inNetnsProcess).
func inPrivateNetns(t *testing.T, f func(svc, peer netlink.Link)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if svc, peer, ok := vethPair(t); ok {
			f(svc, peer)
		}
	}()
	<-done
}

const inNetnsEnv = "LUBDUB_TEST_IN_NETNS"

// inNetnsProcess runs the calling test again in a child process in a
// network namespace of its own (unshare --net), and reports whether this
// is that child, which then gets the veth pair. The namespace ends with
// the child, whatever happens to it.
func inNetnsProcess(t *testing.T) (svc, peer netlink.Link, inside bool) {
	t.Helper()
	if os.Getenv(inNetnsEnv) == t.Name() {
		svc, peer, ok := vethPair(t)
		if !ok {
			t.FailNow()
		}
		return svc, peer, true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.timeout=50s")
	cmd.Env = append(os.Environ(), inNetnsEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a network namespace of its own: %v\n%s", err, out)
	}
	return nil, nil, false
}

// vethPair makes a veth pair in the current namespace: "svc0"
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
	// Start's repeated announcements run on other threads, outside the
	// namespace: they find the address absent there (the root namespace
	// holds no 198.18.0.0/15 address) and stop, sending nothing.
	inPrivateNetns(t, func(svc, _ netlink.Link) {
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
	inPrivateNetns(t, func(_, _ netlink.Link) {
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

// A started address is announced at once with a gratuitous ARP request
// and reply (sender and target the address, from svc0's MAC; the reply to
// the broadcast address), then again every 50 ms for 1.25 s and once more
// at 2 s, so that neighbours switch to the new holder.
func TestIPAddrAnnouncedWithGratuitousARP(t *testing.T) {
	svc, _, inside := inNetnsProcess(t)
	if !inside {
		return
	}
	func() {
		ifi, err := net.InterfaceByName("peer0")
		if err != nil {
			t.Error(err)
			return
		}
		c, err := arp.Dial(ifi)
		if err != nil {
			t.Errorf("listening for ARP on peer0: %v", err)
			return
		}
		defer c.Close()
		a := ipAgent(t, "IPaddr2::198.18.0.10/24/svc0")
		ctx := context.Background()
		if err := a.Start(ctx); err != nil {
			t.Error(err)
			return
		}
		defer a.Stop(ctx)
		vip := netip.MustParseAddr("198.18.0.10")
		mac := svc.Attrs().HardwareAddr
		var requests, replies int
		deadline := time.Now().Add(4 * time.Second)
		c.SetReadDeadline(deadline)
		for time.Now().Before(deadline) {
			p, eth, err := c.Read()
			if err != nil {
				break
			}
			if p.SenderIP != vip || p.TargetIP != vip {
				continue
			}
			if p.SenderHardwareAddr.String() != mac.String() || eth.Destination.String() != "ff:ff:ff:ff:ff:ff" {
				t.Errorf("gratuitous ARP from %s to %s, want from svc0 (%s) to broadcast", p.SenderHardwareAddr, eth.Destination, mac)
			}
			switch p.Operation {
			case arp.OperationRequest:
				requests++
			case arp.OperationReply:
				replies++
				if p.TargetHardwareAddr.String() != "ff:ff:ff:ff:ff:ff" {
					t.Errorf("gratuitous reply's target MAC %s, want broadcast", p.TargetHardwareAddr)
				}
			}
		}
		// At once, 25 times 50 ms apart (past the neighbours' 1 s locktime),
		// and once more at 2 s: 27 pairs, then silence.
		if requests != 27 || replies != 27 {
			t.Errorf("heard %d requests and %d replies for 198.18.0.10 in 4 s, want 27 of each", requests, replies)
		}
	}()
}

// IPaddr's alias labels are interface names, at most 15 characters
// (IFNAMSIZ - 1): an interface whose name leaves no room gets none.
func TestIPaddrLabelLength(t *testing.T) {
	inPrivateNetns(t, func(_, _ netlink.Link) {
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
		}
	})
}
