package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lubdub/lubdub/internal/probe"
)

// serveEcho answers each line of every TCP connection with "TEXT LINE":
// the real server of a long-lived session (lubdub serve --echo), which
// says who serves it. It runs until ctx ends.
func serveEcho(ctx context.Context, l net.Listener, text string) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			sc := bufio.NewScanner(c)
			w := bufio.NewWriter(c)
			for sc.Scan() {
				fmt.Fprintf(w, "%s %s\n", text, sc.Text())
				if w.Flush() != nil {
					return
				}
			}
		}()
	}
}

// echoProbe is lubdub probe --echo: one TCP connection kept open, a
// numbered line sent every interval, each answered by the server's echo
// ("TEXT N"). It prints what the session sees in probe's format: "ok
// TEXT" when answers flow (TEXT is the real server), "fail no answer"
// when none came for timeout although the connection stays open, the
// answer that ends a stall with the stall's length as an outage, and
// "fail REASON" when the connection breaks, which ends the probe (the
// session is lost, as a client's would be).
type echoProbe struct {
	out      io.Writer
	start    time.Time
	interval time.Duration
	timeout  time.Duration

	mu       sync.Mutex
	last     string // the state printed last
	lastOK   time.Time
	stalled  bool
	sent     int
	answered int
	outages  []time.Duration
}

// line prints a change of state.
func (e *echoProbe) line(now time.Time, state, suffix string) {
	fmt.Fprintf(e.out, "%s +%.3fs %s%s\n", now.Format("15:04:05.000"), now.Sub(e.start).Seconds(), state, suffix)
	e.last = state
}

// answer takes one echoed line; it must echo the next number.
func (e *echoProbe) answer(now time.Time, l string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := strings.LastIndexByte(l, ' ')
	n, err := strconv.Atoi(l[i+1:])
	if i <= 0 || err != nil || n != e.answered+1 {
		return fmt.Errorf("answer %q, want TEXT %d", l, e.answered+1)
	}
	e.answered = n
	state := "ok " + l[:i]
	switch {
	case e.stalled:
		out := now.Sub(e.lastOK)
		e.outages = append(e.outages, out)
		e.line(now, state, fmt.Sprintf(probe.OutageFormat, out.Seconds()))
		e.stalled = false
	case state != e.last:
		e.line(now, state, "")
	}
	e.lastOK = now
	return nil
}

// check notes a stall: no answer for timeout while lines were sent.
func (e *echoProbe) check(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.stalled && e.sent > e.answered && now.Sub(e.lastOK) > e.timeout {
		e.stalled = true
		e.line(now, "fail no answer", "")
	}
}

func (e *echoProbe) summary() {
	e.mu.Lock()
	defer e.mu.Unlock()
	longest := time.Duration(0)
	for _, o := range e.outages {
		longest = max(longest, o)
	}
	fmt.Fprintf(e.out, "summary: %d lines, %d answered, %d stalls, longest %.3fs\n", e.sent, e.answered, len(e.outages), longest.Seconds())
}

// run keeps the session until ctx ends (nil) or the connection breaks
// (the error, printed as "fail REASON").
func (e *echoProbe) run(ctx context.Context, addr string) error {
	// The session's start is not what is measured: a slow handshake
	// (a busy or emulated machine) gets a few seconds.
	c, err := (&net.Dialer{Timeout: max(e.timeout, 5*time.Second)}).DialContext(ctx, "tcp", addr)
	if err != nil {
		e.line(time.Now(), "fail "+shortErr(err), "")
		return err
	}
	defer c.Close()
	e.lastOK = time.Now()
	errs := make(chan error, 1)
	fail := func(err error) {
		select {
		case errs <- err:
		default: // the first one ends the session
		}
	}
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if err := e.answer(time.Now(), sc.Text()); err != nil {
				fail(err)
				return
			}
		}
		fail(cmpErr(sc.Err(), io.EOF))
	}()
	tick := time.NewTicker(e.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			e.mu.Lock()
			e.line(time.Now(), "fail "+shortErr(err), "")
			e.mu.Unlock()
			return err
		case now := <-tick.C:
			e.check(now)
			e.mu.Lock()
			e.sent++
			n := e.sent
			e.mu.Unlock()
			// A write does not block for long: what the kernel cannot
			// send yet it queues, and retransmits across a takeover.
			c.SetWriteDeadline(now.Add(e.timeout + time.Second))
			if _, err := fmt.Fprintf(c, "%d\n", n); err != nil {
				fail(err)
			}
		}
	}
}

// cmpErr is err, or def when err is nil.
func cmpErr(err, def error) error {
	if err == nil {
		return def
	}
	return err
}
