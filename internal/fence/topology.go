package fence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"
)

// Level is one fencing level of a target node, as Pacemaker's
// fencing-level: the level succeeds only when every one of its devices
// succeeds, and levels are tried in ascending Index until one succeeds.
type Level struct {
	Index   int      // 1-9 as Pacemaker; order, not position
	Devices []string // device names, used in this order
}

// Topology is the fencing levels per target node (lower case). A node
// without levels is fenced by the Fencer's devices that can fence it, one
// after the other, each a level of its own (Pacemaker without a topology).
type Topology map[string][]Level

// Validate checks that every device a level names exists and that no
// target has two levels with one index.
func (t Topology) Validate(devices map[string]Device) error {
	var errs []error
	for _, node := range sortedTargets(t) {
		seen := map[int]bool{}
		for _, l := range t[node] {
			if seen[l.Index] {
				errs = append(errs, fmt.Errorf("node %s has two fencing levels %d", node, l.Index))
			}
			seen[l.Index] = true
			if len(l.Devices) == 0 {
				errs = append(errs, fmt.Errorf("node %s level %d has no device", node, l.Index))
			}
			for _, d := range l.Devices {
				if _, ok := devices[d]; !ok {
					errs = append(errs, fmt.Errorf("node %s level %d names device %s, which is not defined", node, l.Index, d))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func sortedTargets(t Topology) []string {
	ns := make([]string, 0, len(t))
	for n := range t {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Attempt is one device call of a fencing run.
type Attempt struct {
	Level  int
	Device string
	Action Action
	Err    error
	Took   time.Duration
}

// Result is the outcome of fencing one node: which level did it, or why
// each level failed. Its String is what logs and lubdub status show.
type Result struct {
	Node     string
	Action   Action
	Level    int // the level that succeeded; 0 when none did
	Attempts []Attempt
	Err      error // nil when the node is fenced
	Took     time.Duration
}

// OK reports whether the node was fenced.
func (r Result) OK() bool { return r.Err == nil }

// BadHost reports whether the node could not be fenced because no device
// controls it: none is configured for it, or every device tried refused it
// (ErrBadHost), as Heartbeat's stonith message says "badhost".
func (r Result) BadHost() bool {
	if r.Err == nil || !errors.Is(r.Err, ErrBadHost) {
		return false
	}
	for _, a := range r.Attempts {
		if a.Err != nil && !errors.Is(a.Err, ErrBadHost) {
			return false
		}
	}
	return true
}

func (r Result) String() string {
	if r.OK() {
		var devs []string
		for _, a := range r.Attempts {
			if a.Level == r.Level && a.Err == nil {
				devs = append(devs, a.Device)
			}
		}
		return fmt.Sprintf("%s fenced (%s) at level %d by %s in %s", r.Node, r.Action, r.Level, strings.Join(slices.Compact(devs), "+"), r.Took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s NOT fenced (%s): %v", r.Node, r.Action, r.Err)
}

// Fencer fences nodes with devices along a topology.
type Fencer struct {
	Devices  map[string]Device
	Order    []string // device names in configuration order, for nodes without levels
	Topology Topology
	Log      *slog.Logger
}

// Plan returns the levels to try for node: its topology, or one level per
// device that lists node among its hosts, in Order. Devices that cannot
// list their hosts are tried last, in Order (they may still refuse with
// ErrBadHost).
func (f *Fencer) Plan(ctx context.Context, node string) ([]Level, error) {
	if levels, ok := f.Topology[node]; ok && len(levels) > 0 {
		out := slices.Clone(levels)
		sort.SliceStable(out, func(i, j int) bool { return out[i].Index < out[j].Index })
		return out, nil
	}
	var first, last []string
	var errs []error
	for _, name := range f.Order {
		d := f.Devices[name]
		if d == nil {
			continue
		}
		hosts, err := d.Hosts(ctx)
		switch {
		case err != nil:
			if !errors.Is(err, ErrNoHostList) {
				errs = append(errs, err)
			}
			last = append(last, name)
		case slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, node) }):
			first = append(first, name)
		}
	}
	var levels []Level
	for i, name := range append(first, last...) {
		levels = append(levels, Level{Index: i + 1, Devices: []string{name}})
	}
	if len(levels) == 0 {
		return nil, noDevice{node: node, errs: errs}
	}
	return levels, nil
}

// noDevice is Plan's error when no device controls a node: it is
// ErrBadHost, and wraps the errors of devices that could not list their
// hosts.
type noDevice struct {
	node string
	errs []error
}

func (e noDevice) Error() string {
	if len(e.errs) > 0 {
		return fmt.Sprintf("no fencing device controls %s: %v", e.node, errors.Join(e.errs...))
	}
	return "no fencing device controls " + e.node
}

func (e noDevice) Unwrap() []error { return append([]error{ErrBadHost}, e.errs...) }

// Fence fences node: the levels of Plan in order until one succeeds.
// Reset on a level of several devices is done as Pacemaker does it: off
// on every device, then on on every device (a failed on does not undo
// the fence).
func (f *Fencer) Fence(ctx context.Context, node string, action Action) Result {
	log := f.Log
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	res := Result{Node: node, Action: action}
	levels, err := f.Plan(ctx, node)
	if err != nil {
		res.Err = err
		res.Took = time.Since(start)
		log.Error("cannot fence", "node", node, "err", err)
		return res
	}
	var failures []error
	for _, l := range levels {
		ok := true
		call := func(dev string, a Action) error {
			d := f.Devices[dev]
			t0 := time.Now()
			var err error
			if d == nil {
				err = fmt.Errorf("fence device %s is not defined", dev)
			} else {
				err = d.Fence(ctx, node, a)
			}
			res.Attempts = append(res.Attempts, Attempt{Level: l.Index, Device: dev, Action: a, Err: err, Took: time.Since(t0)})
			if err != nil {
				log.Warn("fence device failed", "node", node, "level", l.Index, "device", dev, "action", a.String(), "err", err)
			}
			return err
		}
		if action == Reset && len(l.Devices) > 1 {
			for _, dev := range l.Devices {
				if err := call(dev, Off); err != nil {
					failures = append(failures, fmt.Errorf("level %d: %w", l.Index, err))
					ok = false
					break
				}
			}
			if ok {
				for _, dev := range l.Devices {
					_ = call(dev, On) // the node is off: fenced whatever on does
				}
			}
		} else {
			for _, dev := range l.Devices {
				if err := call(dev, action); err != nil {
					failures = append(failures, fmt.Errorf("level %d: %w", l.Index, err))
					ok = false
					break
				}
			}
		}
		if ok {
			res.Level = l.Index
			res.Took = time.Since(start)
			log.Info("node fenced", "node", node, "action", action.String(), "level", l.Index, "devices", strings.Join(l.Devices, ","), "took", res.Took.Round(time.Millisecond))
			return res
		}
		if ctx.Err() != nil {
			failures = append(failures, fmt.Errorf("stopped: %w", ctx.Err()))
			break
		}
	}
	res.Err = joined(failures)
	res.Took = time.Since(start)
	log.Error("node not fenced", "node", node, "action", action.String(), "err", res.Err)
	return res
}

// joined is errors.Join on one line, for status output.
type joined []error

func (j joined) Error() string {
	parts := make([]string, len(j))
	for i, e := range j {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (j joined) Unwrap() []error { return j }
