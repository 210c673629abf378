package e2e

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/e2e/e2ekit"
	"github.com/lubdub/lubdub/internal/lab"
)

// The cl_status comparison: the same two-node cluster run by Heartbeat
// 3.0.6 and by lubdub, taken through the same states, each cl_status
// subcommand asked on every live node.
//
// Issue 12 case 7's haresources is "node1 198.18.9.10". Heartbeat answered
// exactly the rscstatus of clSteps with it, but Debian's IPaddr script
// fails in a lab namespace after 30 s ("Generic error"), so the live
// comparison uses IPaddr2 on the same address, which works and changes
// nothing in what cl_status says (the classes of groups, not their
// resources); the lubdub-only test uses the line itself.

const clHacf = "keepalive 500ms\ndeadtime 3000ms\nwarntime 1500ms\ninitdead 10000ms\nudpport 694\nbcast eth0\nauto_failback on\nnode node1 node2\n"
const clHaresources = "node1 IPaddr2::198.18.9.10/24/eth0\n"
const case7Haresources = "node1 198.18.9.10\n"
const clKeys = "auth 1\n1 sha1 cl-status-secret\n"

// clQueries are the cl_status subcommands compared in every state.
var clQueries = [][]string{
	{"hbstatus"},
	{"listnodes"},
	{"nodestatus", "node1"},
	{"nodestatus", "node2"},
	{"nodetype", "node1"},
	{"listhblinks", "node1"},
	{"listhblinks", "node2"},
	{"hblinkstatus", "node1", "eth0"},
	{"hblinkstatus", "node2", "eth0"},
	{"rscstatus"},
	{"hbparameter", "-p", "keepalive"},
	{"hbparameter", "-p", "deadtime"},
	{"hbparameter", "-p", "auto_failback"},
}

// clPair is a two-node cluster of one kind.
type clPair interface {
	cl(node string, args ...string) (string, int) // stdout (trimmed), exit code
	standby(node string) error
	takeover(node string) error
	crash(node string)
	restart(node string)
	running(node string) bool
}

// clStep is one state of the comparison.
type clStep struct {
	name string
	do   func(p clPair) error
	// settled says the state is reached, from each live node's rscstatus
	settled map[string]string
}

var clSteps = []clStep{
	{"healthy", nil, map[string]string{"node1": "local", "node2": "local"}},
	{"standby node1", func(p clPair) error { return p.standby("node1") }, map[string]string{"node1": "none", "node2": "all"}},
	{"takeover node1", func(p clPair) error { return p.takeover("node1") }, map[string]string{"node1": "all", "node2": "none"}},
	{"crash node2", func(p clPair) error { p.crash("node2"); return nil }, map[string]string{"node1": "all"}},
	{"return node2", func(p clPair) error { p.restart("node2"); return nil }, map[string]string{"node1": "local", "node2": "local"}},
	{"crash node1", func(p clPair) error { p.crash("node1"); return nil }, map[string]string{"node2": "all"}},
	{"return node1", func(p clPair) error { p.restart("node1"); return nil }, map[string]string{"node1": "local", "node2": "local"}},
}

// clAnswers is "node: cl_status args" -> "output (exit N)".
type clAnswers map[string]string

func collect(p clPair) clAnswers {
	a := clAnswers{}
	for _, n := range []string{"node1", "node2"} {
		if !p.running(n) {
			continue
		}
		for _, q := range clQueries {
			out, code := p.cl(n, q...)
			a[n+": cl_status "+strings.Join(q, " ")] = fmt.Sprintf("%q (exit %d)", out, code)
		}
	}
	return a
}

// runSteps takes the pair through clSteps and returns each state's
// answers. A state is settled when every live node's rscstatus is the
// step's, and its peer's status and the link are as the state implies.
func runSteps(t *testing.T, kind string, p clPair, steps []clStep) []clAnswers {
	var out []clAnswers
	for _, s := range steps {
		start := time.Now()
		if s.do != nil {
			if err := s.do(p); err != nil {
				t.Fatalf("%s: %s: %v", kind, s.name, err)
			}
		}
		last := ""
		settled := func() bool {
			ok := true
			seen := ""
			for _, n := range []string{"node1", "node2"} {
				if _, live := s.settled[n]; !live {
					continue
				}
				got, _ := p.cl(n, "rscstatus")
				seen += fmt.Sprintf(" %s:rsc=%s", n, got)
				ok = ok && got == s.settled[n]
				for _, other := range []string{"node1", "node2"} {
					wantStatus := "active"
					if _, live := s.settled[other]; !live {
						wantStatus = "dead"
					}
					got, _ := p.cl(n, "nodestatus", other)
					seen += fmt.Sprintf(",%s=%s", other, got)
					ok = ok && got == wantStatus
				}
			}
			if seen != last {
				t.Logf("%s: %s: %5.1fs%s", kind, s.name, time.Since(start).Seconds(), seen)
				last = seen
			}
			return ok
		}
		if !waitForEvery(60*time.Second, 200*time.Millisecond, settled) {
			t.Fatalf("%s: %s: not settled within 60s: %v", kind, s.name, collect(p))
		}
		// Stable: still so a keepalive later (no transition under way).
		time.Sleep(time.Second)
		if !settled() {
			t.Fatalf("%s: %s: did not stay settled: %v", kind, s.name, collect(p))
		}
		t.Logf("%s: %s settled in %v", kind, s.name, time.Since(start).Round(100*time.Millisecond))
		out = append(out, collect(p))
	}
	return out
}

