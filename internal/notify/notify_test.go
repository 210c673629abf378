package notify

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/haconf"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)

func groupEvent(seq uint64, state, was string, op *events.OpResult) events.Event {
	return events.Event{Seq: seq, Generation: 9, Time: t0, Origin: "node2", Kind: events.Group,
		Subject: "IPaddr2::198.18.0.10/24/eth0", Node: "node2", State: state, Was: was, Reason: "node node1 is dead", Op: op}
}

func TestHookCall(t *testing.T) {
	args, env := HookCall(groupEvent(12, "running", "starting", &events.OpResult{Name: "start", TookMS: 40}))
	if want := []string{"group", "IPaddr2::198.18.0.10/24/eth0", "node2", "running"}; !reflect.DeepEqual(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
	want := []string{"LUBDUB_EVENT=group", "LUBDUB_SUBJECT=IPaddr2::198.18.0.10/24/eth0", "LUBDUB_NODE=node2",
		"LUBDUB_STATE=running", "LUBDUB_WAS=starting", "LUBDUB_REASON=node node1 is dead", "LUBDUB_SEQ=12",
		"LUBDUB_GENERATION=9", "LUBDUB_TIME=2026-03-01T10:00:00.123456789Z", "LUBDUB_ORIGIN=node2",
		"LUBDUB_OP=start", "LUBDUB_RC=0", "LUBDUB_OP_MS=40"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env\n%q\nwant\n%q", env, want)
	}
	_, env = HookCall(events.Event{Seq: 1, Kind: events.Node, Subject: "node1", Node: "node1", State: "dead"})
	for _, v := range env {
		if strings.HasPrefix(v, "LUBDUB_OP") || strings.HasPrefix(v, "LUBDUB_RC") {
			t.Errorf("a node event has %s", v)
		}
	}
}

// The alerts Pacemaker would send, per event, and the variables of each.
func TestAlertFor(t *testing.T) {
	nodes := []string{"node1", "node2"}
	node := func(n, state, was string) events.Event {
		return events.Event{Seq: 4, Origin: "node2", Kind: events.Node, Subject: n, Node: n, State: state, Was: was}
	}
	for _, c := range []struct {
		e    events.Event
		kind string
		vars [][2]string
	}{
		{node("node1", "up", "init"), "node", [][2]string{{"node", "node1"}, {"desc", "member"}, {"nodeid", "1"}}},
		{node("node1", "active", "up"), "", nil},
		{node("node1", "up", "dead"), "node", [][2]string{{"node", "node1"}, {"desc", "member"}, {"nodeid", "1"}}},
		{node("node1", "dead", "active"), "node", [][2]string{{"node", "node1"}, {"desc", "lost"}, {"nodeid", "1"}}},
		{node("node1", "left", "active"), "node", [][2]string{{"node", "node1"}, {"desc", "lost"}, {"nodeid", "1"}}},
		{node("node1", "dead", "init"), "", nil},
		{node("node1", "restarted", ""), "", nil},
		{node("node2", "up", "init"), "node", [][2]string{{"node", "node2"}, {"desc", "member"}, {"nodeid", "2"}}},
		{node("node2", "left", "active"), "", nil}, // this node stopping
		{events.Event{Seq: 5, Generation: 9, Origin: "node2", Kind: events.Fencing, Subject: "node1", Node: "node1", State: "fenced", Reason: "fence_ipmilan: OK"},
			"fencing", [][2]string{{"node", "node1"}, {"task", "reboot"}, {"desc", "Operation reboot of node1 by node2 for lubdub@node2: OK (ref=lubdub-9-5)"}, {"rc", "0"}}},
		{events.Event{Seq: 6, Generation: 9, Origin: "node2", Kind: events.Fencing, Subject: "node1", Node: "node1", State: "failed", Reason: "ipmi: connection refused"},
			"fencing", [][2]string{{"node", "node1"}, {"task", "reboot"}, {"desc", "Operation reboot of node1 by node2 for lubdub@node2: Error (ipmi: connection refused) (ref=lubdub-9-6)"}, {"rc", "-61"}}},
		{events.Event{Seq: 7, Kind: events.Fencing, Subject: "node1", Node: "node1", State: "pending"}, "", nil},
		{groupEvent(8, "running", "starting", &events.OpResult{Name: "start", TookMS: 40}), "resource", [][2]string{
			{"node", "node2"}, {"rsc", "IPaddr2::198.18.0.10/24/eth0"}, {"task", "start"}, {"interval", "0"}, {"target_rc", "0"},
			{"status", "0"}, {"rc", "0"}, {"exec_time", "40"}, {"desc", "ok"}}},
		{groupEvent(9, "stopping", "starting", &events.OpResult{Name: "start", RC: 1, TimedOut: true, TookMS: 5000}), "resource", [][2]string{
			{"node", "node2"}, {"rsc", "IPaddr2::198.18.0.10/24/eth0"}, {"task", "start"}, {"interval", "0"}, {"target_rc", "0"},
			{"status", "2"}, {"rc", "1"}, {"exec_time", "5000"}, {"desc", "Timed Out"}}},
		{groupEvent(10, "stopping", "running", &events.OpResult{Name: "monitor", RC: 7, TookMS: 3, IntervalMS: 500}), "resource", [][2]string{
			{"node", "node2"}, {"rsc", "IPaddr2::198.18.0.10/24/eth0"}, {"task", "monitor"}, {"interval", "500"}, {"target_rc", "0"},
			{"status", "0"}, {"rc", "7"}, {"exec_time", "3"}, {"desc", "not running"}}},
		{groupEvent(11, "starting", "stopped", nil), "", nil},
		{events.Event{Seq: 12, Kind: events.Link, Subject: "eth0", Node: "node1", State: "dead"}, "", nil},
		{events.Event{Seq: 13, Kind: events.Quorum, Subject: "linux-ha", Node: "node2", State: "inquorate"}, "", nil},
		{events.Event{Seq: 14, Kind: events.Standby, Subject: "all", Node: "node2", State: "requested"}, "", nil},
		{events.Event{Seq: 15, Kind: events.Config, Subject: "/etc/ha.d", Node: "node2", State: "reloaded"}, "", nil},
	} {
		a, ok := AlertFor(c.e, nodes)
		if ok != (c.kind != "") || a.Kind != c.kind || !reflect.DeepEqual(a.Vars, c.vars) {
			t.Errorf("%s %s %s (was %s): got %v %q %q, want %q %q", c.e.Kind, c.e.Subject, c.e.State, c.e.Was, ok, a.Kind, a.Vars, c.kind, c.vars)
		}
		c.e.Replay = true
		if _, ok := AlertFor(c.e, nodes); ok {
			t.Errorf("an alert for the current state sent to a reader: %+v", c.e)
		}
	}
}

func TestAlertEnv(t *testing.T) {
	time.Local = time.UTC
	e := events.Event{Seq: 4, Time: t0, Origin: "node2", Kind: events.Node, Subject: "node1", Node: "node1", State: "dead", Was: "active"}
	a, _ := AlertFor(e, []string{"node1", "node2"})
	env := AlertEnv(a, e, "/var/log/alerts.log", 17)
	want := []string{}
	for _, kv := range [][2]string{{"node", "node1"}, {"desc", "lost"}, {"nodeid", "1"}, {"kind", "node"}, {"version", "2.1.5"},
		{"recipient", "/var/log/alerts.log"}, {"timestamp", "10:00:00.123456"}, {"timestamp_epoch", strconv.FormatInt(t0.Unix(), 10)},
		{"timestamp_usec", "123456"}, {"node_sequence", "17"}} {
		want = append(want, "CRM_notify_"+kv[0]+"="+kv[1], "CRM_alert_"+kv[0]+"="+kv[1])
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env\n%q\nwant\n%q", env, want)
	}
}

// syncBuffer is a log sink shared by the runner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Every event reaches the hook once, in order, with its argv and
// environment; Close waits for the queue.
func TestRunnerRunsHooksInOrder(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hook := script(t, dir, "hook", `echo "$# $1|$2|$3|$4 seq=$LUBDUB_SEQ was=$LUBDUB_WAS v=$LUBDUB_VERSION" >> `+out+"\n")
	var logs syncBuffer
	r := Start(Config{Hooks: []haconf.NotifyHook{{Path: hook}}, Timeout: 5 * time.Second, Version: "0.1.0"}, slog.New(slog.NewTextHandler(&logs, nil)))
	var want []string
	for i := uint64(1); i <= 30; i++ {
		r.Event(groupEvent(i, "running", "starting", nil))
		want = append(want, fmt.Sprintf("4 group|IPaddr2::198.18.0.10/24/eth0|node2|running seq=%d was=starting v=0.1.0", i))
	}
	r.Event(events.Event{Seq: 31, Replay: true, Kind: events.Node, Subject: "x", Node: "x", State: "up"})
	r.Close(10 * time.Second)
	if got := readLines(out); !reflect.DeepEqual(got, want) {
		t.Fatalf("hook saw\n%s\nwant\n%s\nlog:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), logs.String())
	}
}

// A hook that hangs is killed at the timeout with everything it started;
// giving it events never waits; the next event runs it again.
func TestRunnerKillsHangingHook(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	hook := script(t, dir, "hook", `sleep 60 & echo $! >> `+pids+"\n"+`echo "$$" >> `+pids+"\nexec sleep 60\n")
	var logs syncBuffer
	r := Start(Config{Hooks: []haconf.NotifyHook{{Path: hook}}, Timeout: 300 * time.Millisecond}, slog.New(slog.NewTextHandler(&logs, nil)))
	defer r.Close(time.Second)
	start := time.Now()
	for i := uint64(1); i <= 3; i++ {
		r.Event(groupEvent(i, "running", "starting", nil))
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("giving three events to a hanging hook took %v", d)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(readLines(pids)); n != 2 {
		t.Fatalf("after 200ms: %d pids written, want the first run's 2", n)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(readLines(pids)) < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(readLines(pids)); n != 6 {
		t.Fatalf("%d pids: the hook did not run once per event", n)
	}
	time.Sleep(500 * time.Millisecond) // the third run's timeout
	for _, p := range readLines(pids) {
		pid, _ := strconv.Atoi(p)
		if syscall.Kill(pid, 0) == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z") {
				t.Errorf("process %d of the hook still runs", pid)
			}
		}
	}
	if got := strings.Count(logs.String(), "ran longer than notify_timeout (300ms) for event"); got != 3 {
		t.Errorf("%d timeouts logged, want 3:\n%s", got, logs.String())
	}
}

// A program that falls a whole queue behind loses the oldest events, and
// says so; the newest still reach it.
func TestRunnerDropsOldestWhenBehind(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hook := script(t, dir, "hook", `echo "$LUBDUB_SEQ" >> `+out+"\nsleep 0.1\n")
	var logs syncBuffer
	r := Start(Config{Hooks: []haconf.NotifyHook{{Path: hook}}, Timeout: 5 * time.Second, QueueSize: 3}, slog.New(slog.NewTextHandler(&logs, nil)))
	for i := uint64(1); i <= 10; i++ {
		r.Event(groupEvent(i, "running", "", nil))
	}
	r.Close(10 * time.Second)
	got := readLines(out)
	// The worker may have taken the first one or two before the queue
	// filled up.
	if len(got) < 3 || len(got) > 5 || got[len(got)-1] != "10" || got[len(got)-2] != "9" || got[len(got)-3] != "8" {
		t.Errorf("hook saw %v: want at most the first two, then the newest three", got)
	}
	if !strings.Contains(logs.String(), "is 3 events behind: dropping the oldest") || !strings.Contains(logs.String(), "events were not passed to it") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// Close kills what still runs after its grace.
func TestRunnerCloseKillsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	hook := script(t, dir, "hook", "exec sleep 60\n")
	var logs syncBuffer
	r := Start(Config{Hooks: []haconf.NotifyHook{{Path: hook}}, Timeout: time.Minute}, slog.New(slog.NewTextHandler(&logs, nil)))
	r.Event(groupEvent(1, "running", "", nil))
	r.Event(groupEvent(2, "running", "", nil))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	r.Close(300 * time.Millisecond)
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("Close took %v, want the grace and little more", d)
	}
	if !strings.Contains(logs.String(), "still busy after 300ms: killing them") {
		t.Errorf("log:\n%s", logs.String())
	}
}

const alertFileSample = "/usr/share/pacemaker/alerts/alert_file.sh.sample"

// Pacemaker's own file agent, as Debian ships it, writes the lines it
// writes under Pacemaker.
func TestAlertFileSample(t *testing.T) {
	if _, err := os.Stat(alertFileSample); err != nil {
		t.Skipf("%s: %v (apt-get install pacemaker-common)", alertFileSample, err)
	}
	time.Local = time.UTC
	dir := t.TempDir()
	log := filepath.Join(dir, "alerts.log")
	var logs syncBuffer
	r := Start(Config{Alerts: []haconf.AlertAgent{{Path: alertFileSample, Recipient: log}}, Nodes: []string{"node1", "node2"}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	for _, e := range []events.Event{
		{Seq: 1, Time: t0, Origin: "node2", Kind: events.Node, Subject: "node1", Node: "node1", State: "dead", Was: "active"},
		{Seq: 2, Time: t0, Origin: "node2", Kind: events.Link, Subject: "eth0", Node: "node1", State: "dead"},
		{Seq: 3, Generation: 9, Time: t0, Origin: "node2", Kind: events.Fencing, Subject: "node1", Node: "node1", State: "fenced"},
		groupEvent(4, "starting", "stopped", nil),
		groupEvent(5, "running", "starting", &events.OpResult{Name: "start", TookMS: 40}),
		groupEvent(6, "stopping", "running", &events.OpResult{Name: "monitor", RC: 7, IntervalMS: 500}),
	} {
		r.Event(e)
	}
	r.Close(10 * time.Second)
	want := []string{
		"10:00:00.123456: Node 'node1' is now 'lost'",
		"10:00:00.123456: Fencing Operation reboot of node1 by node2 for lubdub@node2: OK (ref=lubdub-9-3)",
		"10:00:00.123456: Resource operation 'start' for 'IPaddr2::198.18.0.10/24/eth0' on 'node2': ok",
		"10:00:00.123456: Resource operation 'monitor (500)' for 'IPaddr2::198.18.0.10/24/eth0' on 'node2': not running",
	}
	if got := readLines(log); !reflect.DeepEqual(got, want) {
		t.Errorf("the agent wrote\n%s\nwant\n%s\nlog:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), logs.String())
	}
}
