// Package datapath puts an lvs.Table into the kernel and reads it back.
// Two data paths implement one small interface: nftables (a table named
// "lubdub" that only lubdub writes, changed in one atomic transaction per
// call) on kernels without IPVS, and IPVS over generic netlink where the
// kernel has it. The kernel holds the state: any process can Load the
// table, change the model and Sync the difference, so the ipvsadm command
// line works with or without a running daemon.
//
// Sync is declarative and touches only the services that differ between
// old and new, so its cost does not grow with the number of services.
package datapath

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/lvs"
)

// DataPath is a kernel load balancer.
type DataPath interface {
	// Name is "nftables" or "ipvs".
	Name() string
	// Load reads the services named by keys (all of them when keys is
	// nil); services that do not exist are left out. With counters it also
	// fills connection, packet and byte counts.
	Load(keys []lvs.Key, counters bool) (*lvs.Table, error)
	// Sync changes the kernel from old (as Load returned it) to new.
	Sync(old, new *lvs.Table) error
	// Zero resets the counters of the given services (all when nil).
	Zero(keys []lvs.Key) error
	Close() error
}

// Syncer is a data path whose kernel synchronises connections between
// directors itself: IPVS's sync daemons, as ipvsadm --start-daemon,
// --stop-daemon and -L --daemon drive them. The nftables path has none:
// conntrackd (conntrack-tools) synchronises its connections.
type Syncer interface {
	StartDaemon(d lvs.SyncDaemon) error
	StopDaemon(state string) error
	Daemons() ([]lvs.SyncDaemon, error)
}

// ErrNoSyncDaemon is returned for a sync daemon asked of a data path
// without them.
var ErrNoSyncDaemon = fmt.Errorf("connection sync daemons are IPVS's: the nftables data path has none (conntrackd from conntrack-tools synchronises its connections): %w", ErrUnsupported)

// Conn is one balanced connection, as ipvsadm -L -c shows it.
type Conn struct {
	Proto, State          string
	Expire                time.Duration
	Client, Virtual, Real netip.AddrPort
	Mark                  uint32
}

// LockFile serialises the lubdub processes that change the kernel's
// table (ipvsadm commands, ldirectord checkers): each reads, changes and
// writes it.
const LockFile = "/run/lubdub/lvs.lock"

// Lock takes LockFile; the returned function releases it.
func Lock() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(LockFile), 0o755); err != nil {
		return nil, fmt.Errorf("creating lock directory: %w", err)
	}
	f, err := os.OpenFile(LockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", LockFile, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", LockFile, err)
	}
	return func() { f.Close() }, nil
}

// Kinds of data path for Open.
const (
	Auto     = "auto"
	NFTables = "nftables"
	IPVS     = "ipvs"
)

// ErrUnsupported marks a table the data path cannot carry out; the
// message says what would work instead.
var ErrUnsupported = errors.New("not supported")

// nftSchedulers are the schedulers the nftables data path carries out.
var nftSchedulers = []string{"rr", "wrr", "sh", "dh"}

// CheckNFT returns why the nftables data path cannot carry a service, or
// nil.
func CheckNFT(s *lvs.Service) error {
	if s.Proto == "FWM" {
		return fmt.Errorf("%s: firewall-mark services need IPVS; the nftables data path takes -t and -u services: %w", s.Key, ErrUnsupported)
	}
	if s.Addr.Port() == 0 {
		return fmt.Errorf("%s: port 0 (all ports) needs IPVS; give the service a port: %w", s.Key, ErrUnsupported)
	}
	if !slices.Contains(nftSchedulers, s.Scheduler) {
		what := "scheduler " + s.Scheduler
		if s.Scheduler == lvs.DefaultScheduler {
			what += " (ipvsadm's default when -s is not given)"
		}
		return fmt.Errorf("%s: %s chooses by live connection counts, which nftables cannot see when it picks a server; give -s rr, wrr, sh or dh (or use a kernel with IPVS): %w",
			s.Key, what, ErrUnsupported)
	}
	for _, d := range s.Dests {
		if d.Fwd != lvs.Masq && d.Fwd != lvs.Local {
			sw := map[string]string{lvs.Route: "-g, ipvsadm's default", lvs.Tunnel: "-i"}[d.Fwd]
			return fmt.Errorf("%s: real server %s: forwarding method %s (%s) needs IPVS; the nftables data path forwards by NAT: give -m: %w",
				s.Key, d.Addr, d.Fwd, sw, ErrUnsupported)
		}
		if d.Addr.Port() == 0 {
			return fmt.Errorf("%s: real server %s needs a port: %w", s.Key, d.Addr, ErrUnsupported)
		}
	}
	return nil
}

