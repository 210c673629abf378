package daemon

import (
	"maps"
	"reflect"
	"slices"

	"github.com/lubdub/lubdub/internal/haconf"
)

// restartOnly are the settings a running node cannot change under its
// peers (the protocol's timings and node list, the resource groups, the
// placement rules) or that are read only at start (the watchdog device,
// how the generation is counted): a reload keeps the running value.
var restartOnly = []struct {
	name string // as the operator knows it; also the cl_status parameter, if it is one
	same func(a, b *haconf.Config) bool
	keep func(dst, src *haconf.Config)
}{
	{"the node list", func(a, b *haconf.Config) bool { return slices.Equal(a.Nodes, b.Nodes) }, func(d, s *haconf.Config) { d.Nodes = s.Nodes }},
	{"keepalive", func(a, b *haconf.Config) bool { return a.Keepalive == b.Keepalive }, func(d, s *haconf.Config) { d.Keepalive = s.Keepalive }},
	{"deadtime", func(a, b *haconf.Config) bool { return a.Deadtime == b.Deadtime }, func(d, s *haconf.Config) { d.Deadtime = s.Deadtime }},
	{"warntime", func(a, b *haconf.Config) bool { return a.Warntime == b.Warntime }, func(d, s *haconf.Config) { d.Warntime = s.Warntime }},
	{"initdead", func(a, b *haconf.Config) bool { return a.Initdead == b.Initdead }, func(d, s *haconf.Config) { d.Initdead = s.Initdead }},
	{"hopfudge", func(a, b *haconf.Config) bool { return a.Hopfudge == b.Hopfudge }, func(d, s *haconf.Config) { d.Hopfudge = s.Hopfudge }},
	{"max_rexmit_delay", func(a, b *haconf.Config) bool { return a.MaxRexmitDelay == b.MaxRexmitDelay }, func(d, s *haconf.Config) { d.MaxRexmitDelay = s.MaxRexmitDelay }},
	{"watchdog", func(a, b *haconf.Config) bool { return a.Watchdog == b.Watchdog }, func(d, s *haconf.Config) { d.Watchdog = s.Watchdog }},
	{"gen_method", func(a, b *haconf.Config) bool { return a.GenMethod == b.GenMethod }, func(d, s *haconf.Config) { d.GenMethod = s.GenMethod }},
	{"auto_failback", func(a, b *haconf.Config) bool { return a.AutoFailback == b.AutoFailback }, func(d, s *haconf.Config) { d.AutoFailback = s.AutoFailback }},
	{"ping nodes (ping, ping_group, deadping)", func(a, b *haconf.Config) bool {
		return a.Deadping == b.Deadping && slices.EqualFunc(a.PingNodes, b.PingNodes, func(x, y haconf.PingNode) bool {
			return x.Name == y.Name && x.Group == y.Group && slices.Equal(x.Addrs, y.Addrs) // not the line
		})
	}, func(d, s *haconf.Config) { d.PingNodes, d.Deadping = s.PingNodes, s.Deadping }},
	{"haresources", func(a, b *haconf.Config) bool { return reflect.DeepEqual(a.Groups, b.Groups) }, func(d, s *haconf.Config) { d.Groups = s.Groups }},
	{"lubdub.cf", func(a, b *haconf.Config) bool { return a.Tuning == b.Tuning }, func(d, s *haconf.Config) { d.Tuning = s.Tuning }},
}

// reloadPlan decides what a reload applies on node local: the new
// configuration, with every restart-only setting that changed kept at its
// running value, and the names of those settings, so that the operator is
// told. Keys, logging, media, the udp port and cl_status parameters change
// at once, and so do the fence devices and levels (fence_device,
// fencing_level, ha.cf's stonith and stonith_host lines: the daemon
// rebuilds its fencer, fencingChanged) while this node keeps some device;
// fencing turned on or off changes what a dead peer means (fenced first,
// or assumed to hold nothing) and waits for a restart.
func reloadPlan(running, loaded *haconf.Config, local string) (apply *haconf.Config, kept []string) {
	c := *loaded
	c.Params = maps.Clone(loaded.Params)
	for _, s := range restartOnly {
		if !s.same(running, loaded) {
			kept = append(kept, s.name)
			s.keep(&c, running)
			if v, ok := running.Params[s.name]; ok {
				c.Params[s.name] = v
			}
		}
	}
	if had, has := running.HasFenceDevice(local), loaded.HasFenceDevice(local); had != has {
		kept = append(kept, map[bool]string{true: "fencing turned on (a fence device where there was none)", false: "fencing turned off (every fence device removed)"}[has])
		c.Stonith, c.Fencing = running.Stonith, running.Fencing
	}
	return &c, kept
}

// fencingChanged reports whether the fence devices or levels differ.
func fencingChanged(a, b *haconf.Config) bool {
	return !reflect.DeepEqual(a.Stonith, b.Stonith) || !reflect.DeepEqual(a.Fencing, b.Fencing)
}

func mediaEqual(a, b *haconf.Config) bool {
	return reflect.DeepEqual(a.Media, b.Media) && a.Baud == b.Baud
}

func loggingChanged(a, b *haconf.Config) bool {
	return a.Logfile != b.Logfile || a.Debugfile != b.Debugfile || a.Logfacility != b.Logfacility || a.Debug != b.Debug
}
