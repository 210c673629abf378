package ldirectord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
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
	// connects counts the connect checks since the last negotiate check
	// of checktype=N (combined); ldirectord starts it high, so that the
	// first check negotiates.
	connects map[ID]int
	// last is what the checker last wrote, to log changes.
	last    map[lvs.Key]*lvs.Service
	lock    func() (func(), error) // datapath.Lock; tests replace it
	reloads chan reloadReq
	// fileStamp is the file as last read, for autoreload=yes.
	fileStamp stamp
	// readFile reads a configuration (ReadFile; tests replace it).
	readFile func(string) (*Config, error)
}

type reloadReq struct {
	cfg  *Config
	done chan error
}

type stamp struct {
	mod  time.Time
	size int64
}

func fileStamp(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{fi.ModTime(), fi.Size()}
}

// NewChecker returns a checker; check is usually Check.
func NewChecker(cfg *Config, dp datapath.DataPath, check CheckFunc, log *slog.Logger) *Checker {
	return &Checker{cfg: cfg, dp: dp, log: log, check: check, health: NewHealth(),
		next: map[lvs.Key]time.Time{}, connects: map[ID]int{}, last: map[lvs.Key]*lvs.Service{},
		lock: datapath.Lock, reloads: make(chan reloadReq), fileStamp: fileStamp(cfg.File), readFile: ReadFile}
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
	c.round(ctx, time.Now(), nil, StartCheckLimit)
	return c.sync(nil)
}

// Run checks each virtual service every checkinterval until ctx ends,
// waking exactly when the next service is due, and applies reloads.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTimer(time.Until(c.due()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-c.reloads:
			req.done <- c.apply(ctx, req.cfg)
		case now := <-t.C:
			if c.round(ctx, now, nil, 0) || len(c.last) == 0 || c.missing() {
				if err := c.sync(nil); err != nil {
					c.log.Error("ldirectord: updating the kernel's virtual services failed, will retry", "err", err)
					c.last = map[lvs.Key]*lvs.Service{} // write again next round
				}
			}
			if c.cfg.AutoReload {
				c.autoReload(ctx)
			}
		}
		t.Reset(time.Until(c.due()))
	}
}

// ErrNotRunning is returned by Reload when the checker's Run has ended.
var ErrNotRunning = errors.New("ldirectord checks are not running")

