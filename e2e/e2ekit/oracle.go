package e2ekit

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Oracle watches a cluster from outside it: every node's address list
// and the client's neighbour entry for the VIP, read over netlink from
// the test process into each namespace (no process is started for a
// reading, so readings are cheap and microseconds apart), every Every.
type Oracle struct {
	vip    net.IP
	names  []string // node order
	nodes  []*netlink.Handle
	client *netlink.Handle
	macs   map[string]string // a node's link address -> node
	every  time.Duration

	// carrierCut: a node whose VIP interface has no carrier counts as
	// cut off (a simulated BMC's power-off cuts the link; SetCarrierCut).
	carrierCut atomic.Bool

	mu      sync.Mutex
	cut     map[string]bool
	samples []Sample
	errs    []string
	stop    chan struct{}
	done    chan struct{}
}

// Sample is one reading of the cluster.
type Sample struct {
	At time.Time
	// Holders are the nodes that held the VIP, in node order. A node counts
	// only if two readings of its addresses both showed it, one before
	// and one after the other nodes' readings: so two holders held it at
	// the same moment, whatever the order of the readings.
	Holders []string
	// Cut are the nodes whose link was cut at that moment (SetCut): what
	// they hold, nobody can reach.
	Cut []string
	// ARP is the node the client's neighbour entry for the VIP names ("" if
	// it has none, "?" if the address is nobody's); ARPUsable says the
	// client would use it as it is (not stale, failed or incomplete).
	ARP       string
	ARPUsable bool
}

// Reachable are the holders whose link was not cut.
func (s Sample) Reachable() []string {
	var r []string
	for _, h := range s.Holders {
		if !slices.Contains(s.Cut, h) {
			r = append(r, h)
		}
	}
	return r
}

// maxWatch bounds an oracle's life: it stops sampling after this long.
const maxWatch = 30 * time.Minute

// StartOracle starts sampling. nodes names the hosts to read, in order;
// client is the host whose neighbour table is read (nil: none). Stop it
// with Stop (the oracle stops by itself after 30 minutes).
func StartOracle(nodes []*lab.Host, client *lab.Host, vip string, every time.Duration) (*Oracle, error) {
	o := &Oracle{vip: net.ParseIP(vip), macs: map[string]string{}, every: every, cut: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if o.vip == nil {
		return nil, fmt.Errorf("oracle: %q is no IP address", vip)
	}
	for _, h := range nodes {
		nh, err := handleIn(h)
		if err != nil {
			o.close()
			return nil, err
		}
		o.names = append(o.names, h.Name)
		o.nodes = append(o.nodes, nh)
		links, err := nh.LinkList()
		if err != nil {
			o.close()
			return nil, fmt.Errorf("oracle: listing %s's links: %w", h.Name, err)
		}
		for _, l := range links {
			if mac := l.Attrs().HardwareAddr.String(); mac != "" {
				o.macs[mac] = h.Name
			}
		}
	}
	if client != nil {
		ch, err := handleIn(client)
		if err != nil {
			o.close()
			return nil, err
		}
		o.client = ch
	}
	go o.run()
	return o, nil
}

// handleIn opens a netlink handle inside a host's network namespace.
func handleIn(h *lab.Host) (*netlink.Handle, error) {
	ns, err := netns.GetFromName(h.NS)
	if err != nil {
		return nil, fmt.Errorf("oracle: opening %s's namespace %s: %w", h.Name, h.NS, err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("oracle: netlink in %s's namespace: %w", h.Name, err)
	}
	return nh, nil
}

func (o *Oracle) close() {
	for _, h := range o.nodes {
		h.Close()
	}
	if o.client != nil {
		o.client.Close()
	}
}

func (o *Oracle) run() {
	defer close(o.done)
	defer o.close()
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	for i := int64(0); i < int64(maxWatch/o.every); i++ {
		o.sample()
		select {
		case <-o.stop:
			return
		case <-tick.C:
		}
	}
}

func (o *Oracle) sample() {
	var seen [2][]bool
	var errs []string
	// down: the interface holding the VIP has no carrier (the link cut
	// by a test, or by a simulated BMC's power-off): nobody reaches it.
	down := make([]bool, len(o.nodes))
	for round := range seen {
		seen[round] = make([]bool, len(o.nodes))
		for i, h := range o.nodes {
			addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
			if err != nil {
				errs = append(errs, fmt.Sprintf("reading %s's addresses: %v", o.names[i], err))
			}
			for _, a := range addrs {
				if a.IP.Equal(o.vip) {
					seen[round][i] = true
					if !o.carrierCut.Load() {
						continue
					}
					if l, err := h.LinkByIndex(a.LinkIndex); err == nil && l.Attrs().OperState != netlink.OperUp && l.Attrs().OperState != netlink.OperUnknown {
						down[i] = true
					}
				}
			}
		}
	}
	at := time.Now()
	s := Sample{At: at}
	for i, name := range o.names {
		if seen[0][i] && seen[1][i] {
			s.Holders = append(s.Holders, name)
		}
	}
	if o.client != nil {
		neigh, err := o.client.NeighList(0, netlink.FAMILY_V4)
		if err != nil {
			errs = append(errs, fmt.Sprintf("reading the client's neighbours: %v", err))
		}
		for _, n := range neigh {
			if !n.IP.Equal(o.vip) || len(n.HardwareAddr) == 0 {
				continue
			}
			s.ARP = o.macs[n.HardwareAddr.String()]
			if s.ARP == "" {
				s.ARP = "?"
			}
			s.ARPUsable = n.State&(netlink.NUD_STALE|netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) == 0
		}
	}
	o.mu.Lock()
	for i, name := range o.names {
		if o.cut[name] || down[i] {
			s.Cut = append(s.Cut, name)
		}
	}
	o.samples = append(o.samples, s)
	o.errs = append(o.errs, errs...)
	o.mu.Unlock()
}

// SetCarrierCut makes a node whose VIP interface has no carrier count as
// cut off, without SetCut: for links cut by something other than the
// test itself (a simulated BMC's power-off).
func (o *Oracle) SetCarrierCut(on bool) { o.carrierCut.Store(on) }

// SetCut says that a node's link is cut (or no longer): what it holds
// meanwhile, nobody can reach.
func (o *Oracle) SetCut(name string, cut bool) {
	o.mu.Lock()
	o.cut[name] = cut
	o.mu.Unlock()
}

// Stop ends the sampling (at once if it ended already).
func (o *Oracle) Stop() {
	select {
	case <-o.stop:
	default:
		close(o.stop)
	}
	<-o.done
}

// Samples returns the samples taken so far.
func (o *Oracle) Samples() []Sample {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.samples)
}

// Since returns the samples taken at or after t.
func (o *Oracle) Since(t time.Time) []Sample {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, _ := slices.BinarySearchFunc(o.samples, t, func(s Sample, t time.Time) int { return s.At.Compare(t) })
	return slices.Clone(o.samples[i:])
}

// Errors are the readings that failed.
func (o *Oracle) Errors() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.errs)
}

