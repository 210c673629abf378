package resource

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/testkit"
)

// TestStatusByOutput checks testdata/status-by-output.txt: a script's
// status is judged by its output alone, as ResourceManager does.
func TestStatusByOutput(t *testing.T) {
	b, err := os.ReadFile("testdata/status-by-output.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		want, out, ok := strings.Cut(l, "\t")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		n++
		out = strings.ReplaceAll(out, `\n`, "\n")
		if got := statusRunning(out); got != (want == "running") {
			t.Errorf("status output %q: running=%v, want %s", out, got, want)
		}
	}
	if n < 10 {
		t.Fatalf("only %d cases read", n)
	}
}

// testEnv makes a config directory with resource.d scripts, an init.d and
// an OCF root.
func testEnv(t *testing.T, scripts map[string]string) Env {
	dir := t.TempDir()
	for path, body := range scripts {
		p := filepath.Join(dir, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Env{ConfigDir: filepath.Join(dir, "ha.d"), InitDir: filepath.Join(dir, "init.d"), OCFRoot: filepath.Join(dir, "ocf"), Log: slog.New(slog.DiscardHandler)}
}

// A Heartbeat-style script keeps its state in a file named by its argument.
const stateScript = `#!/bin/sh
f="$1"; op="$2"
case "$op" in
start) echo started > "$f" ;;
stop) rm -f "$f" ;;
status) if [ -e "$f" ]; then echo "running"; else echo "stopped"; fi ;;
esac
`

func TestScriptAgentLifecycle(t *testing.T) {
	env := testEnv(t, map[string]string{"ha.d/resource.d/svc": stateScript})
	lifecycle(t, "svc::"+filepath.Join(t.TempDir(), "svc.state"), env)
}

// lifecycle creates the agent for a resource and takes it through
// status, start, status, stop, status.
func lifecycle(t *testing.T, spec string, env Env) {
	t.Helper()
	res, err := haconf.ParseResource(spec)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(res, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if ok, err := a.Running(ctx); ok || err != nil {
		t.Fatalf("status before start: running=%v err=%v", ok, err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Running(ctx); !ok || err != nil {
		t.Fatalf("status after start: running=%v err=%v", ok, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Running(ctx); ok {
		t.Fatal("running after stop")
	}
}

func TestInitScriptFoundAfterResourceD(t *testing.T) {
	env := testEnv(t, map[string]string{"init.d/httpd": "#!/bin/sh\n[ \"$1\" = status ] && exit 3\nexit 0\n"})
	res, _ := haconf.ParseResource("httpd")
	a, err := New(res, env)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Running(context.Background()); ok {
		t.Fatal("a status that prints nothing must mean stopped")
	}
	if _, err := New(haconf.Resource{Type: "nosuch", Raw: "nosuch"}, env); err == nil || !strings.Contains(err.Error(), "no script nosuch") {
		t.Fatalf("missing script: %v", err)
	}
}

// A script that hangs is cut off at the timeout, with what it started.
func TestHangingScriptIsKilled(t *testing.T) {
	startsProcesses(t, func() {
		pids := recordedPids(t)
		env := testEnv(t, map[string]string{"ha.d/resource.d/hang": "#!/bin/sh\necho $$ >> " + pids + "\nsleep 600 &\necho $! >> " + pids + "\nexec sleep 600\n"})
		res, _ := haconf.ParseResource("hang")
		a, _ := New(res, env)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := a.Start(ctx)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want timeout", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("start returned after %v", took)
		}
	})
}

func TestOCFAgent(t *testing.T) {
	env := testEnv(t, map[string]string{"ocf/resource.d/test/Dummy": `#!/bin/sh
case "$1" in
start) touch "$OCF_RESKEY_state"; exit 0 ;;
stop) rm -f "$OCF_RESKEY_state"; exit 0 ;;
monitor) [ -e "$OCF_RESKEY_state" ] && exit 0; exit 7 ;;
esac
exit 3
`})
	lifecycle(t, "ocf:test:Dummy::state="+filepath.Join(t.TempDir(), "dummy"), env)
}

// TestExecutorLikeResourceManager runs groups of real scripts through the
// executor and checks the calls against what Heartbeat's ResourceManager
// makes: status before each start (a running resource is not started
// again), stops right to left trusted when they exit 0, a failed stop
// retried StopRetries times and then judged by status.
func TestExecutorLikeResourceManager(t *testing.T) {
	defer func(p time.Duration) { stopRetryPause = p }(stopRetryPause)
	stopRetryPause = 10 * time.Millisecond
	log := filepath.Join(t.TempDir(), "order")
	script := "#!/bin/sh\necho \"$1 $2\" >> " + log + "\n" + `case "$2" in status) [ "$1" = two ] && echo running;; esac` + "\n"
	stuck := "#!/bin/sh\necho \"stuck $1\" >> " + log + "\ncase \"$1\" in status) echo running;; stop) exit 1;; esac\nexit 0\n"
	nonLSB := "#!/bin/sh\necho \"nonlsb $1\" >> " + log + "\ncase \"$1\" in stop) exit 1;; esac\nexit 0\n"
	env := testEnv(t, map[string]string{"ha.d/resource.d/a": script, "ha.d/resource.d/stuck": stuck, "ha.d/resource.d/nonlsb": nonLSB})
	res := func(spec string) haconf.Resource {
		r, err := haconf.ParseResource(spec)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	groups := []haconf.Group{
		{Node: "n1", Resources: []haconf.Resource{res("a::one"), res("a::two")}},
		{Node: "n1", Resources: []haconf.Resource{res("stuck")}},
		{Node: "n1", Resources: []haconf.Resource{res("nonlsb")}},
	}
	results := make(chan Result, 4)
	x := NewExecutor(groups, env, haconf.Tuning{StartTimeout: time.Second, StopTimeout: time.Second, MonitorTimeout: time.Second, StopRetries: 2}, results)
	calls := func() string {
		b, _ := os.ReadFile(log)
		os.Remove(log)
		return strings.Join(strings.Fields(string(b)), " ")
	}
	do := func(g int, op Op) Result {
		x.Run(g, op)
		return <-results
	}
	if r := do(0, Start); !r.OK {
		t.Fatal(r.Err)
	}
	// "two" says it runs: ResourceManager does not start it again. Then
	// lubdub looks once whether each can be monitored.
	if got, want := calls(), "one status one start two status one status two status"; got != want {
		t.Errorf("start calls: %s\nwant         %s", got, want)
	}
	if r := do(0, Stop); !r.OK {
		t.Fatal(r.Err)
	}
	if got, want := calls(), "two stop one stop"; got != want {
		t.Errorf("stop calls: %s\nwant        %s", got, want)
	}
	r := do(1, Stop)
	if r.OK || !strings.Contains(r.Err.Error(), "stuck still runs") {
		t.Fatalf("stop of a resource that keeps running: %+v", r)
	}
	if got, want := calls(), "stuck stop stuck stop stuck stop stuck status"; got != want {
		t.Errorf("failed stop calls: %s\nwant               %s", got, want)
	}
	if r := do(2, Stop); !r.OK {
		t.Fatalf("a failing stop of a stopped resource (not LSB-compliant) must count as stopped: %v", r.Err)
	}
}

// Field case 1 of issue 12: a script whose every action exits 0 and
// prints nothing is started, not monitored, stopped, and never blocks.
func TestSilentScript(t *testing.T) {
	body, err := os.ReadFile("testdata/scripts/floatip")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "calls")
	t.Setenv("FLOATIP_LOG", log)
	env := testEnv(t, map[string]string{"ha.d/resource.d/floatip": string(body)})
	results := make(chan Result, 1)
	x := NewExecutor([]haconf.Group{{Node: "node1", Resources: []haconf.Resource{{Type: "floatip", Raw: "floatip"}}}}, env,
		haconf.Tuning{StartTimeout: time.Second, StopTimeout: time.Second, MonitorTimeout: time.Second, StopRetries: 10}, results)
	if running := x.Probe(); running[0] {
		t.Fatal("at start-up the silent script counts as running, so lubdub would stop it and block")
	}
	for _, op := range []Op{Start, Monitor, Stop} {
		x.Run(0, op)
		if r := <-results; !r.OK {
			t.Fatalf("%s: %v", op, r.Err)
		}
	}
	b, _ := os.ReadFile(log)
	if got, want := strings.Join(strings.Fields(string(b)), " "), "status status start status stop"; got != want {
		t.Errorf("calls: %s, want %s (no monitoring status, no status after a stop that exited 0)", got, want)
	}
}

// TestFilesystemOnTmpfs mounts a tmpfs, so its teardown does not depend
// on its success: it runs isolated (testkit.Isolated: its mounts stay in a
// mount namespace that ends with its process, whatever ends it), the
// unmount is registered before the mount, lazy if it must be, and every
// step is bounded by the test's deadline so that it fails (and cleans up)
// before go test's -timeout would kill it. TestFilesystemTeardownOnFailure
// fails it on purpose to show that.
func TestFilesystemOnTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	testkit.Isolated(t, func() { filesystemOnTmpfs(t) })
}

func filesystemOnTmpfs(t *testing.T) {
	if ns, err := os.Readlink("/proc/self/ns/mnt"); err == nil {
		t.Logf("mount namespace %s", ns)
	}
	dir := os.Getenv(mountpointEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	res, _ := haconf.ParseResource("Filesystem::lubdubtest::" + dir + "::tmpfs::size=1m,nosuid")
	a, err := New(res, Env{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
		t.Cleanup(cancel)
	}
	t.Cleanup(func() { unmountForTest(t, dir) })
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	failHere(t, "mounted")
	if ok, _ := a.Running(ctx); !ok {
		t.Fatal("not mounted after start")
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("second start must be a no-op: %v", err)
	}
	f, err := os.Create(filepath.Join(dir, "busy"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	t.Chdir(dir) // keeps the mount busy; the old directory comes back at cleanup
	failHere(t, "busy")
	fs := a.(*filesystem)
	fs.retries = 1
	err = a.Stop(ctx)
	os.Chdir("/")
	f.Close()
	// One retry allowed: two tries, 500 ms apart, then the error.
	if err == nil || !strings.Contains(err.Error(), "device or resource busy") || !strings.Contains(err.Error(), "(after 2 tries)") {
		t.Fatalf("stop of a busy filesystem: %v", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Running(ctx); ok {
		t.Fatal("still mounted after stop")
	}
}

// Debian's resource-agents (a dependency of the heartbeat package, which
// CI installs): the real ocf:heartbeat:Dummy runs through the OCF agent.
func TestDebianDummyAgent(t *testing.T) {
	const root = "/usr/lib/ocf"
	if _, err := os.Stat(filepath.Join(root, "resource.d/heartbeat/Dummy")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("resource-agents is not installed: %v", err)
		}
		t.Skip("resource-agents is not installed")
	}
	state := filepath.Join(t.TempDir(), "dummy.state")
	lifecycle(t, "ocf:heartbeat:Dummy::state="+state, Env{OCFRoot: root, Log: slog.New(slog.DiscardHandler)})
}