// waitForEvery polls cond every interval until it holds or timeout passes.
func waitForEvery(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(interval)
	}
	return cond()
}

// clTopology is two hosts on 198.18.9.0/24.
func clTopology(t *testing.T) (*lab.Lab, map[string]*lab.Host) {
	l := newLab(t)
	must(t, l.Segment("br0", 9))
	return l, map[string]*lab.Host{"node1": addHost(t, l, "node1", 1, "br0"), "node2": addHost(t, l, "node2", 2, "br0")}
}

// hbPair is Debian's Heartbeat 3.0.6 on both nodes.
type hbPair struct {
	hosts map[string]*lab.Host
	hbs   map[string]*lab.Heartbeat
}

func newHBPair(t *testing.T) *hbPair {
	_, hosts := clTopology(t)
	p := &hbPair{hosts: hosts, hbs: map[string]*lab.Heartbeat{}}
	for _, n := range []string{"node1", "node2"} {
		hb, err := hosts[n].PrepareHeartbeat(n, map[string]string{"ha.cf": clHacf, "authkeys": clKeys, "haresources": clHaresources})
		must(t, err)
		p.hbs[n] = hb
		t.Cleanup(func() { hb.Stop(20 * time.Second) })
	}
	for _, n := range []string{"node1", "node2"} {
		must(t, p.hbs[n].Start(n+"-heartbeat.log"))
	}
	return p
}

func (p *hbPair) cl(node string, args ...string) (string, int) {
	return p.hbs[node].Exec("cl_status", args...)
}
func (p *hbPair) standby(node string) error { return p.hbExec(node, "/usr/share/heartbeat/hb_standby") }
func (p *hbPair) takeover(node string) error {
	return p.hbExec(node, "/usr/share/heartbeat/hb_takeover")
}
func (p *hbPair) hbExec(node, cmd string) error {
	if out, code := p.hbs[node].Exec(cmd, "all"); code != 0 {
		return fmt.Errorf("%s all: %s (exit %d)", cmd, out, code)
	}
	return nil
}
func (p *hbPair) crash(node string) {
	p.hosts[node].Cut("eth0")
	p.hbs[node].Proc.KillGroup(syscall.SIGKILL)
	p.hosts[node].KillByName("heartbeat")
	p.hbs[node].Proc.Wait(5 * time.Second)
}
func (p *hbPair) restart(node string) {
	// A crashed node comes back without the address it held.
	p.hosts[node].Output(5*time.Second, "ip", "addr", "del", "198.18.9.10/24", "dev", "eth0")
	p.hosts[node].Heal("eth0")
	p.hbs[node].Start(node + "-heartbeat.log")
}
func (p *hbPair) running(node string) bool {
	return p.hbs[node].Proc != nil && p.hbs[node].Proc.Running()
}

// lubPair is lubdub on both nodes.
type lubPair struct {
	t     *testing.T
	nodes map[string]*node
}

func newLubPair(t *testing.T, haresources string) *lubPair {
	l, hosts := clTopology(t)
	p := &lubPair{t: t, nodes: map[string]*node{}}
	for _, n := range []string{"node1", "node2"} {
		nd := setupNode(t, l, hosts[n], n, clHacf, clKeys)
		must(t, os.WriteFile(nd.Dir+"/haresources", []byte(haresources), 0o644))
		p.nodes[n] = nd
	}
	for _, n := range []string{"node1", "node2"} {
		p.nodes[n].Start(t)
	}
	return p
}

func (p *lubPair) cl(node string, args ...string) (string, int) {
	n := p.nodes[node]
	out, _, code := n.Host.Output(10*time.Second, e2ekit.CLI, append([]string{"cl_status", "--socket", n.Sock}, args...)...)
	return strings.TrimSpace(out), code
}
func (p *lubPair) standby(node string) error  { return p.cmd(node, "standby") }
func (p *lubPair) takeover(node string) error { return p.cmd(node, "takeover") }
func (p *lubPair) cmd(node, c string) error {
	n := p.nodes[node]
	if out, errOut, code := n.Host.Output(10*time.Second, e2ekit.CLI, c, "--socket", n.Sock, "all"); code != 0 {
		return fmt.Errorf("lubdub %s all: %s%s (exit %d)", c, out, errOut, code)
	}
	return nil
}
func (p *lubPair) crash(node string) {
	n := p.nodes[node]
	n.Host.Cut("eth0")
	n.Proc.KillGroup(syscall.SIGKILL)
	n.Proc.Wait(5 * time.Second)
}
func (p *lubPair) restart(node string) {
	n := p.nodes[node]
	n.Host.Heal("eth0")
	n.Start(p.t)
}
func (p *lubPair) running(node string) bool { return p.nodes[node].Proc.Running() }

