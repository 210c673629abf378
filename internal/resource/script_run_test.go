package resource

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/testkit"
)

// A script cut off at its timeout is killed with everything it started:
// its process group, not only the script (a daemon it forked would
// otherwise keep running while the group moves elsewhere).
func TestTimeoutKillsTheScriptsChildren(t *testing.T) {
	startsProcesses(t, func() {
		pidFile := recordedPids(t)
		env := testEnv(t, map[string]string{"ha.d/resource.d/forker": "#!/bin/sh\nsleep 600 &\necho $! >> " + pidFile + "\nwait\n"})
		a, err := New(mustResource(t, "forker"), env)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := a.Stop(ctx); !errors.Is(err, ErrTimeout) {
			t.Fatalf("stop: %v, want a timeout", err)
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if !alive(pid) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("the script's child %d still runs 2s after the timeout", pid)
	})
}

// recordedPids names a file where a test's scripts write the pids of what
// they start; whatever of it still runs when the test ends, passed or
// failed, is killed then, by pid (they are the test's own processes).
func recordedPids(t *testing.T) string {
	file := filepath.Join(t.TempDir(), "pids")
	t.Cleanup(func() {
		b, _ := os.ReadFile(file)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return file
}

// startsProcesses runs a test whose scripts start processes meant to
// outlive them: as root isolated (testkit.Isolated), so that they end with
// the test however it ends, go test's -timeout included; without root
// here, where recordedPids kills them at cleanup when the test fails.
func startsProcesses(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		testkit.Isolated(t, f)
		return
	}
	f()
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// A script's output goes to the log line by line, at most 50 lines an
// action, so that a chatty script cannot flood it.
func TestScriptOutputLoggedUpTo50Lines(t *testing.T) {
	var logs bytes.Buffer
	env := testEnv(t, map[string]string{"ha.d/resource.d/chatty": "#!/bin/sh\ni=1\nwhile [ $i -le 60 ]; do echo \"line $i\"; i=$((i+1)); done\n"})
	env.Log = slog.New(slog.NewTextHandler(&logs, nil))
	a, err := New(mustResource(t, "chatty"), env)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "chatty: line "); n != 50 {
		t.Fatalf("%d output lines logged, want 50:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "chatty: line 50") || strings.Contains(logs.String(), "chatty: line 51") {
		t.Fatal("not the first 50 lines")
	}
}

// The log says which group cannot run here and why, once, at start-up;
// a failed start, a failed stop and each retry of a stop are logged.
func TestExecutorLogs(t *testing.T) {
	defer func(p time.Duration) { stopRetryPause = p }(stopRetryPause)
	stopRetryPause = 10 * time.Millisecond
	var logs bytes.Buffer
	env := testEnv(t, map[string]string{
		"ha.d/resource.d/svc":  stateScript,
		"ha.d/resource.d/fail": "#!/bin/sh\n[ \"$1\" = status ] && echo running\nexit 1\n",
	})
	env.Log = slog.New(slog.NewTextHandler(&logs, nil))
	groups := []haconf.Group{
		{Node: "n1", Resources: []haconf.Resource{mustResource(t, "svc::"+filepath.Join(t.TempDir(), "s"))}},
		{Node: "n1", Resources: []haconf.Resource{mustResource(t, "missing")}},
		{Node: "n1", Resources: []haconf.Resource{mustResource(t, "fail")}},
	}
	results := make(chan Result, 1)
	x := NewExecutor(groups, env, haconf.Tuning{StartTimeout: time.Second, StopTimeout: time.Second, MonitorTimeout: time.Second, StopRetries: 2}, results)
	if n := strings.Count(logs.String(), "cannot run on this node"); n != 1 || !strings.Contains(logs.String(), "resource group missing cannot run on this node") {
		t.Fatalf("set-up log:\n%s", logs.String())
	}
	x.Probe()
	if strings.Contains(logs.String(), "status of svc") {
		t.Errorf("a status that answered is logged as failing:\n%s", logs.String())
	}
	x.Run(0, Start)
	<-results
	x.Run(2, Stop)
	<-results
	out := logs.String()
	for _, want := range []string{"retrying, 1 of 2", "retrying, 2 of 2", "stop of resource group fail failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "start of resource group") {
		t.Errorf("a start that succeeded is logged as failed:\n%s", out)
	}
	x.Run(0, Monitor)
	<-results
	os.Remove(groups[0].Resources[0].Args[0])
	x.Run(0, Monitor)
	if r := <-results; r.OK {
		t.Fatal("monitor of a stopped resource passed")
	}
	if strings.Contains(logs.String(), "monitor of resource group") {
		t.Errorf("a monitor failure is logged by the executor (the engine reports it):\n%s", logs.String())
	}
}
