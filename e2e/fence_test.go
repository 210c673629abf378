package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/fence"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lab"
)

// nsRunner runs fencing programs inside a lab host, as they would run on
// that node.
type nsRunner struct {
	ns    string
	inner fence.ExecRunner
}

func (r nsRunner) Run(ctx context.Context, c fence.Command) (fence.Output, error) {
	c.Args = append([]string{"netns", "exec", r.ns, c.Path}, c.Args...)
	c.Path = "/usr/sbin/ip"
	if _, err := os.Stat(c.Path); err != nil {
		c.Path = "/sbin/ip"
	}
	return r.inner.Run(ctx, c)
}

// slogT routes logs to the test log.
type slogT struct{ t *testing.T }

func (w slogT) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func needFencingTools(t *testing.T) {
	t.Helper()
	for _, p := range []string{lab.IPMISimBin, "/usr/bin/ipmitool", "/usr/sbin/fence_ipmilan", fence.StonithBin, filepath.Join(fence.ExternalDir, "ipmi")} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s is missing: apt-get install openipmi ipmitool fence-agents cluster-glue (scripts/test installs them as root)", p)
		}
	}
}

// victim is node2's "workload": processes the test started in node2 that
// only a power-off stops, and a server node1 can reach while node2's link
// is up.
type victim struct {
	host  *lab.Host
	procs []*lab.Proc
}

func startVictim(t *testing.T, n2 *lab.Host, bmc *lab.BMC, round int) *victim {
	t.Helper()
	v := &victim{host: n2}
	srv, err := n2.Start(fmt.Sprintf("node2-serve-%d.log", round), e2ekit.CLI, "serve", "--listen", n2.Addr["eth0"]+":8080", "node2")
	must(t, err)
	idle, err := n2.Start(fmt.Sprintf("node2-sleep-%d.log", round), "sleep", "600")
	must(t, err)
	v.procs = []*lab.Proc{srv, idle}
	must(t, bmc.Guard(srv.Pid(), idle.Pid()))
	return v
}

// reachable reports whether node1 gets node2's page.
func reachable(n1, n2 *lab.Host) bool {
	out, _, code := n1.Output(3*time.Second, "curl", "-s", "--max-time", "1", "http://"+n2.Addr["eth0"]+":8080/")
	return code == 0 && strings.TrimSpace(out) == "node2"
}

// assertDown checks that node2 really went down: its processes are gone
// and node1 cannot reach it.
func (v *victim) assertDown(t *testing.T, n1 *lab.Host, how string) {
	t.Helper()
	for _, p := range v.procs {
		if exited, _ := p.Wait(5 * time.Second); !exited {
			t.Errorf("%s: node2's process %d still runs after the fence", how, p.Pid())
		}
	}
	if reachable(n1, v.host) {
		t.Errorf("%s: node1 still reaches node2 after the fence", how)
	}
}

