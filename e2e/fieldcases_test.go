package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Field case 1 of issue 12: haresources "node1 floatip", where
// resource.d/floatip exits 0 and prints nothing for start, stop and status.
// Heartbeat reads the silent status as "not running": node1 starts it,
// hands it over on a clean stop, and nothing blocks. lubdub used to judge
// by the exit code, stop it at start-up and block the group for ever.
func TestSilentResourceScript(t *testing.T) {
	l := newLab(t)
	must(t, l.Segment("br0", 0))
	script, err := os.ReadFile("../internal/resource/testdata/scripts/floatip")
	must(t, err)
	hacf := fastTimings + "bcast eth0\nauto_failback on\nnode node1 node2\n"
	nodes := map[string]*node{}
	for i, name := range []string{"node1", "node2"} {
		n := setupNode(t, l, addHost(t, l, name, i+1, "br0"), name, hacf, sha256Keys)
		must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"), []byte("node1 floatip\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte("monitor_interval 200ms\n"), 0o644))
		must(t, os.MkdirAll(filepath.Join(n.Dir, "resource.d"), 0o755))
		must(t, os.WriteFile(filepath.Join(n.Dir, "resource.d", "floatip"), script, 0o755))
		nodes[name] = n
	}
	for _, n := range nodes {
		n.Start(t)
	}
	calls := func(n *node) string {
		b, _ := os.ReadFile(filepath.Join(n.Dir, "floatip.calls"))
		return strings.Join(strings.Fields(string(b)), " ")
	}
	local := func(n *node) string {
		s, err := n.Status()
		if err != nil || len(s.Groups) == 0 {
			return ""
		}
		return s.Groups[0].Owner + "/" + s.Groups[0].Local
	}
	if !waitFor(15*time.Second, func() bool { return local(nodes["node1"]) == "node1/running" }) {
		t.Fatalf("node1's group is %q, want owner node1 running; calls %q", local(nodes["node1"]), calls(nodes["node1"]))
	}
	// Heartbeat's order: status (not running), start, and no stop before.
	if c := calls(nodes["node1"]); !strings.HasPrefix(c, "status") || strings.Contains(c, "stop") || !strings.Contains(c, "start") {
		t.Errorf("node1's calls %q: want status then start, no stop", c)
	}
	// The silent status cannot be monitored: the group must stay running.
	time.Sleep(time.Second)
	if s := local(nodes["node1"]); s != "node1/running" {
		t.Errorf("after a second of monitoring node1's group is %q", s)
	}
	if !strings.Contains(nodes["node1"].Proc.Output(), "lubdub cannot monitor it") {
		t.Error("node1 did not log that floatip cannot be monitored")
	}
	must(t, nodes["node1"].Proc.Signal(syscall.SIGTERM))
	if !waitFor(10*time.Second, func() bool { return local(nodes["node2"]) == "node2/running" }) {
		t.Fatalf("node2's group is %q after node1's clean stop", local(nodes["node2"]))
	}
	if c := calls(nodes["node1"]); !strings.HasSuffix(c, "stop") {
		t.Errorf("node1's calls %q: want its stop last", c)
	}
	if strings.Contains(nodes["node1"].Proc.Output()+nodes["node2"].Proc.Output(), "blocked") {
		t.Error("a node logged a blocked group")
	}
}
