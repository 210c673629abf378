package fence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testLog routes the package's logs to t.Log and keeps them for checks.
type testLog struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog(t *testing.T) (*slog.Logger, *testLog) {
	w := &testLog{t: t}
	return slog.New(slog.NewTextHandler(w, nil)), w
}

// installScript copies a testdata script into a fresh directory with
// mode 0755, as cluster-glue wants it.
func installScript(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func TestExternalScriptCalledAsClusterGlueCallsIt(t *testing.T) {
	log, logs := newLog(t)
	script := installScript(t, "record")
	rec := filepath.Join(t.TempDir(), "calls")
	dev := &ExternalScript{DevName: "rec", Path: script, Runner: ExecRunner{Log: log},
		Params: map[string]string{"hostlist": "node1 node2", "record": rec, "fail": "node2", "password": "s3cret"}}
	ctx := context.Background()

	hosts, err := dev.Hosts(ctx)
	if err != nil || !reflect.DeepEqual(hosts, []string{"node1", "node2"}) {
		t.Fatalf("Hosts = %v, %v; want node1 node2", hosts, err)
	}
	if err := dev.Fence(ctx, "node1", Reset); err != nil {
		t.Fatalf("reset node1: %v", err)
	}
	if err := dev.Fence(ctx, "node1", Off); err != nil {
		t.Fatalf("off node1: %v", err)
	}
	if err := dev.Status(ctx); err != nil {
		t.Fatalf("status: %v", err)
	}
	err = dev.Fence(ctx, "node2", Reset)
	var fe *Error
	if !errors.As(err, &fe) || fe.Device != "rec" || fe.Op != "reset node2" {
		t.Fatalf("reset node2 = %v; want an *Error naming device rec and op reset node2", err)
	}
	// ha_log.sh's message reaches the error, through HA_LOGFILE.
	if !strings.Contains(err.Error(), "the switch said no") || !strings.Contains(err.Error(), "exited 1") {
		t.Errorf("error %q lacks the script's message or exit code", err)
	}
	want := []string{
		"gethosts hostlist=node1 node2 password=s3cret tag=external/record",
		"reset node1 hostlist=node1 node2 password=s3cret tag=external/record",
		"off node1 hostlist=node1 node2 password=s3cret tag=external/record",
		"status hostlist=node1 node2 password=s3cret tag=external/record",
		"reset node2 hostlist=node1 node2 password=s3cret tag=external/record",
	}
	if got := readLines(t, rec); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("the password reached the log:\n%s", logs)
	}
}

func TestExternalScriptRefusedWhenWritableByOthers(t *testing.T) {
	script := installScript(t, "record")
	if err := os.Chmod(script, 0o775); err != nil {
		t.Fatal(err)
	}
	dev := &ExternalScript{DevName: "rec", Path: script}
	err := dev.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "written by group or others") {
		t.Fatalf("status of a group-writable script = %v; want a refusal", err)
	}
	missing := &ExternalScript{DevName: "gone", Path: "nosuch-plugin"}
	if err := missing.Status(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("status of a missing script = %v; want ErrNotFound", err)
	}
}

