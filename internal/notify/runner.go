package notify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/haconf"
)

// Config is what the runner runs.
type Config struct {
	Hooks   []haconf.NotifyHook
	Alerts  []haconf.AlertAgent
	Timeout time.Duration // one run's limit (haconf.DefaultNotifyTimeout if 0)
	Nodes   []string      // ha.cf's node list (Pacemaker's node ids)
	Version string        // lubdub's version, in LUBDUB_VERSION
	// QueueSize: events a program may fall behind before its oldest are
	// dropped (DefaultQueueSize if 0).
	QueueSize int
}

// DefaultQueueSize is how many events a program may fall behind.
const DefaultQueueSize = 1024

// Runner runs the configured programs for every event it is given.
type Runner struct {
	cfg      Config
	log      *slog.Logger
	targets  []*target
	alertSeq uint64 // alert runs so far (CRM_alert_node_sequence)
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// target is one program (a notify line, or an alert line: one recipient).
type target struct {
	name      string
	path      string
	recipient string
	alert     bool

	mu      sync.Mutex
	queue   []call
	dropped int
	closing bool
	wake    chan struct{}
}

// call is one run: the program's arguments and environment, and what it
// is for (for the log).
type call struct {
	args, env []string
	what      string
}

// Start starts a worker per program; Close stops them.
func Start(cfg Config, log *slog.Logger) *Runner {
	if cfg.Timeout <= 0 {
		cfg.Timeout = haconf.DefaultNotifyTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	r := &Runner{cfg: cfg, log: log}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, h := range cfg.Hooks {
		r.targets = append(r.targets, &target{name: "notify hook " + h.Path, path: h.Path, wake: make(chan struct{}, 1)})
	}
	for _, a := range cfg.Alerts {
		name := "alert agent " + a.Path
		if a.Recipient != "" {
			name += " (recipient " + a.Recipient + ")"
		}
		r.targets = append(r.targets, &target{name: name, path: a.Path, recipient: a.Recipient, alert: true, wake: make(chan struct{}, 1)})
	}
	for _, t := range r.targets {
		r.wg.Add(1)
		go r.work(t)
	}
	return r
}

// Empty reports whether the runner runs nothing.
func (r *Runner) Empty() bool { return r == nil || len(r.targets) == 0 }

// Event queues e for every program it concerns and returns at once: never
// for the current state sent to new readers (Replay); alert agents only
// for what Pacemaker alerts on (AlertFor).
func (r *Runner) Event(e events.Event) {
	if r.Empty() || e.Replay {
		return
	}
	what := fmt.Sprintf("event %d (%s %s on %s: %s)", e.Seq, e.Kind, e.Subject, e.Node, e.State)
	args, env := HookCall(e)
	env = append(env, "LUBDUB_VERSION="+r.cfg.Version)
	alert, isAlert := AlertFor(e, r.cfg.Nodes)
	for _, t := range r.targets {
		switch {
		case !t.alert:
			r.enqueue(t, call{args: args, env: env, what: what})
		case isAlert:
			r.alertSeq++
			r.enqueue(t, call{env: AlertEnv(alert, e, t.recipient, r.alertSeq), what: what})
		}
	}
}

// enqueue adds c to t's queue; a full queue loses its oldest call.
func (r *Runner) enqueue(t *target, c call) {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return
	}
	if len(t.queue) >= r.cfg.QueueSize {
		if t.dropped == 0 {
			r.log.Error(fmt.Sprintf("%s is %d events behind: dropping the oldest until it catches up", t.name, len(t.queue)))
		}
		t.dropped++
		t.queue = t.queue[1:]
	}
	t.queue = append(t.queue, c)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) work(t *target) {
	defer r.wg.Done()
	for {
		t.mu.Lock()
		if len(t.queue) == 0 {
			if t.dropped > 0 {
				r.log.Warn(fmt.Sprintf("%s caught up; %d events were not passed to it", t.name, t.dropped))
				t.dropped = 0
			}
			closing := t.closing
			t.mu.Unlock()
			if closing {
				return
			}
			select {
			case <-t.wake:
			case <-r.ctx.Done():
				return
			}
			continue
		}
		c := t.queue[0]
		t.queue = t.queue[1:]
		t.mu.Unlock()
		if r.ctx.Err() != nil {
			return
		}
		r.run(t, c)
	}
}

// maxOutput is how much of a program's output is kept for the log.
const maxOutput = 16 << 10

type limited struct{ bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// run runs one call: without a shell, in its own process group, which is
// killed at the timeout.
func (r *Runner) run(t *target, c call) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.path, c.args...)
	cmd.Env = append(os.Environ(), c.env...)
	var out limited
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A child that left the process group may hold the output open.
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	logOutput(r.log, t.name, out.String())
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.log.Error(fmt.Sprintf("%s ran longer than notify_timeout (%s) for %s: killed with its process group", t.name, haconf.FormatDuration(r.cfg.Timeout), c.what))
	case r.ctx.Err() != nil:
		r.log.Warn(fmt.Sprintf("%s killed for %s: lubdub is stopping", t.name, c.what))
	case err != nil:
		r.log.Warn(fmt.Sprintf("%s failed for %s after %s: %v", t.name, c.what, took, err))
	default:
		r.log.Debug(fmt.Sprintf("%s ran for %s in %s", t.name, c.what, took))
	}
}

func logOutput(log *slog.Logger, name, out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for n := 0; sc.Scan() && n < 20; n++ {
		log.Info(fmt.Sprintf("%s: %s", name, sc.Text()))
	}
}

// Close lets every program work through what it was given for at most
// grace, then kills what still runs and drops the rest, and returns once
// every worker has ended.
func (r *Runner) Close(grace time.Duration) {
	if r == nil {
		return
	}
	for _, t := range r.targets {
		t.mu.Lock()
		t.closing = true
		t.mu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		r.log.Warn(fmt.Sprintf("notification programs still busy after %s: killing them", grace))
		r.cancel()
		<-done
	}
	r.cancel()
}
