package cli

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
)

func TestWaitOption(t *testing.T) {
	for _, c := range []struct {
		args []string
		rest []string
		wait time.Duration
		err  string
	}{
		{[]string{"all"}, []string{"all"}, 0, ""},
		{[]string{"--wait"}, nil, defaultWait, ""},
		{[]string{"--wait", "all"}, []string{"all"}, defaultWait, ""},
		{[]string{"--wait", "30", "local"}, []string{"local"}, 30 * time.Second, ""},
		{[]string{"foreign", "--wait", "2m"}, []string{"foreign"}, 2 * time.Minute, ""},
		{[]string{"--socket", "/s", "-wait=1.5"}, []string{"--socket", "/s"}, 1500 * time.Millisecond, ""},
		{[]string{"--wait=soon"}, nil, 0, "give a time"},
		{[]string{"--wait", "0"}, nil, 0, "more than 0"},
		{[]string{"--wait", "-5s"}, nil, 0, "more than 0"},
	} {
		rest, wait, err := waitOption(c.args)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: error %v, want %q", c.args, err, c.err)
		case c.err == "" && (err != nil || !slices.Equal(rest, c.rest) || wait != c.wait):
			t.Errorf("%v: %v %v %v, want %v %v", c.args, rest, wait, err, c.rest, c.wait)
		}
	}
}

func grp(id, pref, owner, local string) control.Group {
	return control.Group{ID: id, Preferred: pref, Owner: owner, Local: local}
}

// Which groups a move waits for, and when they have arrived.
func TestMoveDone(t *testing.T) {
	before := &control.Status{Node: "node1", Groups: []control.Group{
		grp("a", "node1", "node1", "running"), grp("b", "node2", "node2", "stopped"), grp("c", "node2", "node1", "running")}}
	if got := moving("standby", "all", before); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("standby all moves %v", got)
	}
	if got := moving("standby", "foreign", before); !slices.Equal(got, []string{"c"}) {
		t.Errorf("standby foreign moves %v", got)
	}
	if got := moving("takeover", "all", before); !slices.Equal(got, []string{"b"}) {
		t.Errorf("takeover all moves %v", got)
	}
	for _, c := range []struct {
		cmd     string
		g       control.Group
		pending bool
		err     string
	}{
		{"standby", grp("a", "node1", "node1", "stopping"), true, ""},
		{"standby", grp("a", "node1", "", "stopped"), true, ""},
		{"standby", grp("a", "node1", "node2", "stopped"), false, ""},
		{"standby", grp("a", "node1", "node1", "blocked"), false, "blocked"},
		{"takeover", grp("a", "node1", "node2", "starting"), true, ""},
		{"takeover", grp("a", "node1", "node1", "running"), false, ""},
		{"takeover", grp("a", "node1", "node2", "failed"), false, "failed to start here"},
	} {
		pending, err := moveDone(c.cmd, []string{"a"}, &control.Status{Node: "node1", Groups: []control.Group{c.g}})
		if (len(pending) > 0) != c.pending || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s with %+v: pending %v, err %v", c.cmd, c.g, pending, err)
		}
	}
}

// movingDaemon answers standby by moving its group through stopping to
// node2 over a few status calls, or never when stuck.
func movingDaemon(t *testing.T, stuck bool) (string, *[]string) {
	sock := filepath.Join(t.TempDir(), "lubdub.sock")
	var mu sync.Mutex
	var reqs []string
	calls, moved := 0, false
	srv, err := control.Listen(sock, func(r control.Request) control.Response {
		mu.Lock()
		defer mu.Unlock()
		reqs = append(reqs, r.Cmd+" "+r.Name)
		g := grp("web", "node1", "node1", "running")
		switch r.Cmd {
		case "standby":
			moved = true
			return control.Response{Value: "standby all: requested"}
		case "maintenance":
			return control.Response{Value: "maintenance " + r.Name}
		}
		if moved && !stuck {
			calls++
			switch {
			case calls == 1:
				g = grp("web", "node1", "", "stopping")
			case calls == 2:
				g = grp("web", "node1", "", "stopped")
			default:
				g = grp("web", "node1", "node2", "stopped")
			}
		}
		return control.Response{Status: &control.Status{Node: "node1", Groups: []control.Group{g}}}
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return sock, &reqs
}

func TestStandbyWait(t *testing.T) {
	sock, _ := movingDaemon(t, false)
	out, errOut, code := run(t, "lubdub", "standby", "--socket", sock, "--wait", "5")
	if code != 0 || !strings.Contains(out, "standby all: done in") {
		t.Errorf("standby --wait: %q %q exit %d", out, errOut, code)
	}
	sock, _ = movingDaemon(t, true)
	start := time.Now()
	out, errOut, code = run(t, "hb_standby", "--socket", sock, "all", "--wait", "300ms")
	if code != 1 || !strings.Contains(errOut, "not done after 300ms: web is running here") || time.Since(start) > 3*time.Second {
		t.Errorf("standby --wait that times out: %q %q exit %d after %v", out, errOut, code, time.Since(start))
	}
}

func TestMaintenanceCommand(t *testing.T) {
	sock, reqs := movingDaemon(t, true)
	if out, _, code := run(t, "lubdub", "maintenance", "--socket", sock, "on"); code != 0 || out != "maintenance on all\n" {
		t.Errorf("maintenance on: %q %d", out, code)
	}
	if _, _, code := run(t, "lubdub", "maintenance", "--socket", sock, "off", "web"); code != 0 || !slices.Contains(*reqs, "maintenance off web") {
		t.Errorf("maintenance off web: %d %v", code, *reqs)
	}
	for _, args := range [][]string{{}, {"maybe"}, {"on", "a", "b"}} {
		if _, errOut, code := run(t, append([]string{"lubdub", "maintenance", "--socket", sock}, args...)...); code != 2 || !strings.Contains(errOut, "say on or off") {
			t.Errorf("maintenance %v: %q %d", args, errOut, code)
		}
	}
}

// status and cl_status rscstatus -m show maintenance, fail counts and the
// last failure.
func TestStatusShowsMaintenanceAndFailures(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lubdub.sock")
	now := time.Now()
	g := grp("IPaddr2::198.18.0.10", "node1", "node1", "running")
	g.Maintenance, g.FailCount, g.Restarts = []string{"node1", "node2"}, 2, 1
	g.LastFailure = &control.Failure{At: now.Add(-20 * time.Second), Op: "monitor", Detail: "websrv is stopped"}
	st := &control.Status{Node: "node1", Now: now, Started: now, Resources: "local", FailureTimeout: "1m0s", MaxRestarts: 3, Groups: []control.Group{g}}
	srv, err := control.Listen(sock, func(control.Request) control.Response { return control.Response{Status: st} }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out, _, _ := run(t, "lubdub", "status", "--socket", sock)
	for _, want := range []string{"running (maintenance)  2", "in maintenance on node2",
		"last failure 20s ago: monitor: websrv is stopped (fail count 2, expires in 40s; 1 of 3 restarts in place used)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if out, _, code := run(t, "cl_status", "--socket", sock, "rscstatus"); out != "local\n" || code != 0 {
		t.Errorf("rscstatus: %q %d", out, code)
	}
	out, _, _ = run(t, "cl_status", "--socket", sock, "rscstatus", "-m")
	if out != "This node is holding local resources.\nIn maintenance on this node (not monitored, started, stopped or moved): IPaddr2::198.18.0.10.\n" {
		t.Errorf("rscstatus -m: %q", out)
	}
}
