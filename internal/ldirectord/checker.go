package ldirectord

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lvs"
)

// CheckFunc runs one health check; nil means the server is healthy.
type CheckFunc func(ctx context.Context, v *Virtual, r Real) error

// Checker keeps one configuration's virtual services in the kernel.
type Checker struct {
	cfg    *Config
	dp     datapath.DataPath
	log    *slog.Logger
	check  CheckFunc
	health *Health
	next   map[lvs.Key]time.Time
	// last is what the checker last wrote, to log changes.
	last map[lvs.Key]*lvs.Service
	lock func() (func(), error) // datapath.Lock; tests replace it
}

// NewChecker returns a checker; check is usually Check.
func NewChecker(cfg *Config, dp datapath.DataPath, check CheckFunc, log *slog.Logger) *Checker {
	return &Checker{cfg: cfg, dp: dp, log: log, check: check, health: NewHealth(),
		next: map[lvs.Key]time.Time{}, last: map[lvs.Key]*lvs.Service{}, lock: datapath.Lock}
}

// StartCheckLimit bounds each check of the first round, so that a real
// server that hangs (negotiatetimeout is 30 s by default) does not hold
// up the start of its group; it is counted down until a later check.
const StartCheckLimit = 2 * time.Second

// Start runs every check once and puts the services in the kernel.
func (c *Checker) Start(ctx context.Context) error {
	if err := c.cfg.Check(c.dp.Name()); err != nil {
		return err
	}
	c.round(ctx, time.Now(), true, StartCheckLimit)
	return c.sync()
}

// Run checks each virtual service every checkinterval until ctx ends,
// waking exactly when the next service is due.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTimer(time.Until(c.due()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if c.round(ctx, now, false, 0) || len(c.last) == 0 || c.missing() {
				if err := c.sync(); err != nil {
					c.log.Error("ldirectord: updating the kernel's virtual services failed, will retry", "err", err)
					c.last = map[lvs.Key]*lvs.Service{} // write again next round
				}
			}
			t.Reset(time.Until(c.due()))
		}
	}
}

// missing reports whether a service of the configuration has gone from
// the kernel (someone ran ipvsadm -C, or flushed nftables): it is put
// back. Changes made to services that are there are left alone, as
// ldirectord leaves them, until a check changes a server's state.
func (c *Checker) missing() bool {
	n, err := Present(c.cfg, c.dp)
	if err == nil && n < len(c.cfg.Virtuals) {
		c.log.Warn("ldirectord: a virtual service went missing from the kernel; putting it back")
		return true
	}
	return false
}

// due is when the next virtual service's checks are due.
func (c *Checker) due() time.Time {
	var first time.Time
	for _, v := range c.cfg.Virtuals {
		if n := c.next[v.Key]; first.IsZero() || n.Before(first) {
			first = n
		}
	}
	return first
}

// round runs the checks that are due, in parallel, and reports whether
// any server changed state; limit, if not 0, caps each check's timeout.
func (c *Checker) round(ctx context.Context, now time.Time, all bool, limit time.Duration) bool {
	type result struct {
		id  ID
		v   *Virtual
		err error
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []result
	)
	for _, v := range c.cfg.Virtuals {
		if !all && now.Before(c.next[v.Key]) {
			continue
		}
		c.next[v.Key] = now.Add(v.CheckInterval)
		if v.CheckType == CheckOn || v.CheckType == CheckOff {
			continue
		}
		for _, r := range v.Reals {
			wg.Add(1)
			go func() {
				defer wg.Done()
				timeout := v.CheckTimeout
				if limit > 0 {
					timeout = min(timeout, limit)
				}
				cctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				err := c.check(cctx, v, r)
				mu.Lock()
				results = append(results, result{ID{v.Key, r.Addr}, v, err})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return false
	}
	changed := false
	for _, r := range results {
		was := c.health.Up(r.id)
		if c.health.Observe(r.id, r.err == nil, r.v.FailureCount) {
			changed = true
			if was {
				c.log.Warn(fmt.Sprintf("ldirectord: real server %s of %s failed its %s check: %v", r.id.Real, r.id.Virtual, r.v.CheckType, r.err))
			}
		} else if r.err != nil && was {
			c.log.Info(fmt.Sprintf("ldirectord: real server %s of %s failed its %s check (%d of %d): %v",
				r.id.Real, r.id.Virtual, r.v.CheckType, c.health.fails[r.id], r.v.FailureCount, r.err))
		}
	}
	return changed
}

// sync writes the services this configuration owns; other services in
// the kernel are left alone.
func (c *Checker) sync() error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	old, err := c.dp.Load(c.cfg.Keys(), false)
	if err != nil {
		return err
	}
	nt := &lvs.Table{}
	for _, v := range c.cfg.Virtuals {
		s := Service(v, c.health.Up)
		c.logChanges(c.last[v.Key], s)
		c.last[v.Key] = s
		nt.Services = append(nt.Services, s)
	}
	return c.dp.Sync(old, nt)
}

// logChanges logs as ldirectord does: Added, Deleted and Quiescent real
// servers.
func (c *Checker) logChanges(old, s *lvs.Service) {
	weight := func(x *lvs.Service, a lvs.Dest) (int, bool) {
		if x == nil {
			return 0, false
		}
		_, d := x.Dest(a.Addr)
		if d == nil {
			return 0, false
		}
		return d.Weight, true
	}
	for _, d := range s.Dests {
		w, had := weight(old, *d)
		switch {
		case (!had || w == 0) && d.Weight > 0:
			c.log.Info(fmt.Sprintf("Added real server: %s (%s) (Weight set to %d)", d.Addr, s.Key.Addr, d.Weight))
		case (!had || w > 0) && d.Weight == 0:
			c.log.Info(fmt.Sprintf("Quiescent real server: %s (%s) (Weight set to 0)", d.Addr, s.Key.Addr))
		}
	}
	if old != nil {
		for _, d := range old.Dests {
			if _, nd := s.Dest(d.Addr); nd == nil {
				c.log.Info(fmt.Sprintf("Deleted real server: %s (%s)", d.Addr, s.Key.Addr))
			}
		}
	}
}

// Remove takes the configuration's virtual services out of the kernel
// (ldirectord's cleanstop).
func (c *Checker) Remove() error { return remove(c.cfg, c.dp, c.lock) }

// Remove takes a configuration's virtual services out of the kernel.
func Remove(cfg *Config, dp datapath.DataPath) error { return remove(cfg, dp, datapath.Lock) }

func remove(cfg *Config, dp datapath.DataPath, lock func() (func(), error)) error {
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	old, err := dp.Load(cfg.Keys(), false)
	if err != nil {
		return err
	}
	return dp.Sync(old, &lvs.Table{})
}

// Present reports how many of the configuration's services the kernel
// holds.
func Present(cfg *Config, dp datapath.DataPath) (int, error) {
	t, err := dp.Load(cfg.Keys(), false)
	if err != nil {
		return 0, err
	}
	return len(t.Services), nil
}
