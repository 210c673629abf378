// Package haconf reads a Heartbeat configuration directory (ha.cf,
// authkeys, haresources) into one validated Config.
//
// It accepts every directive Heartbeat 3.0.6 accepts, applies Heartbeat's
// defaults and checks, and reports problems as "FILE:LINE: what is wrong"
// diagnostics in three grades: errors (lubdub will not run this), warnings
// (it will, but the operator should look) and notes (accepted, but it
// changes nothing in lubdub). Parsing never stops at the first error.
package haconf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/wire"
)

// Diag is one diagnostic about a line of a file.
type Diag struct {
	File string
	Line int
	Msg  string
}

func (d Diag) String() string {
	if d.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Msg)
	}
	return fmt.Sprintf("%s: %s", d.File, d.Msg)
}

// Report collects diagnostics.
type Report struct {
	Errors, Warnings, Notes []Diag
}

func (r *Report) errorf(file string, line int, format string, a ...any) {
	r.Errors = append(r.Errors, Diag{file, line, fmt.Sprintf(format, a...)})
}
func (r *Report) warnf(file string, line int, format string, a ...any) {
	r.Warnings = append(r.Warnings, Diag{file, line, fmt.Sprintf(format, a...)})
}
func (r *Report) notef(file string, line int, format string, a ...any) {
	r.Notes = append(r.Notes, Diag{file, line, fmt.Sprintf(format, a...)})
}

// Err returns nil when there are no errors, else an error listing them.
func (r *Report) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	lines := make([]string, len(r.Errors))
	for i, d := range r.Errors {
		lines[i] = d.String()
	}
	return fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(lines, "\n"))
}

// ErrInvalid is wrapped by Report.Err.
var ErrInvalid = fmt.Errorf("invalid configuration")

// Medium is one heartbeat medium line.
type Medium struct {
	Type  string // bcast, mcast, ucast or serial
	Dev   string // interface, or tty path for serial
	Group netip.Addr
	Peer  string // ucast peer address
	Port  int
	TTL   int
	Loop  bool
	Line  int
}

// Name is the link name Heartbeat gives the medium: the interface or the
// tty path.
func (m Medium) Name() string { return m.Dev }

func (m Medium) String() string {
	switch m.Type {
	case "mcast":
		return fmt.Sprintf("mcast %s group %s port %d ttl %d loop %t", m.Dev, m.Group, m.Port, m.TTL, m.Loop)
	case "ucast":
		return fmt.Sprintf("ucast %s peer %s port %d", m.Dev, m.Peer, m.Port)
	case "serial":
		return fmt.Sprintf("serial %s", m.Dev)
	}
	return fmt.Sprintf("bcast %s port %d", m.Dev, m.Port)
}

// Config is the whole validated configuration.
type Config struct {
	Dir       string
	Nodes     []string // lower case, in ha.cf order
	Keepalive time.Duration
	Deadtime  time.Duration
	Warntime  time.Duration
	Initdead  time.Duration
	UDPPort   int
	Baud      int
	Hopfudge  int
	Media     []Medium

	Logfile     string
	Debugfile   string
	Logfacility string
	Debug       int
	LogBadPack  bool

	AutoFailback   string // on, off or legacy
	Watchdog       string
	MsgFmt         string // netstring or classic
	GenMethod      string // file or time
	MaxRexmitDelay time.Duration
	Cluster        string

	// Params holds each directive's value as Heartbeat records it, for
	// cl_status hbparameter.
	Params map[string]string

	AuthFile string
	Keys     *wire.Keyring

	Groups []Group

	// PingNodes are ha.cf's ping and ping_group lines, in file order:
	// pseudo-nodes answered by ICMP echo, the tie-breakers between nodes
	// (ipfail's rule, built in). Deadping: a ping node unanswered this
	// long is dead (ha.cf deadping; deadtime by default).
	PingNodes []PingNode
	Deadping  time.Duration
	// IPFail is the line of a respawn line that runs ipfail (0: none):
	// its rule is built in, the program is not run.
	IPFail int

	// Stonith is ha.cf's stonith and stonith_host lines in file order
	// (all of them: StonithFor picks the one a node uses).
	Stonith []StonithDevice

	// Tuning comes from lubdub.cf.
	Tuning Tuning
	// Fencing comes from lubdub.cf's fence_device and fencing_level lines.
	Fencing Fencing
	// Notify comes from lubdub.cf's notify, alert and notify_timeout lines.
	Notify Notify
}

// HasNode reports whether name (any case) is a cluster node.
func (c *Config) HasNode(name string) bool {
	name = strings.ToLower(name)
	for _, n := range c.Nodes {
		if n == name {
			return true
		}
	}
	return false
}

