package haconf

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tuning is lubdub's own settings, from the optional lubdub.cf beside
// ha.cf: what Heartbeat never had (resource timeouts, monitoring), kept
// out of ha.cf so that the same ha.cf still serves Heartbeat nodes.
type Tuning struct {
	StartTimeout    time.Duration // start of one resource
	StopTimeout     time.Duration // stop of one resource
	MonitorInterval time.Duration // 0: no monitoring
	MonitorTimeout  time.Duration
	MaxRestarts     int // monitor failures restarted in place before the group moves
	StopRetries     int // a failed stop is tried again this often, 1 s apart (Heartbeat's HA_STOPRETRYMAX)
	// FailbackDelay: a node heard again after it was declared dead gets
	// groups back only once every live peer has heard it this long
	// (keepalived's preempt_delay); -1 means 3 deadtimes.
	FailbackDelay time.Duration
	// NoQuorumPolicy: stop (default), freeze or ignore, as Pacemaker's
	// no-quorum-policy.
	NoQuorumPolicy string
	// WaitForAll: -1 (default) means on with two nodes, off otherwise.
	WaitForAll int
	// WatchdogFenceTimeout: with a watchdog, a dead node counts as fenced
	// this long after it was declared dead (sbd's stonith-watchdog-timeout);
	// 0: off.
	WatchdogFenceTimeout time.Duration
	// FenceDelay: in a two-node cluster, how long the node that holds no
	// group waits before fencing its peer (Pacemaker's
	// priority-fencing-delay); -1 means 2 deadtimes.
	FenceDelay  time.Duration
	LVSDataPath string // auto, nftables or ipvs: where ldirectord resources put virtual services
	// FailureTimeout: a group's fail count on this node (and a failed
	// start's ban from it) expires this long after its last failure
	// (Pacemaker's failure-timeout); 0: never, until lubdub cleanup.
	FailureTimeout time.Duration
	// MetricsListen is where the daemon serves Prometheus metrics, as
	// ADDR:PORT (a port alone means 127.0.0.1); "": no metrics.
	MetricsListen string
	// OnFail is what becomes of a node where a group's stop failed and
	// the group may still run (Pacemaker's on-fail for stop): "fence"
	// (a peer fences it, then the group starts elsewhere) or "block" (the
	// group stays blocked until lubdub cleanup); "" (default) means fence
	// when fencing is configured, as Pacemaker's default follows
	// stonith-enabled (Config.OnFail).
	OnFail string
}

// Fencing is lubdub.cf's fencing: devices and levels (Config.Fencing).
type Fencing struct {
	Devices []FenceDevice  // fence_device lines, in file order
	Levels  []FencingLevel // fencing_level lines, in file order
}

// DefaultTuning is used for what lubdub.cf does not set.
var DefaultTuning = Tuning{
	StartTimeout: 20 * time.Second, StopTimeout: 20 * time.Second,
	MonitorInterval: 5 * time.Second, MonitorTimeout: 10 * time.Second, MaxRestarts: 3, StopRetries: 10, FailbackDelay: -1, NoQuorumPolicy: "stop", WaitForAll: -1, FenceDelay: -1, LVSDataPath: "auto",
}

func loadLubdubCf(file string, r *Report) (Tuning, Fencing) {
	data, err := os.ReadFile(file)
	if err != nil {
		if !os.IsNotExist(err) {
			r.errorf(file, 0, "cannot read lubdub's settings: %v", err)
		}
		return DefaultTuning, Fencing{}
	}
	return parseLubdubCf(file, string(data), r)
}

func parseTuning(file, text string, r *Report) Tuning {
	t, _ := parseLubdubCf(file, text, r)
	return t
}

