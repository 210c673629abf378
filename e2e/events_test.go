package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/events"
	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/notify"
)

// The operator's view of a failover, end to end: on both nodes, the event
// stream (lubdub events --json), a notify hook and two Pacemaker alert
// agents (Debian's alert_file.sh.sample, unchanged, and one that records
// its CRM_alert_* variables) see a crash, a standby and a failed start.

const alertFileSample = "/usr/share/pacemaker/alerts/alert_file.sh.sample"

const vipGroup = "IPaddr2::" + vip + "/24/eth0"

// notifyRig is what one node's notification programs and event reader
// wrote.
type notifyRig struct {
	n        *node
	hookLog  string // one line per hook run
	alertLog string // alert_file.sh.sample's recipient
	envLog   string // the variable-dumping agent's recipient
	readers  []*lab.Proc
}

// withNotify makes prepare functions for haSetupEach: each node gets a
// notify hook (NODE-hook) recording its argv and LUBDUB_* variables, the
// two alert agents, notify_timeout, and a lubdub events reader started
// before its daemon.
func withNotify(t *testing.T, rigs map[string]*notifyRig, timeout string) func(*node) {
	if _, err := os.Stat(alertFileSample); err != nil {
		t.Skipf("%s: %v (apt-get install pacemaker-common)", alertFileSample, err)
	}
	return func(n *node) {
		dir := n.Lab.Dir
		r := &notifyRig{n: n, hookLog: filepath.Join(dir, n.Name+"-hook.txt"), alertLog: filepath.Join(dir, n.Name+"-alerts.txt"),
			envLog: filepath.Join(dir, n.Name+"-alertenv.txt")}
		rigs[n.Name] = r
		hook := filepath.Join(dir, n.Name+"-hook")
		body := `printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$LUBDUB_GENERATION" "$LUBDUB_SEQ" "$1" "$2" "$3" "$4" "$LUBDUB_WAS" "$LUBDUB_REASON" "$LUBDUB_OP" "$LUBDUB_RC" "$#" >> ` + r.hookLog + "\n"
		must(t, os.WriteFile(hook, []byte("#!/bin/sh\n"+body), 0o755))
		dump := filepath.Join(dir, "dump-alert")
		// One write per run, so that a reader never sees half a run.
		must(t, os.WriteFile(dump, []byte("#!/bin/sh\nvars=$(env | grep '^CRM_alert_' | sort)\nprintf -- '--- %s\\n%s\\n' \"$CRM_alert_kind\" \"$vars\" >> \"$CRM_alert_recipient\"\n"), 0o755))
		cf, err := os.OpenFile(filepath.Join(n.Dir, "lubdub.cf"), os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		fmt.Fprintf(cf, "notify %s\nalert %s %s\nalert %s %s\nnotify_timeout %s\n", hook, alertFileSample, r.alertLog, dump, r.envLog, timeout)
		cf.Close()
		r.follow(t)
	}
}

// follow starts a lubdub events reader that waits for the daemon's socket
// (for 10 s at most), so that it follows the daemon from its start.
func (r *notifyRig) follow(t *testing.T) {
	script := fmt.Sprintf("for i in $(seq 1000); do %s events --json --socket %s; [ $? = 3 ] || exit; sleep 0.01; done", e2ekit.CLI, r.n.Sock)
	p, err := r.n.Host.Start(fmt.Sprintf("%s-events%d.log", r.n.Name, len(r.readers)), "sh", "-c", script)
	must(t, err)
	r.readers = append(r.readers, p)
}

// hookRun is one line of the hook's record.
type hookRun struct {
	gen, seq uint64
	line     string // as evLine
	op, rc   string
	argc     string
	e        events.Event // as the hook was told of it
}

func evLine(kind, subject, node, state, reason, op, rc string) string {
	s := fmt.Sprintf("%s %s@%s %s", kind, subject, node, state)
	if reason != "" {
		s += " (" + reason + ")"
	}
	if op != "" {
		s += fmt.Sprintf(" [%s rc=%s]", op, rc)
	}
	return s
}

func (r *notifyRig) hookRuns() []hookRun {
	var out []hookRun
	b, _ := os.ReadFile(r.hookLog)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 11 {
			continue
		}
		gen, _ := strconv.ParseUint(f[0], 10, 64)
		seq, _ := strconv.ParseUint(f[1], 10, 64)
		e := events.Event{Seq: seq, Generation: gen, Origin: r.n.Name, Kind: events.Kind(f[2]), Subject: f[3], Node: f[4], State: f[5], Was: f[6], Reason: f[7]}
		if f[8] != "" {
			rc, _ := strconv.Atoi(f[9])
			e.Op = &events.OpResult{Name: f[8], RC: rc}
		}
		out = append(out, hookRun{gen: gen, seq: seq, line: evLine(f[2], f[3], f[4], f[5], f[7], f[8], f[9]), op: f[8], rc: f[9], argc: f[10], e: e})
	}
	return out
}