// Reload applies a new configuration while Run runs: services and real
// servers that did not change stay in the kernel as they are (their
// connections go on), new real servers are checked at once, services no
// longer configured leave the kernel. A configuration the data path
// cannot carry is refused and the old one stays.
func (c *Checker) Reload(ctx context.Context, cfg *Config) error {
	req := reloadReq{cfg: cfg, done: make(chan error, 1)}
	select {
	case c.reloads <- req:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotRunning, ctx.Err())
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// apply is Reload, in Run's goroutine.
func (c *Checker) apply(ctx context.Context, cfg *Config) error {
	if err := cfg.Check(c.dp.Name()); err != nil {
		return err
	}
	old := c.cfg
	oldKeys := old.Keys()
	keep := map[ID]bool{}
	for _, v := range cfg.Virtuals {
		for _, r := range v.Reals {
			keep[ID{v.Key, r.Addr}] = true
		}
	}
	c.health.Forget(func(id ID) bool { return !keep[id] })
	for id := range c.connects {
		if !keep[id] {
			delete(c.connects, id)
		}
	}
	c.cfg, c.fileStamp = cfg, fileStamp(cfg.File)
	now := time.Now()
	known := map[lvs.Key]bool{}
	for _, v := range cfg.Virtuals {
		known[v.Key] = true
		if _, ok := c.next[v.Key]; !ok {
			c.next[v.Key] = now.Add(v.CheckInterval) // checked just below
		}
	}
	for k := range c.next {
		if !known[k] {
			delete(c.next, k)
			delete(c.last, k)
		}
	}
	// Check the new real servers now, as ldirectord's ld_start does
	// after a reload; the others keep their state and their schedule.
	c.round(ctx, now, func(id ID) bool { return !c.health.Known(id) }, StartCheckLimit)
	added, removed := 0, 0
	for _, k := range cfg.Keys() {
		if !slices.Contains(oldKeys, k) {
			added++
		}
	}
	for _, k := range oldKeys {
		if !known[k] {
			removed++
			c.log.Info(fmt.Sprintf("Purged virtual server (reload): %s", ldVirtual(k)))
		}
	}
	if err := c.sync(oldKeys); err != nil {
		c.last = map[lvs.Key]*lvs.Service{}
		return fmt.Errorf("updating the kernel's virtual services: %w", err)
	}
	c.log.Info(fmt.Sprintf("ldirectord: %s reloaded: %d virtual services (%d added, %d removed)", cfg.File, len(cfg.Virtuals), added, removed))
	return nil
}

// autoReload re-reads the file when it changed (autoreload=yes).
func (c *Checker) autoReload(ctx context.Context) {
	st := fileStamp(c.cfg.File)
	if st == c.fileStamp || st == (stamp{}) {
		return
	}
	c.fileStamp = st
	c.log.Info(fmt.Sprintf("Configuration file '%s' has changed on disk - reread new configuration", c.cfg.File))
	cfg, err := c.readFile(c.cfg.File)
	if err == nil {
		err = c.apply(ctx, cfg)
	}
	if err != nil {
		LogRefused(c.log, c.cfg.File, err)
	}
}

// LogRefused logs why a configuration was not reloaded, one line per
// problem (each FILE:LINE), and that the old one stays.
func LogRefused(log *slog.Logger, file string, err error) {
	var es Errors
	if errors.As(err, &es) {
		for _, e := range es {
			log.Error(e.Error())
		}
	} else {
		log.Error(err.Error())
	}
	log.Error(fmt.Sprintf("ldirectord: %s NOT reloaded; the configuration in force stays", file))
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
	if first.IsZero() {
		first = time.Now().Add(DefaultCheckInterval)
	}
	return first
}

// mode is the check a real server gets this time: checktype=N runs
// negotiate after N connect checks (and after a failed connect check).
func (c *Checker) mode(v *Virtual, id ID) string {
	if v.CheckType != CheckCombined {
		return v.CheckType
	}
	n, ok := c.connects[id]
	if !ok || n >= v.NumConnects {
		return CheckNegotiate
	}
	return CheckConnect
}

// round runs the checks that are due, in parallel, and reports whether
// any server changed state. only, if not nil, picks the servers to check
// (whatever is due); limit, if not 0, caps each check's timeout.
func (c *Checker) round(ctx context.Context, now time.Time, only func(ID) bool, limit time.Duration) bool {
	type result struct {
		id    ID
		v     *Virtual
		mode  string
		err   error
		maint bool
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []result
	)
	for _, v := range c.cfg.Virtuals {
		if only == nil {
			if now.Before(c.next[v.Key]) {
				continue
			}
			c.next[v.Key] = now.Add(v.CheckInterval)
		}
		if v.CheckType == CheckOn || v.CheckType == CheckOff {
			continue
		}
		for _, r := range v.Reals {
			id := ID{v.Key, r.Addr}
			if only != nil && !only(id) {
				continue
			}
			if InMaintenance(c.cfg.MaintenanceDir, r) {
				mu.Lock()
				results = append(results, result{id: id, v: v, maint: true, err: errors.New("in maintenance (maintenancedir)")})
				mu.Unlock()
				continue
			}
			mode := c.mode(v, id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				timeout := v.Timeout(mode)
				if limit > 0 {
					timeout = min(timeout, limit)
				}
				cctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				cv := v
				if mode != v.CheckType {
					cp := *v
					cp.CheckType = mode
					cv = &cp
				}
				err := c.check(cctx, cv, r)
				mu.Lock()
				results = append(results, result{id, v, mode, err, false})
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
		if r.v.CheckType == CheckCombined {
			switch {
			case r.mode == CheckNegotiate && r.err == nil:
				c.connects[r.id] = 0
			case r.mode == CheckConnect && r.err == nil:
				c.connects[r.id]++
			case r.mode == CheckConnect:
				delete(c.connects, r.id) // negotiate next time
			}
		}
		was := c.health.Up(r.id)
		var ch bool
		if r.maint {
			ch = c.health.Down(r.id)
		} else {
			ch = c.health.Observe(r.id, r.err == nil, r.v.FailureCount)
		}
		if ch {
			changed = true
			if was {
				c.log.Warn(fmt.Sprintf("ldirectord: real server %s of %s failed its %s check: %v", r.id.Real, ldVirtual(r.id.Virtual), r.mode, r.err))
			}
		} else if r.err != nil && was {
			c.log.Info(fmt.Sprintf("Soft failure real server: %s (%s) failure %d/%d",
				r.id.Real, ldVirtualID(r.id.Virtual), c.health.fails[r.id], r.v.FailureCount), "err", r.err)
		}
	}
	return changed
}

// sync writes the services this configuration owns, and removes those of
// extra (an earlier configuration's keys) it no longer has; other
// services in the kernel are left alone.
func (c *Checker) sync(extra []lvs.Key) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	keys := c.cfg.Keys()
	for _, k := range extra {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	old, err := c.dp.Load(keys, false)
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
			c.log.Info(fmt.Sprintf("Added real server: %s (%s) (Weight set to %d)", d.Addr, ldVirtual(s.Key), d.Weight))
		case (!had || w > 0) && d.Weight == 0:
			c.log.Info(fmt.Sprintf("Quiescent real server: %s (%s) (Weight set to 0)", d.Addr, ldVirtual(s.Key)))
		case had && w != d.Weight:
			c.log.Info(fmt.Sprintf("Restored real server: %s (%s) (Weight set to %d)", d.Addr, ldVirtual(s.Key), d.Weight))
		}
	}
	if old != nil {
		for _, d := range old.Dests {
			if _, nd := s.Dest(d.Addr); nd == nil {
				c.log.Info(fmt.Sprintf("Deleted real server: %s (%s)", d.Addr, ldVirtual(s.Key)))
			}
		}
	}
}

// ldVirtual is a virtual service as ldirectord's log lines name it
// (get_virtual): ADDRESS:PORT, or the firewall mark.
func ldVirtual(k lvs.Key) string {
	if k.Proto == "FWM" {
		return strconv.FormatUint(uint64(k.FWMark), 10)
	}
	return k.Addr.String()
}

// ldVirtualID is ldirectord's get_virtual_id_str: the protocol as
// ldirectord.cf writes it, then ldVirtual (tcp:198.18.0.10:80, fwm:1).
func ldVirtualID(k lvs.Key) string { return strings.ToLower(k.Proto) + ":" + ldVirtual(k) }

// Config is the configuration in force (only for Run's goroutine, or
// when Run is not running).
func (c *Checker) Config() *Config { return c.cfg }

// Remove takes the configuration's virtual services out of the kernel,
// except those with cleanstop=no (ldirectord's ld_stop).
func (c *Checker) Remove() error {
	cfg := *c.cfg
	cfg.Virtuals = nil
	for _, v := range c.cfg.Virtuals {
		if v.CleanStop {
			cfg.Virtuals = append(cfg.Virtuals, v)
		}
	}
	return remove(&cfg, c.dp, c.lock)
}

// Remove takes all of a configuration's virtual services out of the
// kernel.
func Remove(cfg *Config, dp datapath.DataPath) error { return remove(cfg, dp, datapath.Lock) }

func remove(cfg *Config, dp datapath.DataPath, lock func() (func(), error)) error {
	if len(cfg.Virtuals) == 0 {
		return nil
	}
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
