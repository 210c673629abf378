package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/events"
)

var evTime = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// eventServer is a control socket answering status and streaming events:
// first the state (replay), then live events; its first stream is cut
// off as a daemon cuts off a reader that fell behind, if cut is set.
// The events' times print in the local zone, which the tests read as UTC.
// It is set once, before any test starts a goroutine that reads it: a
// test setting it raced with the event streams of the test before.
func init() { time.Local = time.UTC }

func eventServer(t *testing.T, cut bool) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "lubdub.sock")
	srv, err := control.Listen(sock, func(r control.Request) control.Response {
		return control.Response{Status: &control.Status{Node: "node1", Version: "0.1.0", Now: evTime, Started: evTime.Add(-time.Minute),
			Quorum: "yes (2 nodes: no majority needed)", Nodes: []control.Node{{Name: "node1", Status: "active", Local: true}}}}
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var streams atomic.Int32
	srv.Stream("events", func(r control.Request, send func(any) error, done <-chan struct{}) {
		if streams.Add(1) == 1 && cut {
			send(control.Response{Error: "events: this reader reader fell behind: more than 4096 events unread: reconnect for the current state"})
			return
		}
		send(events.Event{Seq: 4, Time: evTime, Origin: "node1", Kind: events.Node, Subject: "node2", Node: "node2", State: "active", Replay: true})
		send(events.Event{Seq: 4, Time: evTime, Origin: "node1", Kind: events.Group, Subject: "IPaddr2::198.18.0.10", Node: "node1", State: "running", Replay: true})
		time.Sleep(50 * time.Millisecond)
		send(events.Event{Seq: 5, Time: evTime.Add(time.Second), Origin: "node1", Kind: events.Node, Subject: "node2", Node: "node2", State: "dead", Was: "active", Reason: "no heartbeat for 400ms"})
		select {
		case <-done:
		case <-time.After(150 * time.Millisecond):
		}
	})
	return sock
}

func runCtx(ctx context.Context, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(ctx, args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestEventsCommand(t *testing.T) {
	sock := eventServer(t, true)
	out, errOut, code := run(t, "lubdub", "events", "--socket", sock)
	want := "2026-03-01 10:00:00.000      4 node     node2: active (now)\n" +
		"2026-03-01 10:00:00.000      4 group    IPaddr2::198.18.0.10 on node1: running (now)\n" +
		"2026-03-01 10:00:01.000      5 node     node2: dead (was active; no heartbeat for 400ms)\n"
	if code != 1 || out != want || !strings.Contains(errOut, "reader fell behind") || !strings.Contains(errOut, "reconnecting") || !strings.HasSuffix(errOut, "lubdub events: the daemon stopped\n") {
		t.Fatalf("exit %d, out:\n%s\nwant:\n%s\nerr:\n%s", code, out, want, errOut)
	}
	out, _, _ = run(t, "lubdub", "events", "--json", "--socket", sock)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"seq":4,"generation":0,"time":"2026-03-01T10:00:00Z","origin":"node1","kind":"node","subject":"node2","node":"node2","state":"active","replay":true}`) {
		t.Fatalf("--json:\n%s", out)
	}
	for _, l := range lines {
		if _, err := events.Decode([]byte(l)); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	if _, errOut, code := run(t, "lubdub", "events", "--socket", filepath.Join(t.TempDir(), "none")); code != 3 || !strings.Contains(errOut, "lubdub is not running") {
		t.Fatalf("no daemon: exit %d, %s", code, errOut)
	}
	if _, _, code := run(t, "lubdub", "events", "now"); code != 2 {
		t.Fatalf("an argument: exit %d", code)
	}
}

// lubdub status --watch redraws at each event and each interval, shows the
// recent events, and survives the daemon's absence.
func TestStatusWatch(t *testing.T) {
	sock := eventServer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out, errOut, code := runCtx(ctx, "lubdub", "status", "--watch", "--interval", "200ms", "--socket", sock)
	frames := strings.Split(out, clearScreen)[1:]
	if code != 0 || len(frames) < 4 || errOut != "" {
		t.Fatalf("exit %d, %d frames, stderr %q:\n%q", code, len(frames), errOut, out)
	}
	for _, f := range frames {
		if !strings.HasPrefix(f, "lubdub status --watch: redrawn at every event and every 200ms") || !strings.Contains(f, "lubdub 0.1.0 on node1, generation 0, up 1m0s") {
			t.Fatalf("frame:\n%s", f)
		}
	}
	last := frames[len(frames)-1]
	if !strings.Contains(last, "recent events (lubdub events follows them all):\n  2026-03-01 10:00:01.000      5 node     node2: dead (was active; no heartbeat for 400ms)\n") || strings.Contains(last, "(now)") {
		t.Fatalf("last frame lacks the live event, or shows the replay:\n%s", last)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	out, _, code = runCtx(ctx, "lubdub", "status", "--watch", "--interval", "100ms", "--socket", filepath.Join(t.TempDir(), "none"))
	if frames := strings.Split(out, clearScreen)[1:]; code != 0 || len(frames) < 3 || !strings.Contains(frames[0], "lubdub is not running") || !strings.Contains(frames[0], "asking again every 100ms") {
		t.Fatalf("without a daemon: exit %d:\n%s", code, out)
	}
	for _, bad := range [][]string{{"--watch", "--json"}, {"--watch", "--interval", "10ms"}, {"extra"}} {
		if _, _, code := run(t, append([]string{"lubdub", "status"}, bad...)...); code != 2 {
			t.Errorf("status %v: exit %d, want 2", bad, code)
		}
	}
}

// A live view that cannot write (its terminal is gone) stops.
func TestStatusWatchStopsWhenOutputFails(t *testing.T) {
	sock := eventServer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var errb bytes.Buffer
	start := time.Now()
	if code := Run(ctx, []string{"lubdub", "status", "--watch", "--socket", sock}, failWriter{}, &errb); code != 1 || time.Since(start) > time.Second {
		t.Fatalf("exit %d after %v", code, time.Since(start))
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, context.Canceled }

// lubdub check names a notify hook that would never run at its line, and
// lists the programs it would run.
func TestCheckNotifyPrograms(t *testing.T) {
	dir := seedDir(t)
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10\n"), 0o600)
	hook := filepath.Join(dir, "hook.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "lubdub.cf"), []byte("# events\nnotify "+hook+"\nalert /usr/bin/true /var/log/x\nnotify_timeout 5s\n"), 0o600)
	_, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server")
	if code != 1 || !strings.Contains(errOut, filepath.Join(dir, "lubdub.cf")+":2: notify "+hook+": is not executable by its owner (mode 0644; chmod +x it): it would never run\n") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	os.Chmod(hook, 0o755)
	out, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server")
	if code != 0 || !strings.Contains(out, "notification (each program runs once per event, in order, killed after 5s):\n  notify "+hook+" EVENT SUBJECT NODE STATE\n  alert agent /usr/bin/true, recipient /var/log/x (node, fencing and resource alerts)\n") {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
}
