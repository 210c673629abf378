package haconf

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Ping nodes as Heartbeat's ping plugins make them: one per host of a
// ping line, named as written; one per ping_group line, named by the
// group; host names resolved once; ipfail's respawn line accepted (its
// rule is built in), any other respawn refused.
func TestPingNodes(t *testing.T) {
	old := LookupHost
	defer func() { LookupHost = old }()
	LookupHost = func(name string) ([]netip.Addr, error) {
		if strings.EqualFold(name, "router.example") {
			return []netip.Addr{netip.MustParseAddr("198.18.9.9")}, nil
		}
		return nil, errors.New("no such host")
	}
	type node struct {
		name  string
		addrs string
		group bool
	}
	cases := []struct {
		name, lines string
		nodes       []node
		errs, warns []string
		notes       []string
		ipfail      bool
	}{
		{name: "two hosts on one line", lines: "ping 198.18.9.1 198.18.9.2\n",
			nodes: []node{{"198.18.9.1", "198.18.9.1", false}, {"198.18.9.2", "198.18.9.2", false}}},
		{name: "commas and a host name", lines: "ping 198.18.9.1, Router.example\n",
			nodes: []node{{"198.18.9.1", "198.18.9.1", false}, {"router.example", "198.18.9.9", false}}},
		{name: "group", lines: "ping_group Routers 198.18.9.1 198.18.9.2 198.18.9.1\n",
			nodes: []node{{"routers", "198.18.9.1 198.18.9.2", true}}},
		{name: "no host", lines: "ping\n", errs: []string{"ping: no host given"}},
		{name: "group without host", lines: "ping_group routers\n", errs: []string{"give a group name and at least one host"}},
		{name: "unknown host", lines: "ping nosuch.example\n", errs: []string{"ping nosuch.example: cannot resolve the host name"}},
		{name: "bad address", lines: "ping 198.18.9.300\n", errs: []string{"ping 198.18.9.300: not an IPv4 address or a host name"}},
		{name: "IPv6", lines: "ping 2001:db8::1\n", errs: []string{"not an IPv4 address"}},
		{name: "named as a node", lines: "ping_group node2 198.18.9.1\n", errs: []string{"ping node node2 has the name of a cluster node"}},
		{name: "twice", lines: "ping 198.18.9.1\nping 198.18.9.1\n", errs: []string{"ping node 198.18.9.1 is given twice (first on line 3)"},
			nodes: []node{{"198.18.9.1", "198.18.9.1", false}}},
		{name: "ping6", lines: "ping6 2001:db8::1\n", errs: []string{"IPv6 ping nodes are not supported yet"}},
		{name: "ipfail", lines: "ping 198.18.9.1\nrespawn hacluster /usr/lib/heartbeat/ipfail\n", ipfail: true,
			nodes: []node{{"198.18.9.1", "198.18.9.1", false}}, notes: []string{"ipfail's rule is built into lubdub"}},
		{name: "ipfail without ping nodes", lines: "respawn hacluster /usr/libexec/heartbeat/ipfail\n", ipfail: true,
			warns: []string{"ipfail without ping nodes does nothing"}, notes: []string{"ipfail's rule is built into lubdub"}},
		{name: "another client", lines: "respawn hacluster /usr/lib/heartbeat/dopd\n", errs: []string{"respawn /usr/lib/heartbeat/dopd: lubdub runs no Heartbeat API clients"}},
		{name: "respawn without program", lines: "respawn hacluster\n", errs: []string{"respawn: give a user and a program"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"ha.cf": "node node1 node2\nbcast eth0\n" + tc.lines, "authkeys": goodAuth})
			c, r := Load(dir, Options{Node: "node1"})
			match := func(kind string, got []Diag, want []string) {
				t.Helper()
				var msgs []string
				for _, d := range got {
					msgs = append(msgs, d.Msg)
				}
				for _, w := range want {
					if !strings.Contains(strings.Join(msgs, "\n"), w) {
						t.Errorf("%s %q lack %q", kind, msgs, w)
					}
				}
				if len(want) == 0 && kind != "notes" && len(got) > 0 {
					t.Errorf("unexpected %s: %v", kind, got)
				}
				for _, d := range got {
					if d.Line < 3 && kind != "notes" {
						t.Errorf("%s %v: want the line of the directive", kind, d)
					}
				}
			}
			match("errors", r.Errors, tc.errs)
			match("warnings", r.Warnings, tc.warns)
			match("notes", r.Notes, tc.notes)
			var got []node
			for _, p := range c.PingNodes {
				var as []string
				for _, a := range p.Addrs {
					as = append(as, a.String())
				}
				got = append(got, node{p.Name, strings.Join(as, " "), p.Group})
			}
			if len(tc.errs) == 0 || tc.nodes != nil {
				if len(got) != len(tc.nodes) {
					t.Fatalf("ping nodes %v, want %v", got, tc.nodes)
				}
				for i := range got {
					if got[i] != tc.nodes[i] {
						t.Errorf("ping node %d = %v, want %v", i, got[i], tc.nodes[i])
					}
				}
			}
			if (c.IPFail > 0) != tc.ipfail {
				t.Errorf("IPFail = %d", c.IPFail)
			}
		})
	}
}

// deadping is deadtime unless set, and must exceed twice keepalive.
func TestDeadping(t *testing.T) {
	for _, tc := range []struct {
		lines string
		want  time.Duration
		err   string
	}{
		{"", 10 * time.Second, ""},
		{"deadping 5\n", 5 * time.Second, ""},
		{"deadping 2500ms\n", 2500 * time.Millisecond, ""},
		{"deadping 2\n", 0, "deadping (2s) must be more than twice keepalive (1s)"},
	} {
		dir := write(t, map[string]string{"ha.cf": "node node1 node2\nbcast eth0\nkeepalive 1\ndeadtime 10\ninitdead 20\n" + tc.lines, "authkeys": goodAuth})
		c, r := Load(dir, Options{Node: "node1"})
		if tc.err != "" {
			if err := r.Err(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.lines, err, tc.err)
			}
			continue
		}
		if err := r.Err(); err != nil || c.Deadping != tc.want {
			t.Errorf("%q: deadping %v (%v), want %v", tc.lines, c.Deadping, err, tc.want)
		}
	}
}
