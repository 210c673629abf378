package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
)

// Op names an executor operation.
type Op string

// Operations.
const (
	Start   Op = "start"
	Stop    Op = "stop"
	Monitor Op = "monitor"
	// Announce tells clients again where the group's addresses are
	// (gratuitous ARP), after a partition healed.
	Announce Op = "announce"
)

// Result ends an operation on a group.
type Result struct {
	Group int
	Op    Op
	OK    bool
	Err   error
}

// Executor runs operations on the resource groups, each in a goroutine of
// its own, and reports results on a channel. The caller runs at most one
// start or stop per group at a time.
type Executor struct {
	groups  [][]Agent
	broken  []error // a group whose agents could not be set up
	ids     []string
	tuning  haconf.Tuning
	log     *slog.Logger
	results chan<- Result
	wg      sync.WaitGroup
}

// stopRetryPause is the pause between tries of a failed stop, as
// Heartbeat's ResourceManager sleeps 1 s between them.
var stopRetryPause = time.Second

// NewExecutor prepares agents for every group. A group whose agents
// cannot be set up here (a script missing) fails to start here, so that
// another node takes it.
func NewExecutor(groups []haconf.Group, env Env, tuning haconf.Tuning, results chan<- Result) *Executor {
	x := &Executor{tuning: tuning, log: env.Log, results: results}
	for _, g := range groups {
		var agents []Agent
		var broken error
		for _, r := range g.Resources {
			a, err := New(r, env)
			if err != nil {
				broken = errors.Join(broken, err)
				continue
			}
			agents = append(agents, a)
		}
		if broken != nil {
			env.Log.Error(fmt.Sprintf("resource group %s cannot run on this node: %v", g.ID(), broken), "group", g.ID())
		}
		x.groups = append(x.groups, agents)
		x.broken = append(x.broken, broken)
		x.ids = append(x.ids, g.ID())
	}
	return x
}

// Preparer is an agent whose stopped state is something that runs
// (LVSSyncDaemonSwap's other daemon): at start-up it is brought there
// unless it runs.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Probe asks every resource whether it runs, at start-up: a group counts
// as running if any of its resources does. Preparers are prepared first.
func (x *Executor) Probe() []bool {
	out := make([]bool, len(x.groups))
	for g, agents := range x.groups {
		for _, a := range agents {
			if p, ok := a.(Preparer); ok {
				ctx, cancel := context.WithTimeout(context.Background(), x.tuning.StopTimeout)
				if err := p.Prepare(ctx); err != nil {
					x.log.Warn(fmt.Sprintf("preparing %s at start-up: %v", a.Name(), err), "resource", a.Name())
				}
				cancel()
			}
			ctx, cancel := context.WithTimeout(context.Background(), x.tuning.MonitorTimeout)
			ok, err := a.Running(ctx)
			cancel()
			if err != nil {
				x.log.Warn(fmt.Sprintf("status of %s at start-up: %v", a.Name(), err), "resource", a.Name())
			}
			if ok {
				out[g] = true
			}
		}
	}
	return out
}

// Run starts an operation in the background.
func (x *Executor) Run(g int, op Op) {
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		var err error
		switch op {
		case Start:
			err = x.start(g)
		case Stop:
			err = x.stop(g)
		case Monitor:
			err = x.monitor(g)
		case Announce:
			err = x.announce(g)
		}
		if err != nil && op != Monitor {
			x.log.Error(fmt.Sprintf("%s of resource group %s failed: %v", op, x.ids[g], err), "group", x.ids[g])
		}
		x.results <- Result{Group: g, Op: op, OK: err == nil, Err: err}
	}()
}

// Wait waits for running operations to end.
func (x *Executor) Wait() { x.wg.Wait() }

