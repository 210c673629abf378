package resource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
)

func mustResource(t *testing.T, spec string) haconf.Resource {
	t.Helper()
	r, err := haconf.ParseResource(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var quick = haconf.Tuning{StartTimeout: 2 * time.Second, StopTimeout: 2 * time.Second, MonitorTimeout: 500 * time.Millisecond, StopRetries: 0}

// The monitor checks every resource of a running group: all running is
// fine; one that stopped fails the group, naming it; a status that hangs
// is cut off at monitor_timeout and fails it too.
func TestMonitor(t *testing.T) {
	dir := t.TempDir()
	hang := filepath.Join(dir, "hang")
	env := testEnv(t, map[string]string{
		"ha.d/resource.d/svc":  stateScript,
		"ha.d/resource.d/slow": "#!/bin/sh\n[ \"$1\" = status ] && [ -e " + hang + " ] && sleep 30\n[ \"$1\" = status ] && echo running\nexit 0\n",
	})
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	groups := []haconf.Group{{Node: "n1", Resources: []haconf.Resource{mustResource(t, "svc::"+one), mustResource(t, "svc::"+two), mustResource(t, "slow")}}}
	results := make(chan Result, 1)
	x := NewExecutor(groups, env, quick, results)
	do := func(op Op) Result {
		x.Run(0, op)
		select {
		case r := <-results:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not end", op)
			return Result{}
		}
	}
	if r := do(Start); !r.OK {
		t.Fatal(r.Err)
	}
	if r := do(Monitor); !r.OK {
		t.Fatalf("monitor of a running group: %v", r.Err)
	}
	os.Remove(two)
	r := do(Monitor)
	if r.OK || !strings.Contains(r.Err.Error(), "svc::"+two+" is not running") {
		t.Fatalf("monitor with svc::%s stopped: %+v", two, r)
	}
	os.WriteFile(two, nil, 0o644)
	os.WriteFile(hang, nil, 0o644)
	start := time.Now()
	r = do(Monitor)
	if r.OK || !strings.Contains(r.Err.Error(), "monitoring slow") || !strings.Contains(r.Err.Error(), "timed out") {
		t.Fatalf("monitor with a hanging status: %+v", r)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a hanging status held the monitor %v (monitor_timeout %v)", took, quick.MonitorTimeout)
	}
	x.Wait()
}

// At start-up a group counts as running if any of its resources runs, so
// that the daemon stops what an earlier life left behind.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(t, map[string]string{"ha.d/resource.d/svc": stateScript})
	on := filepath.Join(dir, "on")
	os.WriteFile(on, nil, 0o644)
	groups := []haconf.Group{
		{Node: "n1", Resources: []haconf.Resource{mustResource(t, "svc::"+filepath.Join(dir, "off1")), mustResource(t, "svc::"+on)}},
		{Node: "n1", Resources: []haconf.Resource{mustResource(t, "svc::"+filepath.Join(dir, "off2"))}},
	}
	x := NewExecutor(groups, env, quick, make(chan Result, 1))
	if got := x.Probe(); len(got) != 2 || !got[0] || got[1] {
		t.Fatalf("probe %v, want [true false]", got)
	}
}

// A group with a resource that cannot run here (its script missing) fails
// to start here, saying why, so that another node takes it; the other
// groups are not affected.
func TestGroupWithMissingScriptFailsToStart(t *testing.T) {
	env := testEnv(t, map[string]string{"ha.d/resource.d/svc": stateScript})
	groups := []haconf.Group{
		{Node: "n1", Resources: []haconf.Resource{mustResource(t, "svc::"+filepath.Join(t.TempDir(), "s")), mustResource(t, "nosuchscript")}},
		{Node: "n1", Resources: []haconf.Resource{mustResource(t, "svc::"+filepath.Join(t.TempDir(), "s"))}},
	}
	results := make(chan Result, 1)
	x := NewExecutor(groups, env, quick, results)
	x.Run(0, Start)
	if r := <-results; r.OK || !strings.Contains(r.Err.Error(), "no script nosuchscript") {
		t.Fatalf("start of the group with a missing script: %+v", r)
	}
	x.Run(1, Start)
	if r := <-results; !r.OK {
		t.Fatalf("the other group: %v", r.Err)
	}
}

// A stop that keeps failing and a status that cannot say (it hangs) leave
// the group's stop failed: it may still run.
func TestFailedStopWithFailingStatus(t *testing.T) {
	env := testEnv(t, map[string]string{"ha.d/resource.d/bad": "#!/bin/sh\ncase \"$1\" in stop) exit 1;; status) sleep 30;; esac\nexit 0\n"})
	results := make(chan Result, 1)
	x := NewExecutor([]haconf.Group{{Node: "n1", Resources: []haconf.Resource{mustResource(t, "bad")}}}, env, quick, results)
	x.Run(0, Stop)
	r := <-results
	if r.OK || !strings.Contains(r.Err.Error(), "bad stop exited with 1") || !strings.Contains(r.Err.Error(), "status after it") {
		t.Fatalf("stop: %+v", r)
	}
}

// OCF agents: monitor's exit code decides (0 running, 7 stopped, anything
// else an error named as the OCF spec names it), and failed actions say
// what their code means.
func TestOCFExitCodes(t *testing.T) {
	env := testEnv(t, map[string]string{"ocf/resource.d/test/Coded": `#!/bin/sh
exit "$OCF_RESKEY_code"
`})
	for _, c := range []struct {
		code    string
		running bool
		err     string
	}{
		{"0", true, ""},
		{"7", false, ""},
		{"1", false, "monitor exited with 1 (generic error)"},
		{"5", false, "monitor exited with 5 (not installed)"},
		{"42", false, "monitor exited with 42 (unknown)"},
	} {
		a, err := New(mustResource(t, "ocf:test:Coded::code="+c.code), env)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := a.Running(context.Background())
		if ok != c.running || (c.err == "" && err != nil) || (c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err))) {
			t.Errorf("monitor exiting %s: running=%v err=%v, want running=%v err %q", c.code, ok, err, c.running, c.err)
		}
	}
	a, _ := New(mustResource(t, "ocf:test:Coded::code=6"), env)
	if err := a.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "start exited with 6 (not configured)") {
		t.Errorf("start exiting 6: %v", err)
	}
	if err := a.Stop(context.Background()); err == nil || !strings.Contains(err.Error(), "stop exited with 6 (not configured)") {
		t.Errorf("stop exiting 6: %v", err)
	}
	if a.Name() != "ocf:test:Coded::code=6" {
		t.Errorf("name %q", a.Name())
	}
	if _, err := New(mustResource(t, "ocf:test:Missing"), env); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing agent: %v", err)
	}
}