func parseLubdubCf(file, text string, r *Report) (Tuning, Fencing) {
	t := DefaultTuning
	var fc Fencing
	for i, raw := range strings.Split(text, "\n") {
		line := i + 1
		raw = stripComment(raw)
		f := strings.Fields(raw)
		if len(f) == 0 || isNotifyLine(f[0]) { // notifycf.go
			continue
		}
		if f[0] == "fence_device" || f[0] == "fencing_level" {
			words, err := SplitWords(strings.TrimSpace(raw))
			if err != nil {
				r.errorf(file, line, "%s: %v", f[0], err)
				continue
			}
			if f[0] == "fence_device" {
				if d, ok := parseFenceDevice(file, line, words, r); ok {
					fc.Devices = append(fc.Devices, d)
				}
			} else if l, ok := parseFencingLevel(file, line, words, r); ok {
				fc.Levels = append(fc.Levels, l)
			}
			continue
		}
		if len(f) != 2 {
			r.errorf(file, line, "expected 'name value', got %q", strings.TrimSpace(raw))
			continue
		}
		dur := func(dst *time.Duration, allowZero bool) {
			d, err := ParseTime(f[1])
			if err != nil {
				r.errorf(file, line, "%s: %v", f[0], err)
				return
			}
			if d <= 0 && !allowZero {
				r.errorf(file, line, "%s must be more than 0", f[0])
				return
			}
			*dst = d
		}
		switch f[0] {
		case "start_timeout":
			dur(&t.StartTimeout, false)
		case "stop_timeout":
			dur(&t.StopTimeout, false)
		case "monitor_interval":
			dur(&t.MonitorInterval, true)
		case "monitor_timeout":
			dur(&t.MonitorTimeout, false)
		case "max_restarts":
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 || n > 100 {
				r.errorf(file, line, "max_restarts %q must be a number from 0 to 100", f[1])
				continue
			}
			t.MaxRestarts = n
		case "failback_delay":
			dur(&t.FailbackDelay, true)
		case "no_quorum_policy":
			if f[1] != "stop" && f[1] != "freeze" && f[1] != "ignore" {
				r.errorf(file, line, "no_quorum_policy %q must be stop, freeze or ignore", f[1])
				continue
			}
			t.NoQuorumPolicy = f[1]
		case "wait_for_all":
			b, ok := ParseBool(f[1])
			if !ok {
				r.errorf(file, line, "wait_for_all %q must be on or off", f[1])
				continue
			}
			t.WaitForAll = map[bool]int{false: 0, true: 1}[b]
		case "watchdog_fence_timeout":
			dur(&t.WatchdogFenceTimeout, true)
		case "fence_delay":
			dur(&t.FenceDelay, true)
		case "stop_retries":
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 || n > 100 {
				r.errorf(file, line, "stop_retries %q must be a number from 0 to 100", f[1])
				continue
			}
			t.StopRetries = n
		case "failure_timeout":
			dur(&t.FailureTimeout, true)
		case "metrics_listen":
			a, err := ParseMetricsListen(f[1])
			if err != nil {
				r.errorf(file, line, "metrics_listen: %v", err)
				continue
			}
			t.MetricsListen = a
		case "on_fail":
			if f[1] != "fence" && f[1] != "block" {
				r.errorf(file, line, "on_fail %q must be fence or block", f[1])
				continue
			}
			t.OnFail = f[1]
		case "lvs_datapath":
			if f[1] != "auto" && f[1] != "nftables" && f[1] != "ipvs" {
				r.errorf(file, line, "lvs_datapath %q must be auto, nftables or ipvs", f[1])
				continue
			}
			t.LVSDataPath = f[1]
		default:
			r.errorf(file, line, "unknown setting %q (%s)", f[0], settingNames())
		}
	}
	return t, fc
}

// FailbackDelayFor is the failback delay in force with this deadtime.
func (t Tuning) FailbackDelayFor(deadtime time.Duration) time.Duration {
	if t.FailbackDelay < 0 {
		return 3 * deadtime
	}
	return t.FailbackDelay
}

// WaitForAllWith says whether wait_for_all is on in a cluster of n nodes.
func (t Tuning) WaitForAllWith(n int) bool {
	if t.WaitForAll < 0 {
		return n == 2
	}
	return t.WaitForAll == 1
}

// WatchdogTimeout is the watchdog device's timeout with self-fencing: half
// the fence timeout, in whole seconds as drivers take it, at least 1 s, so
// that a node that stops feeding it is reset before its peers take over.
// 0 without self-fencing (the device keeps its own).
func (t Tuning) WatchdogTimeout() time.Duration {
	if t.WatchdogFenceTimeout <= 0 {
		return 0
	}
	return max(time.Second, (t.WatchdogFenceTimeout / 2).Truncate(time.Second))
}

// WatchdogDeviceTimeout is the timeout lubdub sets on the watchdog device:
// with self-fencing, Tuning.WatchdogTimeout (half watchdog_fence_timeout);
// otherwise Heartbeat's (hb_init_watchdog_interval): deadtime + 10 ms,
// rounded up to whole seconds, so that a node whose loop hangs is reset
// about when its peers declare it dead. 0 without a watchdog.
func (c *Config) WatchdogDeviceTimeout() time.Duration {
	switch {
	case c.Watchdog == "":
		return 0
	case c.Tuning.WatchdogFenceTimeout > 0:
		return c.Tuning.WatchdogTimeout()
	}
	return (c.Deadtime + 10*time.Millisecond + time.Second - 1).Truncate(time.Second)
}

