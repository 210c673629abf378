package resource

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/testkit"
)

// AddrInUse asks the segment with ARP: an address another interface (a
// peer) holds answers with that interface's MAC address, one nobody holds
// is silent after tries × wait, one held here is not asked about, and an
// address no interface's subnet holds is an error naming it.
func TestAddrInUse(t *testing.T) {
	testkit.Isolated(t, func() {
		// The peer in a namespace of its own (inside this test's private
		// mount namespace: it goes with the test): Linux ignores an ARP
		// request whose sender address is one of its own.
		// ip netns add makes a file under /run/netns, which is not a mount
		// of this test's own: a name of this run, removed at the end (not
		// the pid: in the test's own PID namespace it is always 1, and two
		// runs at once, or one killed before its cleanup, collided).
		peer := fmt.Sprintf("lubdub-inuse-%x", rand.Uint64())
		ipOut(t, "netns", "add", peer)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", peer).Run() })
		ipOut(t, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
		ipOut(t, "link", "set", "peer0", "netns", peer)
		ipOut(t, "addr", "add", "198.18.0.1/24", "brd", "+", "dev", "eth0")
		ipOut(t, "addr", "add", "198.18.0.30/24", "brd", "+", "dev", "eth0")
		ipOut(t, "link", "set", "eth0", "up")
		ipOut(t, "-n", peer, "addr", "add", "198.18.0.2/24", "brd", "+", "dev", "peer0")
		ipOut(t, "-n", peer, "addr", "add", "198.18.0.20/24", "brd", "+", "dev", "peer0")
		ipOut(t, "-n", peer, "link", "set", "peer0", "up")
		peerMAC := strings.Fields(ipOut(t, "-n", peer, "-o", "link", "show", "peer0"))
		var want string
		for i, f := range peerMAC {
			if f == "link/ether" && i+1 < len(peerMAC) {
				want = peerMAC[i+1]
			}
		}
		time.Sleep(100 * time.Millisecond) // the link's carrier
		mac, err := AddrInUse(netip.MustParseAddr("198.18.0.20"), "eth0", 3, 200*time.Millisecond)
		if err != nil || mac.String() != want || want == "" {
			t.Errorf("an address the peer holds: %v %v, want %s", mac, err, want)
		}
		start := time.Now()
		mac, err = AddrInUse(netip.MustParseAddr("198.18.0.40"), "", 2, 100*time.Millisecond)
		if took := time.Since(start); mac != nil || err != nil || took < 200*time.Millisecond {
			t.Errorf("an address nobody holds: %v %v after %v, want silence after two tries of 100 ms", mac, err, took)
		}
		start = time.Now()
		mac, err = AddrInUse(netip.MustParseAddr("198.18.0.30"), "eth0", 5, 200*time.Millisecond)
		if took := time.Since(start); mac != nil || err != nil || took > 500*time.Millisecond {
			t.Errorf("an address held here: %v %v after %v, want no answer and no question (asking would take 5 tries of 200 ms)", mac, err, took)
		}
		if _, err := AddrInUse(netip.MustParseAddr("198.19.5.5"), "", 1, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "198.19.5.5") {
			t.Errorf("an address in no subnet here: %v", err)
		}
	})
}