// Options change how a directory is read.
type Options struct {
	// Node is the local node's name. When set, it must be a cluster node.
	Node string
	// Stonith, when set, checks stonith types and parameters as Heartbeat
	// does while reading ha.cf (through cluster-glue); nil: they are read
	// but not checked.
	Stonith StonithPlugins
}

// Load reads and validates dir/ha.cf, dir/authkeys and dir/haresources.
// The Config is usable only when the report has no errors.
func Load(dir string, opts Options) (*Config, *Report) {
	r := &Report{}
	c := &Config{Dir: dir}
	p := &hacfParser{c: c, r: r, file: filepath.Join(dir, "ha.cf"), opts: opts, node: strings.ToLower(opts.Node)}
	if data, err := os.ReadFile(p.file); err != nil {
		r.errorf(p.file, 0, "cannot read the main configuration file: %v", err)
	} else {
		p.parse(string(data))
		p.finish(opts)
	}
	c.AuthFile = filepath.Join(dir, "authkeys")
	c.Keys = loadAuthkeys(c.AuthFile, r)
	c.Groups = loadHaresources(filepath.Join(dir, "haresources"), c, r)
	c.Tuning, c.Fencing = loadLubdubCf(filepath.Join(dir, "lubdub.cf"), r)
	c.Notify = loadNotify(filepath.Join(dir, "lubdub.cf"), r)
	c.checkFencing(filepath.Join(dir, "lubdub.cf"), strings.ToLower(opts.Node), r)
	if c.Tuning.WatchdogFenceTimeout > 0 && c.Watchdog == "" {
		r.errorf(filepath.Join(dir, "lubdub.cf"), 0, "watchdog_fence_timeout needs a watchdog device: add 'watchdog /dev/watchdog' to ha.cf")
	}
	if c.Tuning.OnFail == "fence" && !c.FencingConfigured(strings.ToLower(opts.Node)) {
		r.errorf(filepath.Join(dir, "lubdub.cf"), 0, "on_fail fence needs fencing: a fence_device line, a stonith or stonith_host line in ha.cf for this node, or watchdog_fence_timeout (or say on_fail block)")
	}
	// A node cut off believes in its quorum for at most 2 deadtimes after
	// the cut (its peers' last reports), then its watchdog resets it
	// within its timeout, a keepalive tick late at most; its peers take
	// over deadtime + watchdog_fence_timeout after the cut.
	if f, w := c.Tuning.WatchdogFenceTimeout, c.Tuning.WatchdogTimeout(); f > 0 && c.Deadtime+c.Keepalive+w >= f {
		r.errorf(filepath.Join(dir, "lubdub.cf"), 0, "watchdog_fence_timeout %s must be more than deadtime + keepalive + the watchdog's timeout (%s, half of it in whole seconds, at least 1 s) = %s: a node cut off may believe in its quorum for 2 deadtimes, then its watchdog must reset it before the others take over",
			FormatDuration(f), FormatDuration(w), FormatDuration(c.Deadtime+c.Keepalive+w))
	}
	if w := c.Tuning.WatchdogTimeout(); w > 0 && w < c.Deadtime {
		r.warnf(filepath.Join(dir, "lubdub.cf"), 0, "watchdog_fence_timeout %s sets the watchdog to %s, less than deadtime (%s): a busy node may be reset", FormatDuration(c.Tuning.WatchdogFenceTimeout), FormatDuration(w), FormatDuration(c.Deadtime))
	}
	return c, r
}