func TestRunnerTimeoutKillsTheProcessGroup(t *testing.T) {
	log, _ := newLog(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// A child that forks a grandchild and waits: both must die.
	_, err := ExecRunner{Log: log}.Run(context.Background(), Command{
		Path: "/bin/sh", Args: []string{"-c", `sleep 30 & echo $! > ` + pidFile + `; wait`},
		Timeout: 300 * time.Millisecond,
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v; want ErrTimeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %s after a 300ms timeout", took)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for {
		// The grandchild is reaped by init once killed; until then it
		// may be a zombie, which /proc shows as state Z.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // our own grandchild, by pid
			t.Fatalf("grandchild %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunnerNoShell(t *testing.T) {
	out, err := ExecRunner{}.Run(context.Background(), Command{Path: "/bin/echo", Args: []string{"a;b", "$HOME", "`x`"}})
	if err != nil || strings.TrimSpace(out.Stdout) != "a;b $HOME `x`" {
		t.Fatalf("echo printed %q, %v; arguments must reach the program as they are", out.Stdout, err)
	}
	_, err = ExecRunner{}.Run(context.Background(), Command{Path: "/nonexistent/fence_x"})
	if err == nil || !strings.Contains(err.Error(), "starting /nonexistent/fence_x") {
		t.Fatalf("running a missing program = %v", err)
	}
}

func TestAgentOptionsOnStdin(t *testing.T) {
	log, logs := newLog(t)
	agent := installScript(t, "fence_record")
	rec := filepath.Join(t.TempDir(), "calls")
	a := &Agent{DevName: "pdu", Path: agent, Runner: ExecRunner{Log: log},
		Options:  map[string]string{"ip": "198.18.0.9", "passwd": "pw9", "record": rec, "fail": "outlet2", "list": "node1,node3"},
		HostList: []string{"node1"}, HostMap: map[string]string{"node2": "outlet2"}}
	ctx := context.Background()
	if err := a.Fence(ctx, "node1", Reset); err != nil {
		t.Fatalf("reboot node1: %v", err)
	}
	err := a.Fence(ctx, "node2", Off)
	if err == nil || !strings.Contains(err.Error(), "fence device pdu: off node2") || !strings.Contains(err.Error(), "exited 1 (generic error)") || !strings.Contains(err.Error(), "Unable to obtain") {
		t.Fatalf("off node2 = %v; want the device, the op, the exit code's meaning and the agent's words", err)
	}
	if err := a.Status(ctx); err != nil {
		t.Fatalf("monitor: %v", err)
	}
	got := readLines(t, rec)
	want := []string{
		" action=metadata fail=outlet2 ip=198.18.0.9 list=node1,node3 passwd=pw9 record=" + rec,
		" action=reboot fail=outlet2 ip=198.18.0.9 list=node1,node3 nodename=node1 passwd=pw9 plug=node1 record=" + rec,
		" action=off fail=outlet2 ip=198.18.0.9 list=node1,node3 nodename=node2 passwd=pw9 plug=outlet2 record=" + rec,
		" action=monitor fail=outlet2 ip=198.18.0.9 list=node1,node3 passwd=pw9 record=" + rec,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("agent got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(logs.String(), "pw9") {
		t.Errorf("the password reached the log")
	}
	// With a host map the host list is configured; without, the agent lists.
	hosts, err := a.Hosts(ctx)
	if err != nil || !reflect.DeepEqual(hosts, []string{"node1", "node2"}) {
		t.Errorf("Hosts with a host list and map = %v, %v", hosts, err)
	}
	a2 := &Agent{DevName: "pdu2", Path: agent, Options: map[string]string{"list": "node1,node3"}}
	hosts, err = a2.Hosts(ctx)
	if err != nil || !reflect.DeepEqual(hosts, []string{"node1", "node3"}) {
		t.Errorf("Hosts from action=list = %v, %v", hosts, err)
	}
	a3 := &Agent{DevName: "bmc", Path: agent}
	if _, err := a3.Hosts(ctx); !errors.Is(err, ErrNoHostList) {
		t.Errorf("Hosts of an agent that prints N/A = %v; want ErrNoHostList", err)
	}
	a4 := &Agent{DevName: "pdu4", Path: agent, HostList: []string{"node1"}}
	if err := a4.Fence(ctx, "node5", Reset); !errors.Is(err, ErrBadHost) {
		t.Errorf("fencing a node outside the host list = %v; want ErrBadHost", err)
	}
}

func TestStdinRefusesLineBreaks(t *testing.T) {
	if _, err := Stdin(map[string]string{"ip": "1.2.3.4\naction=off"}); err == nil {
		t.Fatal("a value with a line break was accepted: it would inject an option")
	}
	if _, err := Stdin(map[string]string{"a=b": "c"}); err == nil {
		t.Fatal("a name with = was accepted")
	}
}

func TestParseAgentMetadataOfFenceIPMILan(t *testing.T) {
	b, err := os.ReadFile("testdata/fence_ipmilan.metadata.xml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseAgentMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "fence_ipmilan" || !m.HasParameter("plug") || !m.HasParameter("ip") || m.HasParameter("nodename") {
		t.Errorf("metadata = %+v", m)
	}
	for _, a := range []string{"on", "off", "reboot", "status", "monitor"} {
		if !strings.Contains(" "+strings.Join(m.Actions, " ")+" ", " "+a+" ") {
			t.Errorf("action %s missing from %v", a, m.Actions)
		}
	}
}

func TestParseAgentList(t *testing.T) {
	got, err := ParseAgentList("1,web1\n2,db1,ON\n\n3,\n", ",")
	want := []Plug{{"1", "web1", ""}, {"2", "db1", "ON"}, {"3", "", ""}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAgentList = %v, %v", got, err)
	}
	for _, s := range []string{"N/A\n", "NOTICE: List option is not working on this device yet\n"} {
		if _, err := ParseAgentList(s, ","); !errors.Is(err, ErrNoHostList) {
			t.Errorf("ParseAgentList(%q) = %v; want ErrNoHostList", s, err)
		}
	}
}

func TestSplitGlueParams(t *testing.T) {
	names := []string{"ipaddr", "login", "password"}
	got, err := SplitGlueParams(names, "  10.0.0.3 admin  my secret ")
	want := map[string]string{"ipaddr": "10.0.0.3", "login": "admin", "password": "my secret "}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SplitGlueParams = %q, %v; want %q (the last takes the rest)", got, err, want)
	}
	if _, err := SplitGlueParams(names, "10.0.0.3 admin"); err == nil || !strings.Contains(err.Error(), "2 parameter(s) given, 3 needed") {
		t.Errorf("too few parameters: %v", err)
	}
	if got, err := SplitGlueParams(nil, "anything"); err != nil || len(got) != 0 {
		t.Errorf("no names: %v, %v", got, err)
	}
}

func needStonith(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(StonithBin); err != nil {
		t.Skipf("cluster-glue's stonith command is not installed (apt-get install cluster-glue): %v", err)
	}
}

func TestGlueNullPlugin(t *testing.T) {
	needStonith(t)
	log, _ := newLog(t)
	ctx := context.Background()
	types, err := GlueTypes(ctx, ExecRunner{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"null", "meatware", "external/ipmi", "baytech", "rps10", "apcmaster", "ipmilan", "external/ssh"} {
		found := false
		for _, ty := range types {
			found = found || ty == want
		}
		if !found {
			t.Errorf("stonith -L lacks %s: %v", want, types)
		}
	}
	names, err := GlueConfigNames(ctx, ExecRunner{Log: log}, "external/ipmi")
	if err != nil || strings.Join(names, " ") != "hostname ipaddr userid passwd interface" {
		t.Errorf("external/ipmi config names = %v, %v", names, err)
	}
	if _, err := GlueConfigNames(ctx, ExecRunner{Log: log}, "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("config names of an unknown type = %v; want ErrNotFound", err)
	}

	dev := &GlueDevice{DevName: "nul", Type: "null", Params: "node1 node2", Runner: ExecRunner{Log: log}}
	hosts, err := dev.Hosts(ctx)
	if err != nil || !reflect.DeepEqual(hosts, []string{"node1", "node2"}) {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	if err := dev.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dev.Fence(ctx, "node1", Reset); err != nil {
		t.Fatal(err)
	}
	pairs := &GlueDevice{DevName: "nul2", Type: "null", Pairs: map[string]string{"hostlist": "a b c"}, Runner: ExecRunner{Log: log}}
	if hosts, err := pairs.Hosts(ctx); err != nil || len(hosts) != 3 {
		t.Errorf("Hosts from -E = %v, %v", hosts, err)
	}
	cfg := filepath.Join(t.TempDir(), "null.cfg")
	os.WriteFile(cfg, []byte("# hosts\nnode7 node8\n"), 0o600)
	file := &GlueDevice{DevName: "nul3", Type: "null", File: cfg, Runner: ExecRunner{Log: log}}
	if hosts, err := file.Hosts(ctx); err != nil || !reflect.DeepEqual(hosts, []string{"node7", "node8"}) {
		t.Errorf("Hosts from -F = %v, %v", hosts, err)
	}
	bad := &GlueDevice{DevName: "bogus", Type: "nosuch", Params: "x", Runner: ExecRunner{Log: log}}
	err = bad.Fence(ctx, "node1", Reset)
	var fe *Error
	if !errors.As(err, &fe) || fe.Device != "bogus" || !strings.Contains(err.Error(), "exited 8") || !strings.Contains(err.Error(), "Invalid device type") {
		t.Errorf("fencing with an unknown type = %v; want exit 8 and cluster-glue's message", err)
	}
}

// The external script reached through cluster-glue's stonith command, as
// Heartbeat's stonith_host * external/record ... would.
func TestGlueExternalThroughStonith(t *testing.T) {
	needStonith(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to install a plugin in cluster-glue's directory")
	}
	// cluster-glue finds external plugins only in its own directory; the
	// test's plugin gets a unique name and is removed afterwards.
	name := fmt.Sprintf("lubdubtest%d", os.Getpid())
	dst := filepath.Join(ExternalDir, name)
	b, err := os.ReadFile("testdata/record")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Skipf("cannot install a test plugin in %s: %v", ExternalDir, err)
	}
	t.Cleanup(func() { os.Remove(dst) })
	os.Chmod(dst, 0o755)
	log, _ := newLog(t)
	rec := filepath.Join(t.TempDir(), "calls")
	ctx := context.Background()
	names, err := GlueConfigNames(ctx, ExecRunner{Log: log}, "external/"+name)
	if err != nil || strings.Join(names, " ") != "hostlist record fail delay password" {
		t.Fatalf("config names = %v, %v", names, err)
	}
	dev := &GlueDevice{DevName: "glue-rec", Type: "external/" + name, Runner: ExecRunner{Log: log},
		Pairs: map[string]string{"hostlist": "node1 node2", "record": rec, "fail": "node2", "delay": "0", "password": "x"}}
	if err := dev.Fence(ctx, "NODE1", Reset); err != nil {
		t.Fatal(err)
	}
	err = dev.Fence(ctx, "node2", Off)
	if err == nil || !strings.Contains(err.Error(), "exited 5") {
		t.Errorf("a failing off = %v; want stonith's S_RESETFAIL (5)", err)
	}
	var got []string
	for _, l := range readLines(t, rec) {
		if !strings.HasPrefix(l, "get") { // cluster-glue asks getconfignames first
			got = append(got, l)
		}
	}
	// cluster-glue lower-cases the node name.
	if len(got) < 2 || !strings.HasPrefix(got[len(got)-2], "reset node1 hostlist=node1 node2") || !strings.HasPrefix(got[len(got)-1], "off node2 ") {
		t.Errorf("calls through stonith:\n%s", strings.Join(got, "\n"))
	}
}
