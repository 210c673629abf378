package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/fence"
)

func TestParseStonithArgs(t *testing.T) {
	o, err := parseStonithArgs([]string{"-t", "baytech", "-p", "10.0.0.3 admin pw", "-sT", "reset", "Node2"})
	if err != nil || o.typ != "baytech" || o.params != "10.0.0.3 admin pw" || !o.silent || o.action != "reset" || o.node != "Node2" {
		t.Errorf("%+v %v", o, err)
	}
	o, err = parseStonithArgs([]string{"-tnull", "-lS", "hostlist=a b"})
	if err != nil || o.typ != "null" || !o.list || !o.status || !reflect.DeepEqual(o.nv, map[string]string{"hostlist": "a b"}) {
		t.Errorf("%+v %v", o, err)
	}
	o, err = parseStonithArgs([]string{"--config=/etc/x", "--node", "n1", "--device", "ipmi2", "-S"})
	if err != nil || o.config != "/etc/x" || o.self != "n1" || o.device != "ipmi2" || !o.status {
		t.Errorf("%+v %v", o, err)
	}
	for args, want := range map[string]string{
		"-T kill n1":             "bad reset type [kill]",
		"-T reset":               "-T reset needs a node name",
		"-t null n1":             "a node name needs -T",
		"-p a -F b -S":           "just one of -F, -p, and -E",
		"-p a x=y -S":            "cannot mix name=value",
		"-c 0 -L":                "bad count [0]",
		"-q":                     "unknown option -q",
		"--frob":                 "unknown option --frob",
		"-T reset n1 n2":         "one node name expected",
		"-t":                     "option -t needs a value",
		"--device":               "--device needs a value",
		"-t null -p a -T off --": "-T off needs a node name",
		"-S n1 n2 -T off":        "one node name expected",
	} {
		if _, err := parseStonithArgs(strings.Fields(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", args, err, want)
		}
	}
}

func FuzzParseStonithArgs(f *testing.F) {
	f.Add("-t null -p a -lS")
	f.Add("--config=/x -T reset n1")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseStonithArgs(strings.Fields(s))
		if err != nil {
			return
		}
		if (o.node == "") != (o.action == "") && !o.help && !o.version {
			t.Fatalf("node %q with action %q from %q", o.node, o.action, s)
		}
		if o.action != "" {
			if _, err := fence.ParseAction(o.action); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func needGlue(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(fence.StonithBin); err != nil {
		t.Skipf("cluster-glue is not installed (apt-get install cluster-glue): %v", err)
	}
}

func TestStonithCommandWithGluePlugins(t *testing.T) {
	needGlue(t)
	out, _, code := run(t, "lubdub", "stonith", "-L")
	if code != 0 || !strings.Contains(out, "\nnull\n") || !strings.Contains(out, "external/ipmi\n") {
		t.Fatalf("stonith -L: %d\n%s", code, out)
	}
	if _, err := os.Stat("/usr/sbin/fence_ipmilan"); err == nil && !strings.Contains(out, "fence_ipmilan\n") {
		t.Errorf("stonith -L lacks the fence agents:\n%s", out)
	}
	out, _, code = run(t, "lubdub", "stonith", "-t", "external/ipmi", "-n")
	if code != 0 || strings.TrimSpace(out) != "hostname  ipaddr  userid  passwd  interface" {
		t.Errorf("-n: %d %q", code, out)
	}
	out, errOut, code := run(t, "lubdub", "stonith", "-t", "null", "-p", "node1 node2", "-lS")
	if code != 0 || out != "node1\nnode2\n" || !strings.Contains(errOut, "null device OK.") {
		t.Errorf("-lS: %d %q %q", code, out, errOut)
	}
	_, errOut, code = run(t, "lubdub", "stonith", "-t", "null", "hostlist=node1", "-T", "reset", "NODE1")
	if code != 0 || !strings.Contains(errOut, "null: reset node1 done.") {
		t.Errorf("-T reset: %d %q", code, errOut)
	}
	_, errOut, code = run(t, "lubdub", "stonith", "-t", "nosuch", "-p", "x", "-S")
	if code != 8 || !strings.Contains(errOut, "nosuch device not accessible") {
		t.Errorf("unknown type: %d %q; want cluster-glue's S_OOPS (8)", code, errOut)
	}
}

func TestStonithCommandWithConfiguredAgent(t *testing.T) {
	agentSrc, err := os.ReadFile("../fence/testdata/fence_record")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	agent := filepath.Join(dir, "fence_record")
	os.WriteFile(agent, agentSrc, 0o755)
	os.Chmod(agent, 0o755)
	rec := filepath.Join(dir, "calls")
	cf := seedDir(t)
	os.WriteFile(filepath.Join(cf, "lubdub.cf"), []byte(fmt.Sprintf(
		"fence_device bad %s record=%s fail=node2 pcmk_host_list=node2\nfence_device good %s record=%s pcmk_host_list=node2 passwd=\"p w\"\nfencing_level node2 1 bad\nfencing_level node2 2 good\n",
		agent, rec, agent, rec)), 0o600)
	// The seed's haresources names a host outside the cluster; this test
	// is about fencing, so it gets a clean one.
	os.WriteFile(filepath.Join(cf, "haresources"), []byte(""), 0o600)
	hacf, _ := os.ReadFile(filepath.Join(cf, "ha.cf"))
	nodes := []string{}
	for _, l := range strings.Split(string(hacf), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "node" {
			nodes = append(nodes, f[1:]...)
		}
	}
	if len(nodes) < 2 {
		t.Fatalf("seed ha.cf has nodes %v", nodes)
	}
	self, peer := strings.ToLower(nodes[0]), strings.ToLower(nodes[1])
	lubdubCf := strings.ReplaceAll(mustRead(t, filepath.Join(cf, "lubdub.cf")), "node2", peer)
	os.WriteFile(filepath.Join(cf, "lubdub.cf"), []byte(lubdubCf), 0o600)

	out, errOut, code := run(t, "lubdub", "stonith", "--config", cf, "--node", self, "--devices")
	if code != 0 || !strings.Contains(out, "bad\tfence agent "+agent) || !strings.Contains(out, "level\t"+peer+" 2 good") {
		t.Fatalf("--devices: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "lubdub", "stonith", "--config", cf, "--node", self, "-T", "reset", peer)
	if code != 0 || !strings.Contains(out, peer+" fenced (reset) at level 2 by good") {
		t.Fatalf("-T reset along the levels: %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "fence device bad: reset "+peer) {
		t.Errorf("the failed level 1 is not reported:\n%s", errOut)
	}
	calls := mustRead(t, rec)
	if strings.Count(calls, "action=reboot") != 2 || strings.Contains(errOut, "p w") {
		t.Errorf("agent calls:\n%s\nlog:\n%s", calls, errOut)
	}
	_, errOut, code = run(t, "lubdub", "stonith", "--config", cf, "--node", self, "--device", "bad", "-T", "off", peer)
	if code != 1 || !strings.Contains(errOut, "exited 1 (generic error)") {
		t.Errorf("--device bad: %d %s", code, errOut)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// meatclient answers cluster-glue's own meatware plugin, waiting in the
// stonith command.
func TestMeatclientAnswersClusterGluesMeatware(t *testing.T) {
	needGlue(t)
	if os.Geteuid() != 0 {
		t.Skip("the meatware plugin makes its FIFO in /run: needs root")
	}
	node := fmt.Sprintf("lubdubtest%d", os.Getpid())
	fifo := filepath.Join(MeatwareDir, "meatware."+node)
	t.Cleanup(func() { os.Remove(fifo) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := Run(ctx, []string{"lubdub", "stonith", "-t", "meatware", "-p", node, "-T", "reset", node}, &out, &errb)
		done <- result{code, errb.String()}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.Stat(fifo); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the meatware plugin made no FIFO %s", fifo)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A "no" first: meatclient writes nothing and the plugin keeps waiting.
	var out, errb bytes.Buffer
	env := &Env{Ctx: ctx, Stdin: strings.NewReader("n\n"), Stdout: &out, Stderr: &errb, Getenv: os.Getenv}
	if code := cmdMeatclient(env, []string{"-c", strings.ToUpper(node)}); code != 3 || !strings.Contains(out.String(), "operation canceled") {
		t.Fatalf("no: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	env.Stdin = strings.NewReader("y\n")
	// Found through a link named meatclient too.
	code := Run(ctx, []string{"/usr/local/bin/meatclient", "-c", node}, &out, &errb)
	_ = code
	if !strings.Contains(out.String(), "PROCEED? [yN]") {
		t.Fatalf("meatclient by its link name: %q %q", out.String(), errb.String())
	}
	// Run reads os.Stdin (empty under go test): that was a cancel too. Now yes.
	out.Reset()
	if code := cmdMeatclient(env, []string{"-c", node}); code != 0 || !strings.Contains(out.String(), "reset confirmed") {
		t.Fatalf("yes: %d %q %q", code, out.String(), errb.String())
	}
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("stonith -t meatware exited %d after the confirmation: %s", r.code, r.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("stonith -t meatware did not finish after the confirmation")
	}
	// No request pending: S_BADHOST, as meatclient.
	out.Reset()
	errb.Reset()
	if code := cmdMeatclient(env, []string{"-c", node + "x"}); code != 4 || !strings.Contains(errb.String(), "Meatware_IPC failed") {
		t.Errorf("without a request: %d %q", code, errb.String())
	}
}

func TestCheckShowsStonith(t *testing.T) {
	needGlue(t)
	cf := t.TempDir()
	os.WriteFile(filepath.Join(cf, "ha.cf"), []byte("node n1 n2\nkeepalive 1\ndeadtime 10\ninitdead 20\nbcast eth0\nstonith_host * null n1 n2\nstonith_host n2 external/ipmi n1 198.18.0.11 admin\n"), 0o600)
	os.WriteFile(filepath.Join(cf, "authkeys"), []byte("auth 1\n1 sha1 x\n"), 0o600)
	os.WriteFile(filepath.Join(cf, "haresources"), []byte(""), 0o600)
	out, errOut, code := run(t, "lubdub", "check", "-c", cf, "--node", "n1")
	if code != 0 || !strings.Contains(out, "stonith_host * null with hostlist (ha.cf line 6) <- this node's device") {
		t.Fatalf("check: %d\n%s%s", code, out, errOut)
	}
	// The line for n2 has too few parameters for external/ipmi: n1 is
	// told, as a warning (Heartbeat on n1 skips it); n2 gets the error.
	if !strings.Contains(errOut, "for node n2 (Heartbeat on this node skips the line): stonith_host external/ipmi: invalid stonith configuration: 3 parameter(s) given, 5 needed") {
		t.Errorf("check on n1 does not warn about n2's line:\n%s", errOut)
	}
	_, errOut, code = run(t, "lubdub", "check", "-c", cf, "--node", "n2")
	if code != 1 || !strings.Contains(errOut, "ha.cf:7: stonith_host external/ipmi: invalid stonith configuration") {
		t.Errorf("check on n2: %d\n%s", code, errOut)
	}
}
