package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func seedDir(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range []string{"ha.cf", "haresources", "authkeys"} {
		b, err := os.ReadFile(filepath.Join("..", "haconf", "testdata", "seed", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	return dir
}

func TestCheckSeed(t *testing.T) {
	dir := seedDir(t)
	_, errOut, code := run(t, "lubdub", "check", "-c", dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var errs []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !strings.HasPrefix(l, "warning:") && !strings.HasPrefix(l, "note:") && !strings.HasSuffix(l, "would not start") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], filepath.Join(dir, "haresources")+":33: xuanfei.com is not a cluster node") {
		t.Fatalf("error lines = %q", errs)
	}
	// Without that line the seed is accepted, and check says what would run.
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10 httpd smb\n"), 0o600)
	out, _, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"nodes: xuanfei1-server (this node) xuanfei2-server",
		"  serial /dev/ttyS0\n  bcast eth1 port 694\n  mcast eth1 group 225.0.0.1 port 694 ttl 1 loop true",
		"timings: keepalive 2s, warntime 5s, deadtime 10s, initdead 120s",
		"authentication: key 1, crc (1 key(s) accepted)",
		"group 10.0.0.10 (haresources line 1), preferred node xuanfei1-server, start order: 1.IPaddr::10.0.0.10 2.httpd 3.smb",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	_, errOut, code = run(t, "lubdub", "check", "-c", dir, "--node", "stranger")
	if code != 1 || !strings.Contains(errOut, "this node (stranger) is not in the configuration") {
		t.Errorf("unknown --node: exit %d, %s", code, errOut)
	}
}

func TestUsageAndBadArguments(t *testing.T) {
	if _, errOut, code := run(t, "lubdub", "frob"); code != 2 || !strings.Contains(errOut, `unknown command "frob"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if _, errOut, code := run(t, "lubdub", "run", "--bogus"); code != 2 || !strings.Contains(errOut, "flag provided but not defined: -bogus") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
	if _, errOut, code := run(t, "lubdub", "run", "-c", t.TempDir(), "--state-dir", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "s")); code != 6 || !strings.Contains(errOut, "cannot read the main configuration file") {
		t.Errorf("run without ha.cf: %d %q", code, errOut)
	}
	if _, errOut, code := run(t, "lubdub", "demo", "--deadtime", "100ms"); code != 2 || !strings.Contains(errOut, "deadtime more than twice keepalive") {
		t.Errorf("demo --deadtime 100ms: %d %q", code, errOut)
	}
}

// fakeDaemon serves a canned status on a control socket.
func fakeDaemon(t *testing.T) string {
	sock := filepath.Join(t.TempDir(), "lubdub.sock")
	now := time.Now()
	st := &control.Status{Node: "node1", Version: "test", Now: now, Started: now, Resources: "none",
		Nodes: []control.Node{
			{Name: "node1", Type: "normal", Status: "active", Local: true, Links: []control.Link{{Name: "eth0", Status: "up"}}},
			{Name: "node2", Type: "normal", Status: "dead", Links: []control.Link{{Name: "eth0", Status: "dead"}}},
		},
		PingNodes: []control.Node{
			{Name: "198.18.0.254", Type: "ping", Status: "ping", Links: []control.Link{{Name: "198.18.0.254", Status: "up"}}},
			{Name: "switches", Type: "ping", Status: "dead", Links: []control.Link{{Name: "switches", Status: "dead"}}},
		}}
	srv, err := control.Listen(sock, func(r control.Request) control.Response {
		if r.Cmd == "param" {
			if r.Name == "keepalive" {
				return control.Response{Value: "2"}
			}
			return control.Response{Error: "Cannot get parameter " + r.Name + "'s value"}
		}
		return control.Response{Status: st}
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestClStatusOutputsAndExitCodes(t *testing.T) {
	sock := fakeDaemon(t)
	cases := []struct {
		args []string
		out  string
		code int
	}{
		{[]string{"hbstatus"}, "Heartbeat is running on this machine.\n", 0},
		// Last node first, as Heartbeat's cl_status lists them.
		// Ping nodes too, after the nodes in Heartbeat's table (ha.cf's
		// usual order), so first here; -p and -n filter, both is all.
		{[]string{"listnodes"}, "switches\n198.18.0.254\nnode2\nnode1\n", 0},
		{[]string{"listnodes", "-n"}, "node2\nnode1\n", 0},
		{[]string{"listnodes", "-p"}, "switches\n198.18.0.254\n", 0},
		{[]string{"listnodes", "-pn"}, "switches\n198.18.0.254\nnode2\nnode1\n", 0},
		{[]string{"listnodes", "-n", "-v"}, "\nnode2\tdead\t(nodetype: normal)\n\teth0\tdead\n\nnode1\tactive\t(nodetype: normal)\n\teth0\tup\n", 0},
		{[]string{"nodestatus", "198.18.0.254"}, "ping\n", 0},
		{[]string{"nodestatus", "switches"}, "dead\n", 1},
		{[]string{"nodetype", "198.18.0.254"}, "ping\n", 0},
		{[]string{"listhblinks", "switches"}, "\tswitches\n", 0},
		{[]string{"nodestatus", "node1"}, "active\n", 0},
		{[]string{"nodestatus", "node2"}, "dead\n", 1},
		{[]string{"nodestatus", "-m", "node2"}, "The cluster node node2 is dead\n", 1},
		{[]string{"nodestatus"}, "", 11},
		{[]string{"nodestatus", "nobody"}, "", 11},
		{[]string{"nodetype", "node2"}, "normal\n", 0},
		{[]string{"listhblinks", "node1"}, "\teth0\n", 0},
		{[]string{"hblinkstatus", "node2", "eth0"}, "dead\n", 1},
		{[]string{"hblinkstatus", "node1", "eth0"}, "up\n", 0},
		{[]string{"hblinkstatus", "node1", "eth7"}, "", 13},
		{[]string{"rscstatus"}, "none\n", 0},
		{[]string{"hbparameter", "-p", "keepalive"}, "2\n", 0},
		{[]string{"hbparameter", "-pkeepalive"}, "2\n", 0},
		{[]string{"hbparameter", "-p", "nosuch"}, "", 1},
		{[]string{"hbparameter"}, "", 11},
		{[]string{"listnodes", "-x"}, "", 11},
		{[]string{"frobnicate"}, "", 11},
	}
	for _, tc := range cases {
		out, _, code := run(t, append([]string{"lubdub", "cl_status", "--socket", sock}, tc.args...)...)
		if out != tc.out || code != tc.code {
			t.Errorf("cl_status %v = %q exit %d; want %q exit %d", tc.args, out, code, tc.out, tc.code)
		}
	}
	// Through a link named cl_status, with the socket from the environment.
	t.Setenv("LUBDUB_SOCKET", sock)
	if out, _, code := run(t, "/usr/sbin/cl_status", "nodestatus", "node1"); out != "active\n" || code != 0 {
		t.Errorf("as cl_status: %q %d", out, code)
	}
}

func TestClStatusWithoutDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	out, _, code := run(t, "cl_status", "--socket", sock, "hbstatus")
	if out != "Heartbeat is stopped on this machine.\n" || code != 1 {
		t.Errorf("hbstatus: %q %d", out, code)
	}
	_, errOut, code := run(t, "cl_status", "--socket", sock, "listnodes")
	if code != 1 || !strings.Contains(errOut, "ERROR: Cannot signon with heartbeat") {
		t.Errorf("listnodes: %q %d", errOut, code)
	}
	_, errOut, code = run(t, "lubdub", "status", "--socket", sock)
	if code != 3 || !strings.Contains(errOut, "lubdub is not running") {
		t.Errorf("status: %q %d", errOut, code)
	}
}

func TestStatusOutput(t *testing.T) {
	sock := fakeDaemon(t)
	out, _, code := run(t, "lubdub", "status", "--socket", sock)
	rows := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	if code != 0 || rows["node2"] != "node2 dead 0 never eth0 dead" ||
		rows["198.18.0.254"] != "198.18.0.254 ping (ping node) never answered icmp echo" {
		t.Errorf("status = %q exit %d", out, code)
	}
	out, _, code = run(t, "lubdub", "status", "--json", "--socket", sock)
	if code != 0 || !strings.Contains(out, `"status": "dead"`) {
		t.Errorf("status --json = %q exit %d", out, code)
	}
}

// lubdub check reads the ldirectord files haresources names.
func TestCheckReadsLdirectordFiles(t *testing.T) {
	dir := seedDir(t)
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10 ldirectord::lb.cf\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "lb.cf"), []byte("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 masq\n\tchecktype=sometimes\n"), 0o644)
	_, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server")
	if code != 1 || !strings.Contains(errOut, filepath.Join(dir, "lb.cf")+":3: checktype must be") {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "lb.cf"), []byte("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 masq\n\tchecktype=connect\n"), 0o644)
	if _, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 0 {
		t.Fatalf("a good file: exit %d, %s", code, errOut)
	}
}

// lubdub check judges an ldirectord file against the data path this
// machine would use: on nftables a gate real server (and a fallback
// with ldirectord's default method, gate) is refused now, not at the
// group's start; every problem is listed, each at its line.
func TestCheckLdirectordAgainstTheDataPath(t *testing.T) {
	dir := seedDir(t)
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10 ldirectord::lb.cf\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "lubdub.cf"), []byte("lvs_datapath nftables\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "lb.cf"), []byte("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate\n\tfallback=10.0.0.2:80\n\tchecktype=connect\n\tservicename=web\n"), 0o644)
	_, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server")
	lb := filepath.Join(dir, "lb.cf")
	for _, want := range []string{
		lb + ":2: real server 10.0.0.1:80: forwarding method gate needs IPVS",
		lb + ":3: fallback server 10.0.0.2:80 has no forwarding method, so it is gate, ldirectord's default for a fallback",
		"note: " + lb + ":5: servicename has no effect",
		"2 error(s): lubdub would not start",
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, want %q in:\n%s", code, want, errOut)
		}
	}
	os.WriteFile(filepath.Join(dir, "lubdub.cf"), []byte("lvs_datapath ipvs\n"), 0o600)
	if _, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 0 {
		t.Errorf("gate on IPVS: exit %d, %s", code, errOut)
	}
}

// lubdub check reads LVSSyncDaemonSwap's arguments and refuses it where
// the data path would be nftables, which has no sync daemons.
func TestCheckSyncDaemonSwap(t *testing.T) {
	dir := seedDir(t)
	os.WriteFile(filepath.Join(dir, "lubdub.cf"), []byte("lvs_datapath ipvs\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10 LVSSyncDaemonSwap::master::eth1::7\n"), 0o600)
	if out, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 0 || !strings.Contains(out, "LVSSyncDaemonSwap::master::eth1::7") ||
		!strings.Contains(errOut, "warning: resource group 10.0.0.10 starts 10.0.0.10 before LVSSyncDaemonSwap::master::eth1::7: connections synced from the other director that reach the address first are reset here") {
		t.Errorf("on IPVS, the address first: exit %d, %s%s", code, out, errOut)
	}
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server LVSSyncDaemonSwap::master::eth1::7 10.0.0.10\n"), 0o600)
	if out, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 0 || strings.Contains(errOut, "warning: resource group") {
		t.Errorf("on IPVS, the address last: exit %d, %s%s", code, out, errOut)
	}
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10 LVSSyncDaemonSwap::primary\n"), 0o600)
	if _, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 1 || !strings.Contains(errOut, `"primary" is neither master nor backup`) {
		t.Errorf("a bad state: exit %d, %s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "lubdub.cf"), []byte("lvs_datapath nftables\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10 LVSSyncDaemonSwap::master\n"), 0o600)
	if _, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 1 || !strings.Contains(errOut, "need IPVS, and this machine would use nftables") {
		t.Errorf("on nftables: exit %d, %s", code, errOut)
	}
}

// lubdub check needs the file a conntrackd resource names, and warns of
// addresses started before it.
func TestCheckConntrackd(t *testing.T) {
	dir := seedDir(t)
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server conntrackd::sync.conf 10.0.0.10\n"), 0o600)
	if _, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 1 || !strings.Contains(errOut, "resource conntrackd::sync.conf: stat "+filepath.Join(dir, "sync.conf")) {
		t.Errorf("a missing file: exit %d, %s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "sync.conf"), []byte("General {\n}\n"), 0o644)
	if _, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 0 || strings.Contains(errOut, "warning: resource group") {
		t.Errorf("the file there: exit %d, %s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("xuanfei1-server 10.0.0.10 conntrackd::sync.conf\n"), 0o600)
	if _, errOut, code := run(t, "lubdub", "check", "-c", dir, "--node", "xuanfei1-server"); code != 0 || !strings.Contains(errOut, "starts 10.0.0.10 before conntrackd::sync.conf") {
		t.Errorf("the address first: exit %d, %s", code, errOut)
	}
}

// lubdub ldirectord takes ldirectord's commands; with nothing running,
// status says stopped (exit 3, or 1 with a stale pid file) and reload
// fails, and a broken file is refused before anything is signalled.
func TestLdirectordCommandsWithoutARunningOne(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "web.cf")
	os.WriteFile(cf, []byte("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 masq\n"), 0o644)
	out, _, code := run(t, "lubdub", "ldirectord", "--pid-dir", dir, cf, "status")
	if code != 3 || out != "ldirectord is stopped for "+cf+"\n" {
		t.Errorf("status: exit %d, %q", code, out)
	}
	os.WriteFile(filepath.Join(dir, "ldirectord.web.cf.pid"), []byte("999999999\n"), 0o644)
	if _, errOut, code := run(t, "lubdub", "ldirectord", "--pid-dir", dir, "status", cf); code != 1 || !strings.Contains(errOut, "stale pid file") {
		t.Errorf("status with a stale pid file: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "lubdub", "ldirectord", "--pid-dir", dir, "--socket", filepath.Join(dir, "no.sock"), cf, "reload"); code != 1 ||
		!strings.Contains(errOut, "ldirectord is stopped for "+cf) {
		t.Errorf("reload with nothing running: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, "lubdub", "ldirectord", "--pid-dir", dir, cf, "stop"); code != 0 {
		t.Errorf("stop with nothing running: exit %d", code)
	}
	os.WriteFile(cf, []byte("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 nat\n\tscheduler=lc\n\tquiescent=1\n"), 0o644)
	_, errOut, code := run(t, "lubdub", "ldirectord", "--pid-dir", dir, cf, "reload")
	if code != 1 || !strings.Contains(errOut, cf+":2: forward method must be gate, masq or ipip") ||
		!strings.Contains(errOut, cf+":4: quiescent must be 'yes' or 'no'") || !strings.Contains(errOut, "NOT reloaded") {
		t.Errorf("reload of a broken file: exit %d, %s", code, errOut)
	}
	if _, _, code := run(t, "lubdub", "ldirectord", "--pid-dir", dir, cf, "frobnicate"); code != 2 {
		t.Errorf("an unknown command: exit %d, want usage (2)", code)
	}
}