// diffAnswers lists the queries whose answers differ.
func diffAnswers(hb, lub clAnswers) []string {
	var d []string
	keys := make([]string, 0, len(hb))
	for k := range hb {
		keys = append(keys, k)
	}
	for k := range lub {
		if _, ok := hb[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if hb[k] != lub[k] {
			d = append(d, fmt.Sprintf("%s: heartbeat %s, lubdub %s", k, orMissing(hb[k]), orMissing(lub[k])))
		}
	}
	return d
}

func orMissing(s string) string {
	if s == "" {
		return "(not asked: node down)"
	}
	return s
}

// Differential: a live Heartbeat pair and a live lubdub pair answer every
// cl_status subcommand alike, state by state. CI takes them through the
// first five states (about 1.5 min, most of it Heartbeat's); with
// LUBDUB_CLDIFF=full also through the crash and return of node1 (about
// 3.5 min).
func TestClStatusDifferentialHeartbeat(t *testing.T) {
	needHeartbeat(t)
	steps := clSteps[:5]
	if os.Getenv("LUBDUB_CLDIFF") == "full" {
		steps = clSteps
	}
	hbAnswers := runSteps(t, "heartbeat", newHBPair(t), steps)
	lubAnswers := runSteps(t, "lubdub", newLubPair(t, clHaresources), steps)
	for i, s := range steps {
		for _, d := range diffAnswers(hbAnswers[i], lubAnswers[i]) {
			t.Errorf("%s: %s", s.name, d)
		}
	}
	if t.Failed() || testing.Verbose() {
		for i, s := range steps {
			keys := make([]string, 0, len(hbAnswers[i]))
			for k := range hbAnswers[i] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				t.Logf("heartbeat %s | %s = %s", s.name, k, hbAnswers[i][k])
			}
		}
	}
}

// heartbeatAnswer is what Heartbeat 3.0.6's cl_status answered on a live
// pair (TestClStatusDifferentialHeartbeat) in state step on node, to
// query: the output (trimmed) and the exit code.
func heartbeatAnswer(step clStep, node string, query []string) string {
	answer := func(out string, code int) string { return fmt.Sprintf("%q (exit %d)", out, code) }
	state := func(n, live, dead string) string {
		if _, ok := step.settled[n]; ok {
			return answer(live, 0)
		}
		return answer(dead, 1)
	}
	switch q := strings.Join(query, " "); q {
	case "hbstatus":
		return answer("Heartbeat is running on this machine.", 0)
	case "listnodes":
		return answer("node2\nnode1", 0)
	case "nodestatus node1", "nodestatus node2":
		return state(query[1], "active", "dead")
	case "nodetype node1":
		return answer("normal", 0)
	case "listhblinks node1", "listhblinks node2":
		return answer("eth0", 0)
	case "hblinkstatus node1 eth0", "hblinkstatus node2 eth0":
		return state(query[1], "up", "dead")
	case "rscstatus":
		return answer(step.settled[node], 0)
	case "hbparameter -p keepalive":
		return answer("500ms", 0)
	case "hbparameter -p deadtime":
		return answer("3000ms", 0)
	case "hbparameter -p auto_failback":
		return answer("on", 0)
	}
	panic("no recorded answer for " + strings.Join(query, " "))
}

// lubdub answers every cl_status subcommand with the values Heartbeat
// 3.0.6 gave on a live pair, state by state, with issue 12 case 7's
// haresources ("node1 198.18.9.10"): rscstatus is local on both healthy
// nodes, all on a node that took the other's class (standby, takeover,
// crash), none on the node that gave everything away.
func TestClStatusStateByState(t *testing.T) {
	answers := runSteps(t, "lubdub", newLubPair(t, case7Haresources), clSteps)
	for i, s := range clSteps {
		want := clAnswers{}
		for _, n := range []string{"node1", "node2"} {
			if _, live := s.settled[n]; !live {
				continue
			}
			for _, q := range clQueries {
				want[n+": cl_status "+strings.Join(q, " ")] = heartbeatAnswer(s, n, q)
			}
		}
		for _, d := range diffAnswers(want, answers[i]) {
			t.Errorf("%s: %s", s.name, strings.Replace(d, "heartbeat", "heartbeat said", 1))
		}
	}
}
