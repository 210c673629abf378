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
)

func TestStatusLikeHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		code int
		out  string
		want bool
	}{
		{0, "httpd (pid 123) is running...", true},
		{0, "Status: OK", true},
		{3, "httpd is stopped", false},
		{0, "httpd is not running", false},
		{1, "smbd dead but pid file exists", false},
		{0, "", true},
		{3, "", false},
		{1, "", false},
	} {
		if got := statusRunning(tc.code, tc.out); got != tc.want {
			t.Errorf("status exit %d %q: running=%v, want %v", tc.code, tc.out, got, tc.want)
		}
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
		t.Fatal("LSB exit code 3 must mean stopped")
	}
	if _, err := New(haconf.Resource{Type: "nosuch", Raw: "nosuch"}, env); err == nil || !strings.Contains(err.Error(), "no script nosuch") {
		t.Fatalf("missing script: %v", err)
	}
}

// A script that hangs is cut off at the timeout, with what it started.
func TestHangingScriptIsKilled(t *testing.T) {
	env := testEnv(t, map[string]string{"ha.d/resource.d/hang": "#!/bin/sh\nsleep 600 &\nsleep 600\n"})
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

func TestExecutorGroupOrderAndFailedStop(t *testing.T) {
	log := filepath.Join(t.TempDir(), "order")
	script := "#!/bin/sh\necho \"$1 $2\" >> " + log + "\n" + `case "$2" in status) exit 3;; esac` + "\n"
	stuck := "#!/bin/sh\ncase \"$1\" in status) echo running;; esac\nexit 0\n"
	env := testEnv(t, map[string]string{"ha.d/resource.d/a": script, "ha.d/resource.d/stuck": stuck})
	g := haconf.Group{Node: "n1", Resources: []haconf.Resource{{Type: "a", Args: []string{"one"}, Raw: "a::one"}, {Type: "a", Args: []string{"two"}, Raw: "a::two"}}}
	results := make(chan Result, 4)
	x := NewExecutor([]haconf.Group{g, {Node: "n1", Resources: []haconf.Resource{{Type: "stuck", Raw: "stuck"}}}},
		env, haconf.Tuning{StartTimeout: time.Second, StopTimeout: time.Second, MonitorTimeout: time.Second}, results)
	x.Run(0, Start)
	if r := <-results; !r.OK {
		t.Fatal(r.Err)
	}
	x.Run(0, Stop)
	if r := <-results; !r.OK {
		t.Fatal(r.Err)
	}
	b, _ := os.ReadFile(log)
	got := strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
	want := "one start two start two stop two status one stop one status"
	if strings.Join(got, " ") != want {
		t.Fatalf("order: %s\nwant   %s", strings.Join(got, " "), want)
	}
	x.Run(1, Stop)
	r := <-results
	if r.OK || !strings.Contains(r.Err.Error(), "still runs after its stop") {
		t.Fatalf("stop of a resource that keeps running: %+v", r)
	}
}

func TestFilesystemOnTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := t.TempDir()
	res, _ := haconf.ParseResource("Filesystem::lubdubtest::" + dir + "::tmpfs::size=1m,nosuid")
	a, err := New(res, Env{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(ctx) })
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
	os.Chdir(dir) // keeps the mount busy
	fs := a.(*filesystem)
	fs.retries = 1
	err = a.Stop(ctx)
	os.Chdir("/")
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "device or resource busy") {
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
