package resource

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/testkit"
	"github.com/mdlayher/arp"
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
		// Spacings wide enough that a loaded machine is never two late.
		an.Spacing, an.Repeats, an.Last = 200*time.Millisecond, 5, 1600*time.Millisecond
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
		// The schedule ends 1.6 s after the start; the frames reach the
		// watcher soon after.
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && (an.Announcing(vip) || watch.count() < 14); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		// Each announcement is a request and a reply.
		if n := watch.count(); n != 14 {
			t.Errorf("%d gratuitous ARP frames seen on the wire, want 14 (a request and a reply now, at 5 repeats and at Last)", n)
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
		if n < 16 {
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