// start starts the resources left to right; the first failure ends it.
func (x *Executor) start(g int) error {
	if x.broken[g] != nil {
		return x.broken[g]
	}
	for _, a := range x.groups[g] {
		x.log.Info(fmt.Sprintf("starting %s", a.Name()), "resource", a.Name())
		ctx, cancel := context.WithTimeout(context.Background(), x.tuning.StartTimeout)
		err := a.Start(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("starting %s: %w", a.Name(), err)
		}
	}
	for _, a := range x.groups[g] {
		if m, ok := a.(interface{ CheckMonitorable(context.Context) }); ok {
			ctx, cancel := context.WithTimeout(context.Background(), x.tuning.MonitorTimeout)
			m.CheckMonitorable(ctx)
			cancel()
		}
	}
	return nil
}

// stop stops the resources right to left, as ResourceManager's
// giveupresourcegroup does: a stop that exits 0 is trusted; a failed stop
// is tried again StopRetries times, 1 s apart; if it still fails, status
// decides: a resource that does not run is stopped (its script is not
// LSB-compliant, which is logged), one that runs fails the stop.
func (x *Executor) stop(g int) error {
	var errs error
	for _, a := range slices.Backward(x.groups[g]) {
		x.log.Info(fmt.Sprintf("stopping %s", a.Name()), "resource", a.Name())
		if err := x.stopOne(a); err != nil {
			errs = errors.Join(errs, err)
		}
	}
	return errs
}

func (x *Executor) stopOne(a Agent) error {
	var err error
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), x.tuning.StopTimeout)
		err = a.Stop(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if try == x.tuning.StopRetries {
			break
		}
		x.log.Warn(fmt.Sprintf("stopping %s failed (%v); retrying, %d of %d", a.Name(), err, try+1, x.tuning.StopRetries), "resource", a.Name())
		time.Sleep(stopRetryPause)
	}
	ctx, cancel := context.WithTimeout(context.Background(), x.tuning.MonitorTimeout)
	running, serr := a.Running(ctx)
	cancel()
	switch {
	case serr != nil:
		return fmt.Errorf("%w; status after it: %w", err, serr)
	case running:
		return fmt.Errorf("%w, and %s still runs", err, a.Name())
	}
	x.log.Warn(fmt.Sprintf("%s: its stop fails although it is stopped; it probably is not LSB-compliant: a stop must succeed when already stopped", a.Name()), "resource", a.Name())
	return nil
}

// announce has every resource that announces itself (IPaddr, IPaddr2) do
// it again.
func (x *Executor) announce(g int) error {
	var errs error
	for _, a := range x.groups[g] {
		if an, ok := a.(interface{ Announce(context.Context) error }); ok {
			ctx, cancel := context.WithTimeout(context.Background(), x.tuning.MonitorTimeout)
			errs = errors.Join(errs, an.Announce(ctx))
			cancel()
		}
	}
	return errs
}

// monitor checks every resource of a running group.
func (x *Executor) monitor(g int) error {
	for _, a := range x.groups[g] {
		if m, ok := a.(interface{ Unmonitored() bool }); ok && m.Unmonitored() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), x.tuning.MonitorTimeout)
		ok, err := a.Running(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("monitoring %s: %w", a.Name(), err)
		}
		if !ok {
			return fmt.Errorf("%s is not running", a.Name())
		}
	}
	return nil
}

// Reloader is an agent that re-reads its own configuration on SIGHUP
// (ldirectord's ldirectord.cf).
type Reloader interface {
	Reload(ctx context.Context) error
	// ConfigFile is the file it re-reads.
	ConfigFile() string
}

// Reload asks every agent that can, or those reading file (when not ""),
// to re-read its configuration, in the background (each logs its own
// outcome), and reports how many were asked; done is closed when all
// have finished.
func (x *Executor) Reload(file string) (n int, done <-chan struct{}) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for _, agents := range x.groups {
		for _, a := range agents {
			r, ok := a.(Reloader)
			if !ok || file != "" && filepath.Clean(r.ConfigFile()) != filepath.Clean(file) {
				continue
			}
			n++
			wg.Add(1)
			x.wg.Add(1)
			go func() {
				defer wg.Done()
				defer x.wg.Done()
				timeout := x.tuning.StartTimeout
				if timeout <= 0 {
					timeout = 30 * time.Second
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				r.Reload(ctx)
			}()
		}
	}
	go func() { wg.Wait(); close(ch) }()
	return n, ch
}
