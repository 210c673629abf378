package resource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/lubdub/lubdub/internal/testkit"
)

// haresources' ldirectord[::FILE] finds its file in the configuration
// directory (ldirectord.cf by default); a missing file is an error naming
// the resource, so the group cannot start here.
func TestLdirectordResourceNeedsItsFile(t *testing.T) {
	env := testEnv(t, nil)
	os.MkdirAll(env.ConfigDir, 0o755)
	for _, spec := range []string{"ldirectord", "ldirectord::web.cf"} {
		if _, err := New(mustResource(t, spec), env); err == nil || !strings.Contains(err.Error(), "resource "+spec+": reading its configuration") {
			t.Errorf("%s without its file: %v", spec, err)
		}
	}
	cf := "virtual=198.18.0.10:80\n\treal=198.18.1.2:80 masq\n\tscheduler=rr\n\tchecktype=on\n"
	if err := os.WriteFile(filepath.Join(env.ConfigDir, "web.cf"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := New(mustResource(t, "ldirectord::web.cf"), env)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "ldirectord::web.cf" {
		t.Errorf("name %q", a.Name())
	}
}

// haresources' ldirectord resource against a real kernel (nftables, in
// namespaces of the test's own): nothing runs before its start; the start
// puts the virtual services in the kernel and keeps checking; a reload
// through the executor applies a changed file and refuses a broken one,
// keeping what runs; the stop takes the services out; and a service left
// in the kernel by an earlier life counts as running, so that it gets
// stopped.
func TestLdirectordResourceInKernel(t *testing.T) {
	testkit.Isolated(t, func() {
		env := testEnv(t, nil)
		env.DataPath = "nftables"
		os.MkdirAll(env.ConfigDir, 0o755)
		file := filepath.Join(env.ConfigDir, "web.cf")
		write := func(cf string) {
			t.Helper()
			if err := os.WriteFile(file, []byte(cf), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		const one = "virtual=198.18.0.10:80\n\treal=198.18.1.2:80 masq\n\tscheduler=rr\n\tchecktype=on\n"
		write(one)
		kernel := func() string {
			t.Helper()
			dp, err := datapath.Open("nftables")
			if err != nil {
				t.Fatal(err)
			}
			defer dp.Close()
			tab, err := dp.Load(nil, false)
			if err != nil {
				t.Fatal(err)
			}
			tab.Sort()
			return tab.Save()
		}
		results := make(chan Result, 1)
		groups := []haconf.Group{{Node: "node1", Resources: []haconf.Resource{mustResource(t, "ldirectord::web.cf")}}}
		x := NewExecutor(groups, env, haconf.Tuning{StartTimeout: 10 * time.Second, StopTimeout: 10 * time.Second, MonitorTimeout: 5 * time.Second}, results)
		do := func(op Op) Result {
			t.Helper()
			x.Run(0, op)
			select {
			case r := <-results:
				return r
			case <-time.After(20 * time.Second):
				t.Fatalf("%s did not end", op)
				return Result{}
			}
		}
		if running := x.Probe(); running[0] {
			t.Fatal("running before its start")
		}
		if r := do(Start); !r.OK {
			t.Fatal(r.Err)
		}
		const oneSaved = "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 1\n"
		if got := kernel(); got != oneSaved {
			t.Fatalf("after the start the kernel holds\n%s\nwant\n%s", got, oneSaved)
		}
		if r := do(Monitor); !r.OK {
			t.Fatalf("monitor while the services run: %v", r.Err)
		}
		// A second service, then gone from the kernel behind the
		// checker's back: the monitor sees it before the checker puts it
		// back (at its next round, checkinterval later).
		write(one + "virtual=198.18.0.11:80\n\treal=198.18.1.2:80 masq\n\tchecktype=on\n")
		_, done := x.Reload(file)
		<-done
		dp, err := datapath.Open("nftables")
		if err != nil {
			t.Fatal(err)
		}
		old, _ := dp.Load(nil, false)
		less := old.Clone()
		c, _ := lvs.Parse(strings.Fields("-D -t 198.18.0.11:80"))
		if err := less.Apply(c); err != nil {
			t.Fatal(err)
		}
		if err := dp.Sync(old, less); err != nil {
			t.Fatal(err)
		}
		dp.Close()
		if r := do(Monitor); r.OK || !strings.Contains(r.Err.Error(), "is not running") {
			t.Fatalf("monitor with a service gone from the kernel: %+v", r)
		}
		write(one)
		_, done = x.Reload(file)
		<-done
		write(one + "\treal=198.18.1.3:80 masq\n")
		n, done := x.Reload(file)
		<-done
		if want := oneSaved + "-a -t 198.18.0.10:80 -r 198.18.1.3:80 -m -w 1\n"; n != 1 || kernel() != want {
			t.Fatalf("after a reload of %d agent(s) the kernel holds\n%s\nwant\n%s", n, kernel(), want)
		}
		if n, _ := x.Reload(filepath.Join(env.ConfigDir, "other.cf")); n != 0 {
			t.Errorf("a reload of another file asked %d agent(s)", n)
		}
		before := kernel()
		write("virtual=198.18.0.10:80\n\treal=198.18.1.2:80 nat\n")
		_, done = x.Reload("")
		<-done
		if got := kernel(); got != before {
			t.Fatalf("a broken file changed the kernel to\n%s", got)
		}
		if r := do(Stop); !r.OK {
			t.Fatal(r.Err)
		}
		if got := kernel(); got != "" {
			t.Fatalf("after the stop the kernel holds\n%s", got)
		}
		if running := x.Probe(); running[0] {
			t.Fatal("running after its stop")
		}
		// A service an earlier life left behind: not checked here, but in
		// the kernel, so it runs and a stop takes it out.
		write(one)
		dp, err = datapath.Open("nftables")
		if err != nil {
			t.Fatal(err)
		}
		old, _ = dp.Load(nil, false)
		left := old.Clone()
		for _, l := range []string{"-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m"} {
			c, err := lvs.Parse(strings.Fields(l))
			if err != nil {
				t.Fatal(err)
			}
			left.Apply(c)
		}
		if err := dp.Sync(old, left); err != nil {
			t.Fatal(err)
		}
		dp.Close()
		a, err := New(mustResource(t, "ldirectord::web.cf"), env)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := a.Running(context.Background()); !ok || err != nil {
			t.Fatalf("a service left in the kernel: running %v %v", ok, err)
		}
		if err := a.Stop(context.Background()); err != nil || kernel() != "" {
			t.Fatalf("stop of what was left: %v\n%s", err, kernel())
		}
		x.Wait()
	})
}
