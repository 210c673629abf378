package resource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/ldirectord"
)

// ldirAgent is haresources' ldirectord[::FILE]: the virtual services of an
// ldirectord.cf, health-checked by the daemon while the group runs here,
// so that they move with the group's VIP.
type ldirAgent struct {
	raw  string
	path string
	env  Env
	mu   sync.Mutex
	// cfg is the configuration in force: read at set-up, again at each
	// start (as ldirectord FILE start reads it), and on reloads.
	cfg     *ldirectord.Config
	checker *ldirectord.Checker
	stop    context.CancelFunc
	done    chan struct{}
}

// LdirectordFile is the configuration an ldirectord[::FILE] resource
// names (ldirectord.cf when none).
func LdirectordFile(r haconf.Resource) string {
	if len(r.Args) > 0 {
		return r.Args[0]
	}
	return "ldirectord.cf"
}

func newLdirectord(r haconf.Resource, env Env) (*ldirAgent, error) {
	a := &ldirAgent{raw: r.Raw, path: ldirectord.Find(env.ConfigDir, LdirectordFile(r)), env: env}
	cfg, err := a.read()
	if err != nil {
		return nil, err
	}
	for _, n := range cfg.Notes {
		env.Log.Info(n)
	}
	a.cfg = cfg
	return a, nil
}

// read reads the agent's file; errors name it (and each line).
func (a *ldirAgent) read() (*ldirectord.Config, error) {
	cfg, err := ldirectord.ReadFile(a.path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("resource %s: reading its configuration: %w", a.raw, err)
		}
		return nil, fmt.Errorf("resource %s: %w", a.raw, err)
	}
	return cfg, nil
}

func (a *ldirAgent) Name() string { return a.raw }

// ConfigFile is the ldirectord.cf the agent reads.
func (a *ldirAgent) ConfigFile() string { return a.path }

func (a *ldirAgent) open() (datapath.DataPath, error) {
	dp, err := datapath.Open(a.env.DataPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.raw, err)
	}
	return dp, nil
}

// Start puts the virtual services in the kernel after a first round of
// checks, then keeps checking.
func (a *ldirAgent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stop != nil {
		return nil
	}
	cfg, err := a.read()
	if err != nil {
		return err
	}
	a.cfg = cfg
	dp, err := a.open()
	if err != nil {
		return err
	}
	c := ldirectord.NewChecker(a.cfg, dp, ldirectord.Check, a.env.Log)
	if err := c.Start(ctx); err != nil {
		dp.Close()
		return fmt.Errorf("%s: %w", a.raw, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	a.stop, a.done, a.checker = cancel, make(chan struct{}), c
	go func(done chan struct{}) {
		defer close(done)
		defer dp.Close()
		c.Run(rctx)
	}(a.done)
	return nil
}

// Reload re-reads the file while the services run here and applies the
// difference, as ldirectord does on SIGHUP: unchanged services and real
// servers stay as they are. A file with errors is refused (each logged
// as FILE:LINE) and the configuration in force stays. Not running here,
// it does nothing: the next start reads the file.
func (a *ldirAgent) Reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stop == nil {
		return nil
	}
	a.env.Log.Info(fmt.Sprintf("%s: reloading %s", a.raw, a.path), "resource", a.raw)
	cfg, err := ldirectord.ReadFile(a.path)
	if err == nil {
		err = a.checker.Reload(ctx, cfg)
	}
	if err != nil {
		ldirectord.LogRefused(a.env.Log, a.path, err)
		return fmt.Errorf("%s: %s not reloaded: %w", a.raw, a.path, err)
	}
	for _, n := range cfg.Notes {
		a.env.Log.Info(n)
	}
	a.cfg = cfg
	return nil
}

// Stop ends the checks and removes the virtual services (all of them:
// they leave with the group, whatever cleanstop= says).
func (a *ldirAgent) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stop != nil {
		a.stop()
		select {
		case <-a.done:
		case <-ctx.Done():
			return fmt.Errorf("%s: checks did not stop: %w", a.raw, ErrTimeout)
		}
		a.stop, a.done, a.checker = nil, nil, nil
	}
	dp, err := a.open()
	if err != nil {
		return err
	}
	defer dp.Close()
	if err := ldirectord.Remove(a.cfg, dp); err != nil {
		return fmt.Errorf("%s: removing virtual services: %w", a.raw, err)
	}
	return nil
}

// Running: while checks run here, every service must be in the kernel;
// otherwise any service left in the kernel counts as running, so that it
// gets stopped.
func (a *ldirAgent) Running(context.Context) (bool, error) {
	a.mu.Lock()
	checking := a.stop != nil
	cfg := a.cfg
	a.mu.Unlock()
	dp, err := a.open()
	if err != nil {
		return false, err
	}
	defer dp.Close()
	n, err := ldirectord.Present(cfg, dp)
	if err != nil {
		return false, err
	}
	if checking {
		return n == len(cfg.Virtuals), nil
	}
	return n > 0, nil
}
