package e2ekit

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"
)

// VIP is the address the seed's cluster shares.
const VIP = "198.18.0.10"

// Websrv is a Heartbeat resource.d script: an HTTP server on port 80
// whose page names the node that serves it.
//
//go:embed websrv
var Websrv []byte

// HASpec says how HASetup builds a cluster; the zero value is the seed's.
type HASpec struct {
	// Nodes are the nodes' names, in ha.cf order (node1 node2).
	Nodes []string
	// AutoFailback is ha.cf's auto_failback (on).
	AutoFailback string
	// Media is how many segments carry heartbeats: 1 (bcast eth0) or 2
	// (bcast eth0 and eth1; the client is on eth0's segment only).
	Media int
	// Haresources is the haresources file (node1 holding the VIP and
	// websrv).
	Haresources string
	// LubdubCf are lines added to every node's lubdub.cf.
	LubdubCf []string
	// Node1Files are files written into node1's configuration directory.
	Node1Files map[string]string
	// Prepare, if set, is called for each node once its configuration
	// directory is written, before any node starts.
	Prepare func(*Node)
	// Fence gives every node a simulated BMC (ipmi_sim, lab.AddBMC) that
	// the others fence it through with fence_ipmilan (fence_device lines
	// in lubdub.cf); its power-off kills the node's daemon and cuts its
	// link. The test is skipped where the tools are missing.
	Fence bool
	// Ping adds a router (PingRouter, on the nodes' segment) and makes it
	// the nodes' ping node (ha.cf's ping line): the tie-breaker.
	Ping bool
	// CheckVIP fails the test at its end if two nodes whose link is up held
	// the VIP at once, or the client's ARP entry named a node that did not
	// hold it (Problems).
	CheckVIP bool
}

// HACluster is the seed's scenario: nodes sharing a VIP and a web server
// that says which node serves, and a client on the same segment polling
// the VIP.
type HACluster struct {
	T      *testing.T
	Lab    *lab.Lab
	Nodes  map[string]*Node
	Names  []string
	Client *lab.Host
	Probed
	// Watch samples the nodes' addresses and the client's ARP entry every
	// 10 ms.
	Watch *Oracle
	// BMCs are the nodes' simulated BMCs (HASpec.Fence).
	BMCs map[string]*lab.BMC
}

// Probed is a cluster whose client polls the VIP (lubdub probe).
type Probed struct{ Probe *lab.Proc }

// PingRouter is the router of HASpec.Ping.
const PingRouter = "198.18.0.200"

