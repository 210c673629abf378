package e2ekit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/lab"
)

// FastTimings are the ha.cf timings of most end-to-end tests.
const FastTimings = "keepalive 100ms\ndeadtime 400ms\nwarntime 250ms\ninitdead 3\n"

// SHA256Keys is the authkeys file of most end-to-end tests.
const SHA256Keys = "auth 1\n1 sha256 lubdub-e2e-secret\n"

// Node is one lubdub node of a test cluster.
type Node struct {
	Name  string
	Host  *lab.Host
	Dir   string // configuration directory
	State string // state directory
	Sock  string // control socket
	Proc  *lab.Proc
	Lab   *lab.Lab
	// Wrap, if set, is put before the daemon's command line when it
	// starts (a program that runs it: unshare --time ...).
	Wrap []string
}

// SetupNode writes a node's configuration directory.
func SetupNode(t *testing.T, l *lab.Lab, h *lab.Host, name, hacf, authkeys string) *Node {
	t.Helper()
	n := &Node{Name: name, Host: h, Lab: l,
		Dir:   filepath.Join(l.Dir, name+"-ha.d"),
		State: filepath.Join(l.Dir, name+"-state"),
		Sock:  filepath.Join(l.Dir, name+".sock")}
	Must(t, os.MkdirAll(n.Dir, 0o755))
	Must(t, os.WriteFile(filepath.Join(n.Dir, "ha.cf"), []byte(hacf), 0o644))
	Must(t, os.WriteFile(filepath.Join(n.Dir, "authkeys"), []byte(authkeys), 0o600))
	return n
}

// Start starts the node's daemon, its output in NAME.log.
func (n *Node) Start(t *testing.T) {
	t.Helper()
	args := append(n.Wrap[:len(n.Wrap):len(n.Wrap)], Bin, "run", "-c", n.Dir, "--node", n.Name,
		"--state-dir", n.State, "--socket", n.Sock)
	p, err := n.Host.Start(n.Name+".log", args[0], args[1:]...)
	Must(t, err)
	n.Proc = p
}

// Status asks the node's daemon for its status.
func (n *Node) Status() (*control.Status, error) {
	r, err := control.Call(n.Sock, control.Request{Cmd: "status"}, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return r.Status, nil
}

// View returns what n sees of other.
func (n *Node) View(other string) (control.Node, bool) {
	s, err := n.Status()
	if err != nil {
		return control.Node{}, false
	}
	for _, v := range s.Nodes {
		if v.Name == other {
			return v, true
		}
	}
	return control.Node{}, false
}

// ClStatus runs "lubdub cl_status ARGS" in the node's namespace.
func (n *Node) ClStatus(args ...string) (string, int) {
	out, errOut, code := n.Host.Output(10*time.Second, Bin, append([]string{"cl_status", "--socket", n.Sock}, args...)...)
	return out + errOut, code
}

// Lubdub runs a lubdub command (its first argument) against the node's
// daemon.
func (n *Node) Lubdub(args ...string) (string, string, int) {
	cmd := append([]string{args[0], "--socket", n.Sock}, args[1:]...)
	return n.Host.Output(20*time.Second, CLI, cmd...)
}

// Group is the node's status of its first group.
func (n *Node) Group(t *testing.T) control.Group {
	t.Helper()
	s, err := n.Status()
	if err != nil || len(s.Groups) == 0 {
		t.Fatalf("%s's status: %v", n.Name, err)
	}
	return s.Groups[0]
}

// HoldsVIP reports whether the node has the VIP on eth0.
func (n *Node) HoldsVIP() bool {
	o, _, _ := n.Host.Output(2*time.Second, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	return strings.Contains(o, " "+VIP+"/")
}

// DropHeartbeats drops (or lets through again) UDP 694 both ways in the
// node's namespace, a partition that leaves every other packet alone.
func (n *Node) DropHeartbeats(t *testing.T, drop bool) {
	t.Helper()
	n.Filter(t, "ldbpartition", drop, map[string]string{"input": "udp dport 694 drop", "output": "udp dport 694 drop"})
}

// Filter adds (or deletes) an nftables table of the inet family in the
// node's namespace, with a filter chain for each hook in rules holding
// that rule (rules["input"] = "udp dport 694 drop", say), in one
// transaction: the fault starts at one moment.
func (n *Node) Filter(t *testing.T, table string, add bool, rules map[string]string) {
	t.Helper()
	if !add {
		RunIn(t, n.Host, "nft", "delete", "table", "inet", table)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", table)
	for _, hook := range []string{"input", "output"} {
		if r := rules[hook]; r != "" {
			fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority 0;\n\t\t%s\n\t}\n", hook, hook, r)
		}
	}
	b.WriteString("}\n")
	f := filepath.Join(n.Lab.Dir, n.Name+"-"+table+".nft")
	Must(t, os.WriteFile(f, []byte(b.String()), 0o644))
	RunIn(t, n.Host, "nft", "-f", f)
}

// AllActive reports whether every named node lists every other as active.
func AllActive(nodes map[string]*Node, names []string) bool {
	for _, on := range names {
		for _, other := range names {
			v, ok := nodes[on].View(other)
			if !ok || v.Status != "active" {
				return false
			}
		}
	}
	return true
}
