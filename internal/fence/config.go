package fence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
)

// GluePlugins answers haconf's questions about stonith types with
// cluster-glue's stonith command (stonith -t TYPE -n), remembering each
// answer.
type GluePlugins struct {
	Runner Runner
	mu     sync.Mutex
	cache  map[string][]string
}

// NewGluePlugins returns a checker (r nil: runs are not logged), or nil when cluster-glue's stonith
// command is not installed (haconf then reads stonith lines unchecked).
func NewGluePlugins(r Runner) haconf.StonithPlugins {
	if _, err := os.Stat(StonithBin); err != nil {
		return nil
	}
	if r == nil {
		// A configuration check is no place for each run's log line.
		r = ExecRunner{Log: slog.New(slog.DiscardHandler)}
	}
	return &GluePlugins{Runner: r}
}

// ConfigNames implements haconf.StonithPlugins.
func (g *GluePlugins) ConfigNames(typ string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n, ok := g.cache[typ]; ok {
		return n, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	names, err := GlueConfigNames(ctx, g.Runner, typ)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", haconf.ErrUnknownStonithType, err)
		}
		return nil, err
	}
	if g.cache == nil {
		g.cache = map[string][]string{}
	}
	g.cache[typ] = names
	return names, nil
}

// FromConfig builds the Fencer a node uses: ha.cf's device for that node
// (named haconf.HacfDevice, the one Heartbeat would use), lubdub.cf's
// fence_device lines in file order, and lubdub.cf's levels. It returns nil
// when nothing is configured.
func FromConfig(c *haconf.Config, node string, r Runner, log *slog.Logger) (*Fencer, error) {
	f := &Fencer{Devices: map[string]Device{}, Topology: Topology{}, Log: log}
	if s, ok := c.StonithFor(node); ok {
		g := &GlueDevice{DevName: haconf.HacfDevice, Type: s.Type, Runner: r}
		switch {
		case s.Values != nil:
			// Split by cluster-glue's rule already: through the
			// environment (-E), so that no password shows in ps.
			g.Pairs = s.Values
		case s.FromHost == "":
			g.File = s.ConfigFile
		default:
			g.Params = s.Params
		}
		f.Devices[g.DevName] = g
		f.Order = append(f.Order, g.DevName)
	}
	for _, d := range c.Fencing.Devices {
		dev, err := NewDevice(d, r)
		if err != nil {
			return nil, err
		}
		f.Devices[d.Name] = dev
		f.Order = append(f.Order, d.Name)
	}
	for _, l := range c.Fencing.Levels {
		f.Topology[l.Node] = append(f.Topology[l.Node], Level{Index: l.Index, Devices: l.Devices})
	}
	if len(f.Devices) == 0 {
		return nil, nil
	}
	if err := f.Topology.Validate(f.Devices); err != nil {
		return nil, err
	}
	return f, nil
}

// NewDevice makes the Device a fence_device line describes.
func NewDevice(d haconf.FenceDevice, r Runner) (Device, error) {
	t := CallTimeout{Fence: d.RebootTimeout, Status: d.MonitorTimeout, List: d.ListTimeout}
	var dev Device
	switch d.Kind {
	case "agent":
		dev = &Agent{DevName: d.Name, Path: d.Plugin, Options: d.Params, HostList: d.HostList, HostMap: d.HostMap, HostArgument: d.HostArgument, Runner: r, Timeout: t}
	case "external":
		dev = &ExternalScript{DevName: d.Name, Path: d.Plugin, Params: d.Params, Runner: r, Timeout: t}
	case "glue":
		dev = &GlueDevice{DevName: d.Name, Type: d.Plugin, Pairs: d.Params, Runner: r, Timeout: t}
	default:
		return nil, fmt.Errorf("fence_device %s (lubdub.cf line %d): unknown kind %q", d.Name, d.Line, d.Kind)
	}
	if len(d.HostList) > 0 && d.Kind != "agent" {
		dev = &hostListed{Device: dev, hosts: d.HostList}
	}
	if d.DelayBase > 0 {
		dev = &Delayed{Device: dev, Delay: d.DelayBase}
	}
	return dev, nil
}

// hostListed limits a device to a configured host list (pcmk_host_list)
// for plugins that take node names.
type hostListed struct {
	Device
	hosts []string
}

// Unwrap is the device itself.
func (h *hostListed) Unwrap() Device { return h.Device }

func (h *hostListed) Hosts(context.Context) ([]string, error) { return h.hosts, nil }

func (h *hostListed) Fence(ctx context.Context, node string, a Action) error {
	for _, x := range h.hosts {
		if x == node {
			return h.Device.Fence(ctx, node, a)
		}
	}
	return &Error{Device: h.Name(), Op: a.String() + " " + node, Err: fmt.Errorf("%w (not in pcmk_host_list)", ErrBadHost)}
}

// Delayed waits Delay before each fence (Pacemaker's pcmk_delay_base):
// of two nodes that lose each other, the one whose device for its peer
// has no delay shoots first.
type Delayed struct {
	Device
	Delay time.Duration
}

// Fence implements Device.
func (d *Delayed) Fence(ctx context.Context, node string, a Action) error {
	t := time.NewTimer(d.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return &Error{Device: d.Name(), Op: a.String() + " " + node, Err: fmt.Errorf("during pcmk_delay_base: %w", ctx.Err())}
	case <-t.C:
	}
	return d.Device.Fence(ctx, node, a)
}
