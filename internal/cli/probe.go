package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/probe"
)

// cmdProbe polls a URL as a client would and prints every change of what
// it sees (which server answers, or the error), with the outage each
// return to service ended: the client-visible measure of a failover. With
// --echo it keeps one long-lived session instead (echoProbe).
func cmdProbe(env *Env, args []string) int {
	fs := newFlags(env, "probe", "[--interval 20ms] [--timeout 500ms] [--duration 0] URL | --echo HOST:PORT")
	interval := fs.Duration("interval", 20*time.Millisecond, "time between requests")
	timeout := fs.Duration("timeout", 500*time.Millisecond, "time allowed for one request")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted; at most 24h)")
	untilOK := fs.Bool("until-ok", false, "exit 0 at the first good answer (exit 1 if none within --duration)")
	count := fs.Int("count", 0, "stop after this many requests (0: no limit)")
	echo := fs.Bool("echo", false, "keep one TCP session to HOST:PORT (a lubdub serve --echo behind it), a line each interval, and report its stalls; exit 1 if it breaks")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 || *interval <= 0 || *timeout <= 0 || *duration < 0 || *duration > 24*time.Hour || *count < 0 {
		fs.Usage()
		return 2
	}
	if *echo {
		ctx, stop := signal.NotifyContext(env.Ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, cmp.Or(*duration, 24*time.Hour))
		defer cancel()
		e := &echoProbe{out: env.Stdout, start: time.Now(), interval: *interval, timeout: *timeout}
		err := e.run(ctx, fs.Arg(0))
		e.summary()
		if err != nil {
			return 1
		}
		return 0
	}
	url := fs.Arg(0)
	if !strings.HasPrefix(url, "http://") {
		fmt.Fprintln(env.Stderr, "lubdub probe: the URL must start with http://")
		return 2
	}
	ctx, stop := signal.NotifyContext(env.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 24*time.Hour)
		defer cancel()
	}
	p := &prober{out: env.Stdout, start: time.Now(),
		client: &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: (&net.Dialer{Timeout: *timeout}).DialContext}}}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	if *untilOK {
		p.out = io.Discard
	}
	for {
		if p.once(ctx, url) && *untilOK {
			return 0
		}
		if *count > 0 && p.requests >= *count {
			p.summary()
			return 0
		}
		select {
		case <-ctx.Done():
			if *untilOK {
				return 1
			}
			p.summary()
			return 0
		case <-tick.C:
		}
	}
}

type prober struct {
	out       io.Writer
	client    *http.Client
	start     time.Time
	last      string
	lastOK    time.Time // last good answer
	failSince time.Time // first failure of the current outage
	requests  int
	failures  int
	outages   []time.Duration
}

func (p *prober) once(ctx context.Context, url string) bool {
	p.requests++
	now := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := p.client.Do(req)
	state := ""
	ok := false
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		state = "fail " + shortErr(err)
	} else {
		// A body cut short (the server stopped mid-answer) is no answer.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 256))
		resp.Body.Close()
		switch {
		case rerr != nil && ctx.Err() != nil:
			return false
		case rerr != nil:
			state = "fail body: " + shortErr(rerr)
		case resp.StatusCode == http.StatusOK:
			state, ok = "ok "+strings.TrimSpace(string(body)), true
		default:
			state = fmt.Sprintf("fail HTTP %d", resp.StatusCode)
		}
	}
	if !ok {
		p.failures++
		if p.failSince.IsZero() {
			p.failSince = now
		}
	}
	if state != p.last {
		line := fmt.Sprintf("%s +%.3fs %s", now.Format("15:04:05.000"), now.Sub(p.start).Seconds(), state)
		if ok && !p.failSince.IsZero() && !p.lastOK.IsZero() {
			// The outage runs from the last good answer to this one.
			out := now.Sub(p.lastOK)
			p.outages = append(p.outages, out)
			line += fmt.Sprintf(probe.OutageFormat, out.Seconds())
		}
		fmt.Fprintln(p.out, line)
		p.last = state
	}
	if ok {
		p.lastOK = now
		p.failSince = time.Time{}
	}
	return ok
}

func (p *prober) summary() {
	longest := time.Duration(0)
	for _, o := range p.outages {
		longest = max(longest, o)
	}
	fmt.Fprintf(p.out, "summary: %d requests, %d failed, %d outages, longest %.3fs\n", p.requests, p.failures, len(p.outages), longest.Seconds())
}

func shortErr(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "no route to host", "i/o timeout", "Client.Timeout", "connection reset", "network is unreachable", "EOF"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
