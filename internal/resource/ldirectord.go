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
	cfg  *ldirectord.Config
	env  Env
	mu   sync.Mutex
	stop context.CancelFunc
	done chan struct{}
}

func newLdirectord(r haconf.Resource, env Env) (*ldirAgent, error) {
	name := "ldirectord.cf"
	if len(r.Args) > 0 {
		name = r.Args[0]
	}
	cfg, err := ldirectord.ReadFile(ldirectord.Find(env.ConfigDir, name))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("resource %s: reading its configuration: %w", r.Raw, err)
		}
		return nil, fmt.Errorf("resource %s: %w", r.Raw, err)
	}
	for _, n := range cfg.Notes {
		env.Log.Info(n)
	}
	return &ldirAgent{raw: r.Raw, cfg: cfg, env: env}, nil
}

func (a *ldirAgent) Name() string { return a.raw }

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
	a.stop, a.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		defer dp.Close()
		c.Run(rctx)
	}(a.done)
	return nil
}

// Stop ends the checks and removes the virtual services.
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
		a.stop, a.done = nil, nil
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
	a.mu.Unlock()
	dp, err := a.open()
	if err != nil {
		return false, err
	}
	defer dp.Close()
	n, err := ldirectord.Present(a.cfg, dp)
	if err != nil {
		return false, err
	}
	if checking {
		return n == len(a.cfg.Virtuals), nil
	}
	return n > 0, nil
}
