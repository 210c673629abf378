package e2ekit

import (
	"slices"
	"testing"
	"time"
)

func TestProblems(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var s []Sample
	add := func(n int, holders []string, cut []string, arp string, usable bool) {
		for range n {
			s = append(s, Sample{At: t0.Add(time.Duration(len(s)) * 10 * time.Millisecond), Holders: holders, Cut: cut, ARP: arp, ARPUsable: usable})
		}
	}
	n1, n2, both := []string{"node1"}, []string{"node2"}, []string{"node1", "node2"}
	add(200, n1, nil, "node1", true)             // 0-2 s: node1, the client follows
	add(100, both, []string{"node1"}, "", false) // node1 cut off: not double
	add(3, both, nil, "node2", true)             // 3.00-3.02 s: both reachable
	add(100, n2, nil, "node1", false)            // a stale entry for node1: the client would not use it
	add(200, n2, nil, "node1", true)             // from 4.03 s: usable, wrong after the grace
	want := []string{
		"12:00:03.000: VIP held by node1 and node2 at once (3 samples)",
		"12:00:04.540: client's ARP entry for the VIP names node1, but node2 holds it (149 samples)",
	}
	if got := Problems(s); !slices.Equal(got, want) {
		t.Errorf("Problems =\n%q, want\n%q", got, want)
	}
}

func TestSince(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	o := &Oracle{}
	for i := range 5 {
		o.samples = append(o.samples, Sample{At: t0.Add(time.Duration(i) * 10 * time.Millisecond)})
	}
	for _, c := range []struct {
		at   time.Duration
		want int
	}{{-time.Second, 5}, {0, 5}, {15 * time.Millisecond, 3}, {20 * time.Millisecond, 3}, {time.Second, 0}} {
		if got := o.Since(t0.Add(c.at)); len(got) != c.want {
			t.Errorf("Since(+%v) has %d samples, want %d", c.at, len(got), c.want)
		}
	}
}