// HASetup builds the cluster and starts it: the daemons, the watch and
// the client's probe (every 20 ms, 300 ms timeout).
func HASetup(t *testing.T, spec HASpec) *HACluster {
	t.Helper()
	if spec.Nodes == nil {
		spec.Nodes = []string{"node1", "node2"}
	}
	if spec.AutoFailback == "" {
		spec.AutoFailback = "on"
	}
	if spec.Haresources == "" {
		spec.Haresources = "node1 IPaddr2::" + VIP + "/24/eth0 websrv\n"
	}
	l := NewLab(t)
	segments := []string{"br0"}
	media := "bcast eth0\n"
	Must(t, l.Segment("br0", 0))
	if spec.Media == 2 {
		Must(t, l.Segment("br1", 1))
		segments = append(segments, "br1")
		media = "bcast eth0 eth1\n"
	}
	c := &HACluster{T: t, Lab: l, Nodes: map[string]*Node{}, Names: spec.Nodes}
	hacf := FastTimings + media + "auto_failback " + spec.AutoFailback + "\nnode " + strings.Join(spec.Nodes, " ") + "\n"
	if spec.Ping {
		AddHost(t, l, "router", 200, "br0")
		hacf += "ping " + PingRouter + "\n"
	}
	var hosts []*lab.Host
	lubdubCf := "monitor_interval 500ms\nstart_timeout 5s\nstop_timeout 5s\n" + strings.Join(spec.LubdubCf, "")
	if spec.Fence {
		for _, p := range []string{lab.IPMISimBin, "/usr/bin/ipmitool", "/usr/sbin/fence_ipmilan"} {
			if _, err := os.Stat(p); err != nil {
				t.Skipf("%s is missing: apt-get install openipmi ipmitool fence-agents (scripts/test installs them as root)", p)
			}
		}
		c.BMCs = map[string]*lab.BMC{}
	}
	for i, name := range spec.Nodes {
		h := AddHost(t, l, name, i+1, segments...)
		n := SetupNode(t, l, h, name, hacf, SHA256Keys)
		if spec.Fence {
			b, err := l.AddBMC("bmc"+name, 11+i, "br0", h, "eth0")
			Must(t, err)
			c.BMCs[name] = b
			lubdubCf += fmt.Sprintf("fence_device ipmi-%s fence_ipmilan ip=%s username=%s password=%s lanplus=1 cipher=3 pcmk_host_list=%s\n", name, b.Addr, b.User, b.Password, name)
		}
		c.Nodes[name] = n
		hosts = append(hosts, n.Host)
	}
	for _, name := range spec.Nodes {
		n := c.Nodes[name]
		Must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"), []byte(spec.Haresources), 0o644))
		Must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte(lubdubCf), 0o600)) // it may hold passwords
		Must(t, os.MkdirAll(filepath.Join(n.Dir, "resource.d"), 0o755))
		Must(t, os.WriteFile(filepath.Join(n.Dir, "resource.d", "websrv"), Websrv, 0o755))
		if name == "node1" {
			for f, body := range spec.Node1Files {
				Must(t, os.WriteFile(filepath.Join(n.Dir, f), []byte(body), 0o644))
			}
		}
		if spec.Prepare != nil {
			spec.Prepare(n)
		}
	}
	c.Client = AddHost(t, l, "client", 100, "br0")
	if spec.CheckVIP {
		c.Watch = WatchVIP(t, hosts, c.Client, VIP)
	} else {
		o, err := StartOracle(hosts, c.Client, VIP, 10*time.Millisecond)
		Must(t, err)
		t.Cleanup(o.Stop)
		c.Watch = o
	}
	if spec.Fence {
		c.Watch.SetCarrierCut(true) // a fenced node's link is cut by its BMC
	}
	for _, name := range spec.Nodes {
		c.Nodes[name].Start(t)
		if spec.Fence {
			Must(t, c.BMCs[name].Guard(c.Nodes[name].Proc.Pid()))
		}
	}
	p, err := c.Client.Start("probe.log", Bin, "probe", "--interval", "20ms", "--timeout", "300ms", "http://"+VIP+"/")
	Must(t, err)
	c.Probe = p
	return c
}

// Served waits until the client is served by the given node.
func (c *Probed) Served(by string, timeout time.Duration) bool {
	return WaitFor(timeout, func() bool { return probe.ServedBy(c.Probe.Output(), by) })
}

// LastOutage is the outage the probe reported when service came back.
func (c *Probed) LastOutage() time.Duration {
	o := probe.Outages(c.Probe.Output())
	if len(o) == 0 {
		return 0
	}
	return o[len(o)-1]
}

// Owner is the owner of the first group as node on sees it.
func (c *HACluster) Owner(on string) string {
	s, err := c.Nodes[on].Status()
	if err != nil || len(s.Groups) == 0 {
		return ""
	}
	return s.Groups[0].Owner
}

// Crash kills a node's daemon and cuts its link, as a machine that died.
func (c *HACluster) Crash(name string) {
	c.Watch.SetCut(name, true)
	Must(c.T, c.Nodes[name].Host.Cut("eth0"))
	Must(c.T, c.Nodes[name].Proc.Signal(syscall.SIGKILL))
	c.Nodes[name].Proc.Wait(5 * time.Second)
}

// Reboot brings a crashed node back: its daemon starts (and clears what
// the dead one left) while its link is still down, then the link returns.
func (c *HACluster) Reboot(name string) {
	n := c.Nodes[name]
	n.Start(c.T)
	if !WaitFor(10*time.Second, func() bool { _, err := n.Status(); return err == nil }) {
		c.T.Fatalf("%s's daemon did not come up", name)
	}
	Must(c.T, n.Host.Heal("eth0"))
	c.Watch.SetCut(name, false)
}

// CrashOver waits for node1 to serve, crashes it and waits for node2 to
// take the service over.
func (c *HACluster) CrashOver(t *testing.T) {
	t.Helper()
	if !c.Served("node1", 15*time.Second) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	c.Crash("node1")
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("no takeover by node2:\n%s", c.Probe.Output())
	}
}
