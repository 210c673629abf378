package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/probe"
)

// A session through lubdub serve --echo flows, names its server, and
// ends cleanly with the probe's duration.
func TestEchoSession(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- serveEcho(ctx, l, "rs1") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	var out bytes.Buffer
	e := &echoProbe{out: &out, start: time.Now(), interval: 10 * time.Millisecond, timeout: 200 * time.Millisecond}
	pctx, pcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer pcancel()
	if err := e.run(pctx, l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if a := probe.Answers(out.String()); len(a) != 1 || a[0] != "rs1" || e.answered < 10 || len(e.outages) != 0 {
		t.Errorf("answers %v, %d answered:\n%s", a, e.answered, out.String())
	}
}

// A server that stops answering for a while (the takeover) is a stall
// measured from the last answer to the next; one that closes the
// connection ends the probe with an error.
func TestEchoStallAndBreak(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for i := 1; sc.Scan(); i++ {
			if i == 5 {
				time.Sleep(400 * time.Millisecond)
			}
			fmt.Fprintf(c, "rs2 %s\n", sc.Text())
			if i == 40 {
				return // the connection closes: the session is lost
			}
		}
	}()
	var out bytes.Buffer
	e := &echoProbe{out: &out, start: time.Now(), interval: 10 * time.Millisecond, timeout: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.run(ctx, l.Addr().String()); err == nil {
		t.Fatalf("a closed session ended without error:\n%s", out.String())
	}
	got := out.String()
	o := probe.Outages(got)
	if len(o) != 1 || o[0] < 350*time.Millisecond || o[0] > time.Second {
		t.Errorf("outages %v, want one of about 0.4 s:\n%s", o, got)
	}
	// The server closes with lines unread: a reset, or EOF if none was.
	if last := strings.TrimSpace(got); !strings.Contains(got, "fail no answer") ||
		!strings.HasSuffix(last, "fail EOF") && !strings.HasSuffix(last, "fail connection reset") {
		t.Errorf("output:\n%s", got)
	}
}