// Describe writes what the daemon would run, for lubdub check.
func (c *Config) Describe(w *strings.Builder, local string) {
	fmt.Fprintf(w, "configuration directory %s\n", c.Dir)
	fmt.Fprintf(w, "nodes:")
	for _, n := range c.Nodes {
		mark := ""
		if n == local {
			mark = " (this node)"
		}
		fmt.Fprintf(w, " %s%s", n, mark)
	}
	fmt.Fprintf(w, "\nmedia:\n")
	for _, m := range c.Media {
		fmt.Fprintf(w, "  %s\n", m)
	}
	if len(c.PingNodes) > 0 {
		fmt.Fprintf(w, "ping nodes (ICMP echo every keepalive, dead after deadping %s; the node that reaches fewer gives its groups to its peer, one that reaches none takes nothing over):\n", FormatDuration(c.Deadping))
		for _, p := range c.PingNodes {
			var as []string
			for _, a := range p.Addrs {
				as = append(as, a.String())
			}
			kind := "ping"
			if p.Group {
				kind = "ping_group"
			}
			fmt.Fprintf(w, "  %s %s (%s)\n", kind, p.Name, strings.Join(as, " "))
		}
	}
	fmt.Fprintf(w, "timings: keepalive %s, warntime %s, deadtime %s, initdead %s\n",
		FormatDuration(c.Keepalive), FormatDuration(c.Warntime), FormatDuration(c.Deadtime), FormatDuration(c.Initdead))
	if c.Keys != nil {
		k := c.Keys.Keys[c.Keys.Send]
		fmt.Fprintf(w, "authentication: key %d, %s (%d key(s) accepted)\n", k.Index, k.Method, len(c.Keys.Keys))
	}
	fmt.Fprintf(w, "auto_failback: %s (a node back from the dead gets groups back once heard for %s: failback_delay)\n", c.AutoFailback, FormatDuration(c.Tuning.FailbackDelayFor(c.Deadtime)))
	if c.Watchdog != "" {
		fmt.Fprintf(w, "watchdog: %s, timeout %s (set at start), fed every keepalive\n", c.Watchdog, FormatDuration(c.WatchdogDeviceTimeout()))
	}
	if len(c.Stonith) > 0 {
		use, ok := c.StonithFor(local)
		fmt.Fprintf(w, "stonith devices in ha.cf (%d):\n", len(c.Stonith))
		for _, s := range c.Stonith {
			mark := ""
			switch {
			case ok && s.Line == use.Line:
				mark = " <- this node's device"
			case s.AppliesTo(local):
				mark = " (not used: a later line applies)"
			default:
				mark = " (for " + s.FromHost + ")"
			}
			fmt.Fprintf(w, "  %s%s\n", s, mark)
		}
	}
	fmt.Fprintf(w, "logging: logfile %s, debugfile %s, logfacility %s\n", orNone(c.Logfile), orNone(c.Debugfile), orNone(c.Logfacility))
	t := c.Tuning
	fmt.Fprintf(w, "resources: start timeout %s, stop timeout %s (a failed stop retried %d times), monitor every %s (timeout %s), %d restarts in place before a group moves\n",
		FormatDuration(t.StartTimeout), FormatDuration(t.StopTimeout), t.StopRetries, FormatDuration(t.MonitorInterval), FormatDuration(t.MonitorTimeout), t.MaxRestarts)
	if c.OnFail(local) == "fence" {
		fmt.Fprintf(w, "a group whose stop still fails gets its node fenced by a peer (on_fail fence)\n")
	} else {
		fmt.Fprintf(w, "a group whose stop still fails stays blocked until lubdub cleanup (on_fail block)\n")
	}
	if t.FailureTimeout > 0 {
		fmt.Fprintf(w, "fail counts expire %s after a group's last failure here (failure_timeout)\n", FormatDuration(t.FailureTimeout))
	}
	if t.MetricsListen != "" {
		fmt.Fprintf(w, "Prometheus metrics: http://%s/metrics\n", t.MetricsListen)
	}
	if fc := c.Fencing; len(fc.Devices) > 0 || len(fc.Levels) > 0 {
		fmt.Fprintf(w, "fence devices in lubdub.cf (%d):\n", len(fc.Devices))
		for _, d := range fc.Devices {
			fmt.Fprintf(w, "  %s: %s (%s)", d.Name, d.Plugin, map[string]string{"agent": "fence agent, options on its standard input", "external": "cluster-glue external plugin, called directly", "glue": "cluster-glue plugin, through its stonith command"}[d.Kind])
			if len(d.HostList) > 0 {
				fmt.Fprintf(w, ", fences %s", strings.Join(d.HostList, ","))
			}
			if d.DelayBase > 0 {
				fmt.Fprintf(w, ", waits %s first", FormatDuration(d.DelayBase))
			}
			fmt.Fprintf(w, ", %d parameter(s)\n", len(d.Params))
		}
		nodes := map[string]bool{}
		for _, l := range fc.Levels {
			nodes[l.Node] = true
		}
		for _, n := range c.Nodes {
			if !nodes[n] {
				continue
			}
			fmt.Fprintf(w, "  fencing %s:", n)
			for _, l := range fc.LevelsOf(n) {
				fmt.Fprintf(w, " level %d %s;", l.Index, strings.Join(l.Devices, "+"))
			}
			fmt.Fprintln(w)
		}
	}
	c.Notify.describe(w)
	fmt.Fprintf(w, "resource groups (%d):\n", len(c.Groups))
	for _, g := range c.Groups {
		fmt.Fprintf(w, "  group %s (haresources line %d), preferred node %s, start order:", g.ID(), g.Line, g.Node)
		for i, rs := range g.Resources {
			fmt.Fprintf(w, " %d.%s", i+1, rs)
		}
		fmt.Fprintln(w)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// FormatDuration prints a duration with its unit, as "2s" or "500ms".
func FormatDuration(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return d.String()
}