// A node really goes down when lubdub's fencing layer shoots it through
// fence_ipmilan and cluster-glue's external/ipmi (called directly, and
// through the stonith command as a Heartbeat stonith_host line says),
// both talking IPMI to a simulated BMC; a device that fails makes the
// fencing fall to the next level, and the result says which device failed
// and why.
func TestFenceThroughSimulatedBMC(t *testing.T) {
	needFencingTools(t)
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	n1 := addHost(t, l, "node1", 1, "br0")
	n2 := addHost(t, l, "node2", 2, "br0")
	bmc, err := l.AddBMC("bmc2", 12, "br0", n2, "eth0")
	must(t, err)
	log := slog.New(slog.NewTextHandler(slogT{t}, nil))
	run := nsRunner{ns: n1.NS, inner: fence.ExecRunner{Log: log}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	type way struct {
		name  string
		dev   fence.Device
		event string // what the BMC must have seen last
	}
	ways := []way{
		{"fence_ipmilan (IPMI 2.0)", &fence.Agent{DevName: "ipmi2", Path: "fence_ipmilan", Runner: run, HostList: []string{"node2"},
			Options: map[string]string{"ip": bmc.Addr, "username": bmc.User, "password": bmc.Password, "lanplus": "1", "cipher": "3"}}, "on"},
		{"external/ipmi called directly (IPMI 1.5)", &fence.ExternalScript{DevName: "ext-ipmi2", Path: "external/ipmi", Runner: run,
			Params: map[string]string{"hostname": "node2", "ipaddr": bmc.Addr, "userid": bmc.User, "passwd": bmc.Password, "interface": "lan"}}, "reset"},
		{"external/ipmi through cluster-glue's stonith command", &fence.GlueDevice{DevName: "glue-ipmi2", Type: "external/ipmi", Runner: run,
			Params: fmt.Sprintf("node2 %s %s %s lan", bmc.Addr, bmc.User, bmc.Password)}, "reset"},
	}
	for i, w := range ways {
		v := startVictim(t, n2, bmc, i)
		if !waitFor(5*time.Second, func() bool { return reachable(n1, n2) }) {
			t.Fatalf("%s: node1 cannot reach node2 before the fence", w.name)
		}
		if err := w.dev.Status(ctx); err != nil {
			t.Fatalf("%s: status: %v", w.name, err)
		}
		before := len(bmc.Events())
		start := time.Now()
		if err := w.dev.Fence(ctx, "node2", fence.Reset); err != nil {
			t.Fatalf("%s: reset node2: %v", w.name, err)
		}
		took := time.Since(start)
		ev := bmc.Events()
		if len(ev) <= before || ev[len(ev)-1].What != w.event {
			t.Fatalf("%s: BMC events %v; want a new %q", w.name, ev, w.event)
		}
		v.assertDown(t, n1, w.name)
		t.Logf("%s: node2 fenced (reset) in %s", w.name, took.Round(time.Millisecond))
		// "Reboot": the link comes back; new processes are started next round.
		must(t, n2.Heal("eth0"))
	}

	// The configuration as operators write it: ha.cf's stonith_host and a
	// fence_device with a wrong password at level 1. Level 1 fails and
	// says why; level 2 (ha.cf's device) fences.
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "ha.cf"), []byte(fmt.Sprintf("node node1 node2\nkeepalive 1\ndeadtime 10\ninitdead 20\nbcast eth0\nstonith_host node1 external/ipmi node2 %s %s %s lan\n", bmc.Addr, bmc.User, bmc.Password)), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "authkeys"), []byte("auth 1\n1 sha256 k\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "haresources"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "lubdub.cf"), []byte(fmt.Sprintf(
		"fence_device ipmi2 fence_ipmilan ip=%s username=%s password=wrong lanplus=1 cipher=3 pcmk_host_list=node2 pcmk_reboot_timeout=30s\nfencing_level node2 1 ipmi2\nfencing_level node2 2 ha.cf\n",
		bmc.Addr, bmc.User)), 0o600))
	cfg, rep := haconf.Load(dir, haconf.Options{Node: "node1", Stonith: fence.NewGluePlugins(nil)})
	must(t, rep.Err())
	fencer, err := fence.FromConfig(cfg, "node1", run, log)
	must(t, err)
	v := startVictim(t, n2, bmc, len(ways))
	if !waitFor(5*time.Second, func() bool { return reachable(n1, n2) }) {
		t.Fatal("node1 cannot reach node2 before the configured fence")
	}
	res := fencer.Fence(ctx, "node2", fence.Reset)
	t.Logf("configured fence: %s", res)
	if !res.OK() || res.Level != 2 {
		t.Fatalf("configured fence: %s; want level 2 (ha.cf) after level 1 fails", res)
	}
	if len(res.Attempts) != 2 || res.Attempts[0].Device != "ipmi2" || res.Attempts[0].Err == nil {
		t.Fatalf("attempts %+v; want ipmi2 failing first", res.Attempts)
	}
	var fe *fence.Error
	if msg := res.Attempts[0].Err.Error(); !errors.As(res.Attempts[0].Err, &fe) || fe.Device != "ipmi2" || !strings.Contains(msg, "fence_ipmilan exited") {
		t.Errorf("level 1's failure does not say which device failed and how: %v", res.Attempts[0].Err)
	}
	v.assertDown(t, n1, "configured levels")

	// The cut node cannot be reached, but its BMC can: fencing does not
	// need the node.
	if out, errOut, code := n1.Output(5*time.Second, "ipmitool", "-I", "lan", "-H", bmc.Addr, "-U", bmc.User, "-P", bmc.Password, "power", "status"); code != 0 || !strings.Contains(out, "on") {
		t.Errorf("BMC after the fences: %s %s", out, errOut)
	}
}