// SlotCount is the number of slots every service's scheduler picks from.
// It is fixed, so that adding, removing or re-weighting a real server
// only rewrites the slots (set elements) and never the rule that picks
// (which would make the kernel re-validate the whole table). 240 divides
// evenly among 1-6, 8, 10, 12, 15 and 16 servers; other counts are within
// one slot of even.
const SlotCount = 240

// Slots returns, for a scheduler, which real server (an index into
// weights) each of the SlotCount slots sends to; the kernel cycles (rr,
// wrr) or hashes (sh, dh) over them. Servers with weight 0 (quiescent) get
// none. rr deals slots in turn to the live servers; wrr, sh and dh give
// them in proportion to weight, interleaved smoothly (nginx's smooth
// weighted round robin), so that 3:1 reads a a b a a a b a.
func Slots(sched string, weights []int) []int {
	var live []int
	for i, w := range weights {
		if w > 0 {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return nil
	}
	out := make([]int, 0, SlotCount)
	if sched == "rr" {
		for i := range SlotCount {
			out = append(out, live[i%len(live)])
		}
		return out
	}
	g, total := 0, 0
	for _, i := range live {
		g = gcd(g, weights[i])
	}
	ws := make([]int, len(weights))
	for _, i := range live {
		ws[i] = weights[i] / g
		total += ws[i]
	}
	if total > SlotCount {
		// Scale down, so that every live server keeps at least one slot.
		room, sum := SlotCount-len(live), total
		total = 0
		for _, i := range live {
			ws[i] = 1 + ws[i]*room/sum
			total += ws[i]
		}
	}
	cur := make([]int, len(weights))
	for range SlotCount {
		best := -1
		for _, i := range live {
			cur[i] += ws[i]
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// svcName names a service's chain (and, without "svc-", its maps), to
// read as what it is in `nft list table ip lubdub`.
func svcName(k lvs.Key) string {
	return fmt.Sprintf("svc-%s-%s-%d", strings.ToLower(k.Proto), k.Addr.Addr(), k.Addr.Port())
}

// DestMark is the conntrack mark lubdub gives the connections it sends to
// a real server of a service: the key of its target and its counters. A
// hash of the two, never 0. Two real servers whose marks collide (about
// one chance in eight thousand with a thousand of them) never send to the
// wrong place: with different targets the kernel refuses the second
// (Sync fails, saying so); with the same address they share counters.
func DestMark(k lvs.Key, d netip.AddrPort) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s-%d", svcName(k), d.Addr(), d.Port())
	if m := h.Sum32(); m != 0 {
		return m
	}
	return 1
}

// sameConfig reports whether two services need the same rules.
func sameConfig(a, b *lvs.Service) bool {
	if a.Scheduler != b.Scheduler || a.Persistent != b.Persistent || a.Timeout != b.Timeout ||
		a.Netmask != b.Netmask || len(a.Dests) != len(b.Dests) {
		return false
	}
	for i := range a.Dests {
		x, y := a.Dests[i], b.Dests[i]
		if x.Addr != y.Addr || x.Fwd != y.Fwd || x.Weight != y.Weight {
			return false
		}
	}
	return true
}

// Diff pairs the services of old and new: those to create or rebuild
// (with the old version, or nil) and those to delete.
func Diff(old, new *lvs.Table) (changed []Change, deleted []*lvs.Service) {
	byKey := map[lvs.Key]*lvs.Service{}
	if old != nil {
		for _, s := range old.Services {
			byKey[s.Key] = s
		}
	}
	seen := map[lvs.Key]bool{}
	for _, s := range new.Services {
		seen[s.Key] = true
		o := byKey[s.Key]
		if o != nil && sameConfig(o, s) {
			continue
		}
		changed = append(changed, Change{Old: o, New: s})
	}
	if old != nil {
		for _, s := range old.Services {
			if !seen[s.Key] {
				deleted = append(deleted, s)
			}
		}
	}
	return changed, deleted
}

// planNFT checks new against what nftables can carry, then diffs it.
func planNFT(old, new *lvs.Table) (changed []Change, deleted []*lvs.Service, err error) {
	for _, s := range new.Services {
		if err := CheckNFT(s); err != nil {
			return nil, nil, err
		}
	}
	changed, deleted = Diff(old, new)
	return changed, deleted, nil
}

// Change is one service to create (Old nil) or rebuild.
type Change struct{ Old, New *lvs.Service }