// streamed is what the readers printed: every event, current state
// (replay) included.
func (r *notifyRig) streamed() []events.Event {
	var out []events.Event
	for _, p := range r.readers {
		for _, l := range strings.Split(p.Output(), "\n") {
			if e, err := events.Decode([]byte(l)); err == nil {
				out = append(out, e)
			}
		}
	}
	return out
}

func streamLine(e events.Event) string {
	op, rc := "", ""
	if e.Op != nil {
		op, rc = e.Op.Name, strconv.Itoa(e.Op.RC)
	}
	return evLine(string(e.Kind), e.Subject, e.Node, e.State, e.Reason, op, rc)
}

var alertStamp = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6}: `)

// alertLines is what alert_file.sh.sample wrote, each line's timestamp
// checked and taken off.
func (r *notifyRig) alertLines(t *testing.T) []string {
	b, _ := os.ReadFile(r.alertLog)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		if !alertStamp.MatchString(l) {
			t.Errorf("%s: alert line without Pacemaker's timestamp: %q", r.n.Name, l)
		}
		out = append(out, alertStamp.ReplaceAllString(l, ""))
	}
	return out
}

// alertEnvs is what the dumping agent recorded: one map per run.
func (r *notifyRig) alertEnvs() []map[string]string {
	b, _ := os.ReadFile(r.envLog)
	var out []map[string]string
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "--- "):
			out = append(out, map[string]string{})
		case len(out) > 0 && strings.Contains(l, "="):
			k, v, _ := strings.Cut(l, "=")
			out[len(out)-1][k] = v
		}
	}
	return out
}

// envsAfter waits for n runs of the dumping agent after m (it runs beside
// the others, not in step with them) and returns them.
func (r *notifyRig) envsAfter(t *testing.T, m mark, n int) []map[string]string {
	t.Helper()
	var envs []map[string]string
	waitFor(10*time.Second, func() bool {
		envs = r.alertEnvs()[m.envs:]
		return len(envs) >= n
	})
	time.Sleep(200 * time.Millisecond) // and no more come
	if envs = r.alertEnvs()[m.envs:]; len(envs) != n {
		t.Fatalf("%s: %d alert runs, want %d: %v", r.n.Name, len(envs), n, envs)
	}
	return envs
}

// mark is where a node's records stand, once they have caught up.
type mark struct{ hook, alerts, envs int }

// settle waits until no group starts or stops on the node, the hook has run for every event the reader saw, each agent for
// every event of those Pacemaker alerts on, and nothing was written for
// 400 ms, and returns where the records stand.
func (r *notifyRig) settle(t *testing.T) mark {
	t.Helper()
	var last string
	stable := time.Now()
	ok := waitFor(15*time.Second, func() bool {
		runs, st := r.hookRuns(), r.streamed()
		now := fmt.Sprint(len(runs), len(r.alertLines(t)), len(r.alertEnvs()), len(st))
		if now != last {
			last, stable = now, time.Now()
		}
		alerts := 0
		for _, h := range runs {
			if _, ok := notify.AlertFor(h.e, []string{"node1", "node2"}); ok {
				alerts++
			}
		}
		caughtUp := len(runs) > 0 && len(st) > 0 && runs[len(runs)-1].seq == st[len(st)-1].Seq && runs[len(runs)-1].gen == st[len(st)-1].Generation &&
			len(r.alertLines(t)) == alerts && len(r.alertEnvs()) == alerts
		s, err := r.n.Status()
		caughtUp = caughtUp && err == nil
		if err == nil {
			// The stream has caught up with the daemon too: each group's
			// last event is its state now (a loaded machine may deliver
			// the last one after the hook and the reader agreed).
			last := map[string]string{}
			for _, e := range st {
				if e.Kind == events.Group && e.Node == r.n.Name {
					last[e.Subject] = e.State
				}
			}
			for _, g := range s.Groups {
				caughtUp = caughtUp && g.Local != "starting" && g.Local != "stopping" && (last[g.ID] == g.Local || (last[g.ID] == "" && g.Local == "stopped"))
			}
		}
		return caughtUp && time.Since(stable) > 400*time.Millisecond
	})
	if !ok {
		t.Fatalf("%s: the hook did not catch up with the event stream: %s", r.n.Name, last)
	}
	return mark{len(r.hookRuns()), len(r.alertLines(t)), len(r.alertEnvs())}
}

// wantAfter waits until the hook has run at least len(want) times after m
// and checks that those runs, of the kinds given, are want, in order
// ("*" at the end of a line matches any rest).
func (r *notifyRig) wantAfter(t *testing.T, m mark, kinds []string, want ...string) []hookRun {
	t.Helper()
	var got []string
	var runs []hookRun
	waitFor(10*time.Second, func() bool {
		got, runs = nil, nil
		for _, h := range r.hookRuns()[m.hook:] {
			if slices.Contains(kinds, strings.Fields(h.line)[0]) {
				got = append(got, h.line)
				runs = append(runs, h)
			}
		}
		return len(got) >= len(want)
	})
	if !linesMatch(got, want) {
		t.Errorf("%s: events (hook runs):\n  %s\nwant:\n  %s", r.n.Name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return runs
}

func linesMatch(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if w, ok := strings.CutSuffix(want[i], "*"); ok && strings.HasPrefix(got[i], w) || got[i] == want[i] {
			continue
		}
		return false
	}
	return true
}

// wantAlerts waits for alert_file.sh.sample's lines after m and checks
// them.
func (r *notifyRig) wantAlerts(t *testing.T, m mark, want ...string) {
	t.Helper()
	var got []string
	waitFor(10*time.Second, func() bool {
		got = r.alertLines(t)[m.alerts:]
		return len(got) >= len(want)
	})
	if !linesMatch(got, want) {
		t.Errorf("%s: alert_file.sh.sample wrote:\n  %s\nwant:\n  %s", r.n.Name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// checkConsistent checks that the hook ran once per event, with its four
// arguments, and that the readers printed exactly the events the hook got
// (after their first connection's current state, which must agree with
// the events before it).
func (r *notifyRig) checkConsistent(t *testing.T) {
	t.Helper()
	runs := r.hookRuns()
	byKey := map[[2]uint64]hookRun{}
	for i, h := range runs {
		if h.argc != "4" {
			t.Errorf("%s: hook run %d had %s arguments, want 4", r.n.Name, i, h.argc)
		}
		if i > 0 && h.gen == runs[i-1].gen && h.seq != runs[i-1].seq+1 {
			t.Errorf("%s: hook ran for event %d after %d: an event was skipped or repeated", r.n.Name, h.seq, runs[i-1].seq)
		}
		byKey[[2]uint64{h.gen, h.seq}] = h
	}
	live := 0
	for _, e := range r.streamed() {
		if e.Replay {
			continue
		}
		live++
		h, ok := byKey[[2]uint64{e.Generation, e.Seq}]
		if !ok || h.line != streamLine(e) {
			t.Errorf("%s: the reader printed event %d/%d %q; the hook got %q", r.n.Name, e.Generation, e.Seq, streamLine(e), h.line)
		}
	}
	if live == 0 {
		t.Errorf("%s: the reader printed no events", r.n.Name)
	}
}

// envWant checks one alert run's variables: exactly Pacemaker's for its
// kind, with these values ("*": any non-empty value).
func envWant(t *testing.T, who string, got map[string]string, want map[string]string) {
	t.Helper()
	common := []string{"kind", "version", "recipient", "timestamp", "timestamp_epoch", "timestamp_usec", "node_sequence"}
	for _, k := range common {
		if _, ok := want[k]; !ok {
			want[k] = "*"
		}
	}
	var extra []string
	for k := range got {
		if _, ok := want[strings.TrimPrefix(k, "CRM_alert_")]; !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		t.Errorf("%s: variables Pacemaker does not set for a %s alert: %v", who, want["kind"], extra)
	}
	for k, v := range want {
		g, ok := got["CRM_alert_"+k]
		if !ok || (v == "*" && g == "") || (v != "*" && g != v) {
			t.Errorf("%s: CRM_alert_%s = %q (set: %v), want %q", who, k, g, ok, v)
		}
	}
}

func notifyCluster(t *testing.T, node1Files map[string]string) (*haCluster, map[string]*notifyRig) {
	rigs := map[string]*notifyRig{}
	c := haSetupEach(t, "on", node1Files, withNotify(t, rigs, "5s"))
	return c, rigs
}

var eventKinds = []string{"node", "link", "group", "standby", "takeover", "fencing"}

// A crash: node2 reports node1's death and takes the group over; node1,
// back, reports its start and takes the group back, which node2 reports
// giving up. The hook, both agents and the readers agree.
func TestEventsCrash(t *testing.T) {
	c, rigs := notifyCluster(t, nil)
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	n1, n2 := rigs["node1"], rigs["node2"]
	m1, m2 := n1.settle(t), n2.settle(t)
	c.Crash("node1")
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("no takeover by node2:\n%s", c.Probe.Output())
	}
	n2.wantAfter(t, m2, eventKinds,
		"node node1@node1 dead (no heartbeat for 400ms)",
		"link eth0@node1 dead",
		"group "+vipGroup+"@node2 starting (node node1 is dead)",
		"group "+vipGroup+"@node2 running (node node1 is dead) [start rc=0]")
	n2.wantAlerts(t, m2,
		"Node 'node1' is now 'lost'",
		"Resource operation 'start' for '"+vipGroup+"' on 'node2': ok")
	envs := n2.envsAfter(t, m2, 2)
	envWant(t, "node2's node alert", envs[0], map[string]string{"kind": "node", "node": "node1", "nodeid": "1", "desc": "lost",
		"version": "2.1.5", "recipient": n2.envLog})
	envWant(t, "node2's resource alert", envs[1], map[string]string{"kind": "resource", "node": "node2", "rsc": vipGroup,
		"task": "start", "interval": "0", "target_rc": "0", "status": "0", "rc": "0", "exec_time": "*", "desc": "ok"})
	s0, _ := strconv.Atoi(envs[0]["CRM_alert_node_sequence"])
	s1, _ := strconv.Atoi(envs[1]["CRM_alert_node_sequence"])
	if s1 <= s0 {
		t.Errorf("node2: CRM_alert_node_sequence %d then %d", s0, s1)
	}

	m2 = n2.settle(t)
	c.Reboot("node1")
	n1.follow(t)
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("no failback to node1:\n%s", c.Probe.Output())
	}
	n2.wantAfter(t, m2, []string{"group"},
		"group "+vipGroup+"@node2 stopping (placed on node1)",
		"group "+vipGroup+"@node2 stopped (placed on node1) [stop rc=0]")
	n1.wantAfter(t, m1, []string{"group"},
		"group "+vipGroup+"@node1 starting (placed on this node)",
		"group "+vipGroup+"@node1 running (placed on this node) [start rc=0]")
	runs := n1.hookRuns()[m1.hook:]
	if len(runs) == 0 || runs[0].line != fmt.Sprintf("node node1@node1 up (lubdub started, generation %d)", runs[0].gen) || runs[0].seq != 1 {
		t.Errorf("node1's new daemon's first event: %+v", runs)
	}
	n1.wantAlerts(t, m1,
		"Node 'node1' is now 'member'",
		"Node 'node2' is now 'member'",
		"Resource operation 'start' for '"+vipGroup+"' on 'node1': ok")
	n2.wantAlerts(t, m2,
		"Node 'node1' is now 'member'",
		"Resource operation 'stop' for '"+vipGroup+"' on 'node2': ok")
	n1.settle(t)
	n2.settle(t)
	for _, r := range rigs {
		r.checkConsistent(t)
	}
}

// A standby: node1 reports the request and its stop, node2 its start. Then
// node2 is sent SIGHUP with a broken lubdub.cf, then a good one.
func TestEventsStandby(t *testing.T) {
	c, rigs := notifyCluster(t, nil)
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	n1, n2 := rigs["node1"], rigs["node2"]
	m1, m2 := n1.settle(t), n2.settle(t)
	// The live view on node1 follows the move. Its second screen is drawn
	// for the current state the daemon sent it (the interval is longer):
	// from then on it follows the events.
	watch, err := c.Nodes["node1"].Host.Start("node1-watch.log", e2ekit.CLI, "status", "--watch", "--interval", "5s", "--socket", c.Nodes["node1"].Sock)
	must(t, err)
	if !waitFor(4*time.Second, func() bool { return strings.Count(watch.Output(), "\x1b[H\x1b[2J") >= 2 }) {
		t.Fatalf("lubdub status --watch drew no screen for the daemon's current state:\n%s", watch.Output())
	}
	if o, e, code := c.Nodes["node1"].Host.Output(10*time.Second, e2ekit.CLI, "standby", "--socket", c.Nodes["node1"].Sock); code != 0 {
		t.Fatalf("standby: %s %s", o, e)
	}
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("standby did not move the service:\n%s", c.Probe.Output())
	}
	if !waitFor(10*time.Second, func() bool {
		frames := strings.Split(watch.Output(), "\x1b[H\x1b[2J")
		last := frames[len(frames)-1]
		return strings.Contains(last, "standby  all on node1: requested") && strings.Contains(last, "group    "+vipGroup+" on node1: stopped (was stopping") &&
			regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(vipGroup)+`\s+node1\s+node2\s+stopped`).MatchString(last)
	}) {
		frames := strings.Split(watch.Output(), "\x1b[H\x1b[2J")
		t.Errorf("lubdub status --watch on node1 did not show the move; its last screen:\n%s", frames[len(frames)-1])
	}
	must(t, watch.Signal(syscall.SIGTERM))
	n1.wantAfter(t, m1, eventKinds,
		"standby all@node1 requested",
		"group "+vipGroup+"@node1 stopping (standby all requested on node1)",
		"group "+vipGroup+"@node1 stopped (standby all requested on node1) [stop rc=0]")
	n2.wantAfter(t, m2, eventKinds,
		"group "+vipGroup+"@node2 starting (placed on this node)",
		"group "+vipGroup+"@node2 running (placed on this node) [start rc=0]")
	n1.wantAlerts(t, m1, "Resource operation 'stop' for '"+vipGroup+"' on 'node1': ok")
	n2.wantAlerts(t, m2, "Resource operation 'start' for '"+vipGroup+"' on 'node2': ok")
	envs := n1.envsAfter(t, m1, 1)
	envWant(t, "node1's resource alert", envs[0], map[string]string{"kind": "resource", "node": "node1", "rsc": vipGroup,
		"task": "stop", "interval": "0", "target_rc": "0", "status": "0", "rc": "0", "exec_time": "*", "desc": "ok"})

	// Reloads are events too: a broken lubdub.cf is refused, a good one
	// taken.
	nd := c.Nodes["node2"]
	cf := filepath.Join(nd.Dir, "lubdub.cf")
	good, err := os.ReadFile(cf)
	must(t, err)
	m2 = n2.settle(t)
	must(t, os.WriteFile(cf, append(append([]byte{}, good...), "max_restarts lots\n"...), 0o644))
	must(t, nd.Proc.Signal(syscall.SIGHUP))
	n2.wantAfter(t, m2, []string{"config"}, "config "+nd.Dir+"@node2 refused ("+cf+":*")
	m2 = n2.settle(t)
	must(t, os.WriteFile(cf, good, 0o644))
	must(t, nd.Proc.Signal(syscall.SIGHUP))
	n2.wantAfter(t, m2, []string{"config"}, "config "+nd.Dir+"@node2 reloaded")
	n1.settle(t)
	n2.settle(t)
	for _, r := range rigs {
		r.checkConsistent(t)
	}
}

// A failed start on node1: it reports the start's failure and ends
// failed; node2 takes the group.
func TestEventsFailedStart(t *testing.T) {
	c, rigs := notifyCluster(t, map[string]string{"websrv.fail": ""})
	if !c.Served("node2", 20*time.Second) {
		t.Fatalf("the service did not end up on node2:\n%s", c.Probe.Output())
	}
	n1, n2 := rigs["node1"], rigs["node2"]
	n1.wantAfter(t, mark{}, []string{"group"},
		"group "+vipGroup+"@node1 starting (placed on this node)",
		"group "+vipGroup+"@node1 stopping (start failed: starting websrv: *",
		"group "+vipGroup+"@node1 failed (start failed: starting websrv: *")
	n2.wantAfter(t, mark{}, []string{"group"},
		"group "+vipGroup+"@node2 starting (placed on this node)",
		"group "+vipGroup+"@node2 running (placed on this node) [start rc=0]")
	var ops []string
	for _, h := range n1.hookRuns() {
		if strings.HasPrefix(h.line, "group ") {
			ops = append(ops, h.op+" "+h.rc)
		}
	}
	if !slices.Equal(ops, []string{" ", "start 1", "stop 0"}) {
		t.Errorf("node1's group events' operations (LUBDUB_OP LUBDUB_RC): %q", ops)
	}
	n1.wantAlerts(t, mark{},
		"Node 'node1' is now 'member'",
		"Node 'node2' is now 'member'",
		"Resource operation 'start' for '"+vipGroup+"' on 'node1': error",
		"Resource operation 'stop' for '"+vipGroup+"' on 'node1': ok")
	var startEnv map[string]string
	for _, e := range n1.envsAfter(t, mark{}, 4) {
		if e["CRM_alert_task"] == "start" {
			startEnv = e
		}
	}
	envWant(t, "node1's failed start alert", startEnv, map[string]string{"kind": "resource", "node": "node1", "rsc": vipGroup,
		"task": "start", "interval": "0", "target_rc": "0", "status": "0", "rc": "1", "exec_time": "*", "desc": "error"})
	st, err := c.Nodes["node1"].Status()
	must(t, err)
	if st.Groups[0].Local != "failed" {
		t.Errorf("node1's state for the group is %q, want failed", st.Groups[0].Local)
	}
	n1.settle(t)
	n2.settle(t)
	for _, r := range rigs {
		r.checkConsistent(t)
	}
}

// A notify hook that hangs delays no failover: node2's hook hangs on
// every event (notify_timeout 10s), node1 crashes, and node2 serves
// within deadtime and a margin, long before the hook's first run is
// killed; each run is killed at its timeout, with what it started, and
// logged.
func TestEventsHangingHookDoesNotDelayFailover(t *testing.T) {
	var pids string
	rigs := map[string]*notifyRig{}
	prepare := withNotify(t, rigs, "10s")
	c := haSetupEach(t, "on", nil, func(n *node) {
		prepare(n)
		if n.Name == "node2" {
			pids = filepath.Join(n.Lab.Dir, "hang-pids.txt")
			hang := "#!/bin/sh\nsleep 600 &\necho $! >> " + pids + "\necho $$ >> " + pids + "\nexec sleep 600\n"
			must(t, os.WriteFile(filepath.Join(n.Lab.Dir, "node2-hook"), []byte(hang), 0o755))
		}
	})
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	time.Sleep(time.Second)
	crashed := time.Now()
	c.Crash("node1")
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("no takeover by node2:\n%s", c.Probe.Output())
	}
	took := time.Since(crashed)
	t.Logf("crash to node2 serving: %v; client-visible outage %v", took.Round(time.Millisecond), c.LastOutage())
	// deadtime is 400 ms, a takeover about 0.5 s (2 s on a loaded machine
	// with the race detector); the hook's runs queued before the crash
	// would hold one that waited for them several times 10 s.
	if took > 5*time.Second || c.LastOutage() > 5*time.Second {
		t.Errorf("the takeover took %v (outage %v): the hanging hook delayed it", took, c.LastOutage())
	}
	log := c.Nodes["node2"].Proc.Output
	if !waitFor(30*time.Second, func() bool {
		return strings.Count(log(), "ran longer than notify_timeout (10s) for event") >= 2
	}) {
		t.Fatalf("node2 did not log the hook's timeouts:\n%s", log())
	}
	b, _ := os.ReadFile(pids)
	ps := strings.Fields(string(b))
	if len(ps) < 4 {
		t.Fatalf("the hook recorded %d processes, want those of two runs at least", len(ps))
	}
	for _, p := range ps[:4] { // the first two runs: each a shell and its child
		pid, _ := strconv.Atoi(p)
		if syscall.Kill(pid, 0) == nil {
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(st), ") Z") {
				t.Errorf("process %d of a timed-out hook run still runs", pid)
			}
		}
	}
	// The agents, which do not hang, were not held up by the hook.
	rigs["node2"].wantAlerts(t, mark{},
		"Node 'node2' is now 'member'",
		"Node 'node1' is now 'member'",
		"Node 'node1' is now 'lost'",
		"Resource operation 'start' for '"+vipGroup+"' on 'node2': ok")
}