// arpGrace is how long after a change of holder the client's ARP entry
// may still name the previous one: the gratuitous ARP's time to land.
const arpGrace = 1500 * time.Millisecond

// Problems judges the samples as the end-to-end tests do: no two nodes
// whose links are up ever hold the VIP at once, and once the holder has
// been the same for a moment, the client's ARP entry (when it would use
// it) names it. Consecutive samples with the same problem are one.
func Problems(samples []Sample) []string {
	var out []string
	last, from, n := "", time.Time{}, 0
	flush := func() {
		if last != "" {
			out = append(out, fmt.Sprintf("%s: %s (%d samples)", from.Format("15:04:05.000"), last, n))
		}
	}
	holder, changed := "", time.Time{}
	for _, s := range samples {
		r := s.Reachable()
		problem := ""
		if len(r) > 1 {
			problem = fmt.Sprintf("VIP held by %s at once", strings.Join(r, " and "))
		}
		if h := strings.Join(r, ","); h != holder || changed.IsZero() {
			holder, changed = h, s.At
		}
		// An entry naming a node that holds the VIP too (cut off for the
		// test, but answering the client) strands nobody.
		if problem == "" && holder != "" && s.ARP != "" && s.ARPUsable && s.At.Sub(changed) > arpGrace && s.ARP != holder && !slices.Contains(s.Holders, s.ARP) {
			problem = fmt.Sprintf("client's ARP entry for the VIP names %s, but %s holds it", s.ARP, holder)
		}
		if problem != last {
			flush()
			last, from, n = problem, s.At, 0
		}
		n++
	}
	flush()
	return out
}

// WatchVIP starts an oracle on the hosts (every 10 ms) that fails the
// test at its end if Problems finds any (or a reading failed).
func WatchVIP(t *testing.T, nodes []*lab.Host, client *lab.Host, vip string) *Oracle {
	t.Helper()
	o, err := StartOracle(nodes, client, vip, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.Stop()
		for _, p := range Problems(o.Samples()) {
			t.Error(p)
		}
		for _, e := range o.Errors() {
			t.Error("VIP watch: " + e)
		}
	})
	return o
}