// FencingConfigured reports whether this node (local; any node when
// "") can fence a peer: a fence_device line, ha.cf's stonith or
// stonith_host line for it, or watchdog self-fencing.
func (c *Config) FencingConfigured(local string) bool {
	return c.HasFenceDevice(local) || c.Tuning.WatchdogFenceTimeout > 0
}

// HasFenceDevice reports whether node local (any node when "") has a
// fence device: a fence_device line, or ha.cf's stonith or stonith_host
// line for it (the devices fence.FromConfig builds its fencer from).
func (c *Config) HasFenceDevice(local string) bool {
	if len(c.Fencing.Devices) > 0 {
		return true
	}
	if local == "" {
		return len(c.Stonith) > 0
	}
	_, ok := c.StonithFor(local)
	return ok
}

// OnFail is on_fail in force on node local: as set, or by default fence
// where fencing is configured and block where it is not (Pacemaker's
// default for a failed stop follows stonith-enabled the same way).
func (c *Config) OnFail(local string) string {
	switch {
	case c.Tuning.OnFail != "":
		return c.Tuning.OnFail
	case c.FencingConfigured(local):
		return "fence"
	}
	return "block"
}

// SplitBrainRisk says, loudly, when a partition of this cluster can give a
// group two owners: two nodes (where no majority exists) without fencing,
// or more without fencing or self-fencing. "" when none is known.
func (c *Config) SplitBrainRisk() string {
	fencing := len(c.Stonith) > 0 || len(c.Fencing.Devices) > 0
	switch {
	case len(c.Groups) == 0 || fencing:
		return ""
	case len(c.Nodes) == 2 && len(c.PingNodes) > 0:
		var bare []string
		for _, g := range c.Groups {
			if !slices.ContainsFunc(g.Resources, func(r Resource) bool { return r.Type == "IPaddr" || r.Type == "IPaddr2" }) {
				bare = append(bare, g.ID())
			}
		}
		if len(bare) > 0 {
			return "two nodes, ping nodes and no fencing: the ping tie-breaker asks whether a silent node's group addresses still answer, but " + strings.Join(bare, ", ") + " has no IPaddr or IPaddr2 resource: if the nodes stop hearing each other, both run it; configure a fence device or add a third node"
		}
		return ""
	case len(c.Nodes) == 2:
		return "two nodes and no fencing: if they stop hearing each other, both run every group (split brain) until they hear each other again; configure a fence device (stonith_host, or fence_device in lubdub.cf) or add a third node"
	case c.Tuning.NoQuorumPolicy == "ignore":
		return "no_quorum_policy ignore and no fencing: every partition runs groups (split brain)"
	case c.Tuning.WatchdogFenceTimeout == 0:
		return "no fencing or self-fencing (watchdog_fence_timeout): a node cut off stops its groups within deadtime, but the others may start them before it has"
	}
	return ""
}

// FenceDelayFor is fence_delay with this deadtime.
func (t Tuning) FenceDelayFor(deadtime time.Duration) time.Duration {
	if t.FenceDelay < 0 {
		return 2 * deadtime
	}
	return t.FenceDelay
}

// ParseMetricsListen reads metrics_listen: ADDR:PORT with an IP address
// ([ADDR]:PORT for IPv6), or PORT or :PORT alone, which listen on the
// loopback address only (metrics name the cluster's nodes and addresses:
// they are served beyond this machine only when an address says so). It
// returns ADDR:PORT as net.Listen takes it.
func ParseMetricsListen(v string) (string, error) {
	port := v
	addr := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if i := strings.LastIndex(v, ":"); i >= 0 {
		port = v[i+1:]
		if host := v[:i]; host != "" {
			h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
			a, err := netip.ParseAddr(h)
			if err != nil || a.Zone() != "" || (strings.Contains(h, ":") && !strings.HasPrefix(host, "[")) {
				return "", fmt.Errorf("%q: give an IP address and a port (127.0.0.1:9664, 0.0.0.0:9664, [::1]:9664) or a port alone (loopback)", v)
			}
			addr = a
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q: the port must be a number from 1 to 65535", v)
	}
	return netip.AddrPortFrom(addr, uint16(p)).String(), nil
}
