package haconf

import (
	"net/netip"
	"path"
	"slices"
	"strings"
)

// PingNode is one of Heartbeat's ping nodes: a router or switch that
// answers ICMP echo and counts as a pseudo-node (cl_status nodetype
// "ping"). A ping line makes one per address, named by the address as
// written; a ping_group line makes one, named by the group, alive while
// any of its addresses answers.
type PingNode struct {
	Name  string
	Addrs []netip.Addr
	Group bool // from ping_group
	Line  int
}

// pingLine reads "ping HOST..." (one ping node per host) and "ping_group
// NAME HOST..." (one node). Hosts are IPv4 addresses or names resolved
// once, as Heartbeat's ping plugins do (inet_pton, else gethostbyname).
func (p *hacfParser) pingLine(name, rest string, line int) {
	values := splitValues(rest)
	resolve := func(h string) (netip.Addr, bool) {
		a, err := resolvePeer(h)
		if err != nil {
			p.r.errorf(p.file, line, "%s %s: %v", name, h, err)
			return netip.Addr{}, false
		}
		return netip.MustParseAddr(a), true
	}
	if name == "ping" {
		if len(values) == 0 {
			p.r.errorf(p.file, line, "ping: no host given (ping ADDRESS...)")
			return
		}
		for _, h := range values {
			if a, ok := resolve(h); ok {
				p.c.PingNodes = append(p.c.PingNodes, PingNode{Name: strings.ToLower(h), Addrs: []netip.Addr{a}, Line: line})
			}
		}
		return
	}
	if len(values) < 2 {
		p.r.errorf(p.file, line, "ping_group: give a group name and at least one host (ping_group NAME ADDRESS...)")
		return
	}
	n := PingNode{Name: strings.ToLower(values[0]), Group: true, Line: line}
	for _, h := range values[1:] {
		a, ok := resolve(h)
		if !ok {
			return
		}
		if !slices.Contains(n.Addrs, a) {
			n.Addrs = append(n.Addrs, a)
		}
	}
	p.c.PingNodes = append(p.c.PingNodes, n)
}

// respawnLine reads "respawn USER PROGRAM [ARGS...]". lubdub runs no
// Heartbeat API clients; ipfail alone is accepted, because its rule (the
// node that reaches fewer ping nodes gives its groups to its peer) is
// built in.
func (p *hacfParser) respawnLine(rest string, line int) {
	f := strings.Fields(rest)
	if len(f) < 2 {
		p.r.errorf(p.file, line, "respawn: give a user and a program (respawn hacluster /usr/lib/heartbeat/ipfail)")
		return
	}
	if path.Base(f[1]) != "ipfail" {
		p.r.errorf(p.file, line, "respawn %s: lubdub runs no Heartbeat API clients (only ipfail's rule is built in); remove the line", f[1])
		return
	}
	p.c.IPFail = line
	p.r.notef(p.file, line, "respawn %s: ipfail's rule is built into lubdub (the node that reaches fewer ping nodes gives its groups to its peer); the program is not run", f[1])
}

// checkPingNodes refuses ping nodes named as a cluster node or as
// another ping node, and warns about an ipfail line without ping nodes.
func (p *hacfParser) checkPingNodes() {
	c, r := p.c, p.r
	seen := map[string]int{}
	var kept []PingNode
	for _, n := range c.PingNodes {
		switch first, dup := seen[n.Name]; {
		case c.HasNode(n.Name):
			r.errorf(p.file, n.Line, "ping node %s has the name of a cluster node", n.Name)
		case dup:
			r.errorf(p.file, n.Line, "ping node %s is given twice (first on line %d)", n.Name, first)
		default:
			seen[n.Name] = n.Line
			kept = append(kept, n)
		}
	}
	c.PingNodes = kept
	if c.IPFail > 0 && len(c.PingNodes) == 0 {
		r.warnf(p.file, c.IPFail, "ipfail without ping nodes does nothing: add ping or ping_group lines")
	}
}
