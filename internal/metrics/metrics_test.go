package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sample is a node1's view of a two-node cluster: the web group running
// here in maintenance, a failure, node2 dead and being fenced.
func sample() *control.Status {
	return &control.Status{
		Node: "node1", Started: t0, Now: t0.Add(time.Hour), ConfigLoaded: t0.Add(time.Minute), ReloadFailed: true,
		Nodes: []control.Node{
			{Name: "node1", Type: "normal", Status: "active", Local: true, Generation: 7, Links: []control.Link{{Name: "eth0", Status: "up"}}},
			{Name: "node2", Type: "normal", Status: "dead", Generation: 3, Links: []control.Link{{Name: "eth0", Status: "dead", Heartbeats: 41}, {Name: "eth1", Status: "dead", Heartbeats: 40}}},
		},
		PingNodes: []control.Node{{Name: "198.18.0.254", Type: "ping", Status: "ping", Links: []control.Link{{Name: "198.18.0.254", Status: "up"}}}},
		Groups: []control.Group{{
			ID: "IPaddr2::198.18.0.10/24/eth0", Preferred: "node1", Owner: "node1", Local: "running",
			Nodes: map[string]string{"node1": "running"}, Resources: []string{"IPaddr2::198.18.0.10/24/eth0", "websrv"},
			VIPs: []control.VIP{{Address: "198.18.0.10", Iface: "eth0"}}, Maintenance: []string{"node1"},
			FailCount: 2, LastFailure: &control.Failure{At: t0.Add(30 * time.Minute), Op: "monitor", Detail: "websrv is stopped"},
			Failures: map[string]uint64{"monitor": 2}, Restarts: 2, Transitions: map[string]uint64{"starting": 1, "running": 3, "stopping": 2, "stopped": 2},
			LastTransition: t0.Add(31 * time.Minute),
		}},
		Media:          []control.Medium{{Name: "eth0", Type: "bcast", State: "open"}, {Name: "eth1", Type: "ucast", State: "failed"}},
		Drops:          map[string]uint64{"bad-digest": 3},
		Votes:          control.Votes{Quorate: true, Votes: 1, Expected: 2, Needed: 1},
		FencingEnabled: true, Fencing: map[string]string{"node2": "fencing (try 2)"},
		Fencings:       map[string]map[string]uint64{"node2": {"failure": 1}},
		HeartbeatsSent: map[string]uint64{"eth0": 100, "eth1": 99},
		MaxRestarts:    3,
	}
}

func sampleLVS() *lvs.Table {
	return &lvs.Table{Services: []*lvs.Service{
		{Key: lvs.Key{Proto: "TCP", Addr: netip.MustParseAddrPort("198.18.0.10:80")}, Scheduler: "rr", Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 5000, OutBytes: 90000,
			Dests: []*lvs.Dest{
				{Addr: netip.MustParseAddrPort("198.18.1.2:80"), Fwd: lvs.Masq, Weight: 1, ActiveConn: 2, InActConn: 1, Conns: 6, InPkts: 60, OutPkts: 50, InBytes: 3000, OutBytes: 50000},
				{Addr: netip.MustParseAddrPort("198.18.1.3:80"), Fwd: lvs.Masq, Weight: 0, Conns: 4, InPkts: 40, OutPkts: 40, InBytes: 2000, OutBytes: 40000},
			}},
		{Key: lvs.Key{Proto: "FWM", FWMark: 100}, Scheduler: "wlc", Conns: 1, Dests: []*lvs.Dest{{Addr: netip.MustParseAddrPort("198.18.1.2:0"), Fwd: lvs.Route, Weight: 3, Conns: 1}}},
	}}
}

func registry(st *control.Status, err error) *Source {
	return &Source{Status: func() (*control.Status, error) { return st, err },
		LVS: func() (*lvs.Table, string, error) { return sampleLVS(), "nftables", nil }, Version: "0.1.0"}
}

// The series carry the status as it is, in the exporters' label shapes.
func TestSeries(t *testing.T) {
	reg := NewRegistry(*registry(sample(), nil))
	want := `
# HELP lubdub_nodes Cluster nodes as this node sees them; one series per status (init, up, active, dead, fencing, maintenance; ping nodes: init, ping, dead), 1 for the node's status.
# TYPE lubdub_nodes gauge
lubdub_nodes{node="198.18.0.254",status="dead",type="ping"} 0
lubdub_nodes{node="198.18.0.254",status="init",type="ping"} 0
lubdub_nodes{node="198.18.0.254",status="ping",type="ping"} 1
lubdub_nodes{node="node1",status="active",type="normal"} 1
lubdub_nodes{node="node1",status="dead",type="normal"} 0
lubdub_nodes{node="node1",status="fencing",type="normal"} 0
lubdub_nodes{node="node1",status="init",type="normal"} 0
lubdub_nodes{node="node1",status="maintenance",type="normal"} 1
lubdub_nodes{node="node1",status="up",type="normal"} 0
lubdub_nodes{node="node2",status="active",type="normal"} 0
lubdub_nodes{node="node2",status="dead",type="normal"} 0
lubdub_nodes{node="node2",status="fencing",type="normal"} 1
lubdub_nodes{node="node2",status="init",type="normal"} 0
lubdub_nodes{node="node2",status="maintenance",type="normal"} 0
lubdub_nodes{node="node2",status="up",type="normal"} 0
# HELP lubdub_vip_held Whether this node holds each group's virtual IP address (its group running, stopping or blocked here): sum by ip_address across nodes should be 1.
# TYPE lubdub_vip_held gauge
lubdub_vip_held{group="IPaddr2::198.18.0.10/24/eth0",intf="eth0",ip_address="198.18.0.10",node="node1"} 1
# HELP lubdub_heartbeats_received_total Heartbeats this node received, per link and sending node.
# TYPE lubdub_heartbeats_received_total counter
lubdub_heartbeats_received_total{link="eth0",node="node2"} 41
lubdub_heartbeats_received_total{link="eth1",node="node2"} 40
# HELP lubdub_failcount Each group's fail count on this node (failures since the last cleanup, or failure_timeout ago), as Pacemaker's fail-count.
# TYPE lubdub_failcount gauge
lubdub_failcount{node="node1",resource="IPaddr2::198.18.0.10/24/eth0"} 2
# HELP lubdub_group_transitions_total Entries of each group into each state on this node.
# TYPE lubdub_group_transitions_total counter
lubdub_group_transitions_total{group="IPaddr2::198.18.0.10/24/eth0",state="blocked"} 0
lubdub_group_transitions_total{group="IPaddr2::198.18.0.10/24/eth0",state="failed"} 0
lubdub_group_transitions_total{group="IPaddr2::198.18.0.10/24/eth0",state="running"} 3
lubdub_group_transitions_total{group="IPaddr2::198.18.0.10/24/eth0",state="starting"} 1
lubdub_group_transitions_total{group="IPaddr2::198.18.0.10/24/eth0",state="stopped"} 2
lubdub_group_transitions_total{group="IPaddr2::198.18.0.10/24/eth0",state="stopping"} 2
# HELP lubdub_resources Resources per node in ha_cluster_exporter's shape: one series per status (active, blocked, failed), 1 for the current one; role is the group's state.
# TYPE lubdub_resources gauge
lubdub_resources{group="IPaddr2::198.18.0.10/24/eth0",managed="false",node="node1",resource="IPaddr2::198.18.0.10/24/eth0",role="started",status="active"} 1
lubdub_resources{group="IPaddr2::198.18.0.10/24/eth0",managed="false",node="node1",resource="IPaddr2::198.18.0.10/24/eth0",role="started",status="blocked"} 0
lubdub_resources{group="IPaddr2::198.18.0.10/24/eth0",managed="false",node="node1",resource="IPaddr2::198.18.0.10/24/eth0",role="started",status="failed"} 0
lubdub_resources{group="IPaddr2::198.18.0.10/24/eth0",managed="false",node="node1",resource="websrv",role="started",status="active"} 1
lubdub_resources{group="IPaddr2::198.18.0.10/24/eth0",managed="false",node="node1",resource="websrv",role="started",status="blocked"} 0
lubdub_resources{group="IPaddr2::198.18.0.10/24/eth0",managed="false",node="node1",resource="websrv",role="started",status="failed"} 0
# HELP lubdub_config_last_reload_successful Whether the last reload was accepted: 1 yes, 0 refused (the configuration before it stays in force).
# TYPE lubdub_config_last_reload_successful gauge
lubdub_config_last_reload_successful 0
# HELP lubdub_quorum_votes Quorum votes of this node's partition: total_votes, expected_votes (nodes in ha.cf) and quorum (votes needed).
# TYPE lubdub_quorum_votes gauge
lubdub_quorum_votes{type="expected_votes"} 2
lubdub_quorum_votes{type="quorum"} 1
lubdub_quorum_votes{type="total_votes"} 1
# HELP lubdub_medium_open This node's configured media: 1 open, 0 failed or closed.
# TYPE lubdub_medium_open gauge
lubdub_medium_open{link="eth0",type="bcast"} 1
lubdub_medium_open{link="eth1",type="ucast"} 0
# HELP node_ipvs_backend_connections_active The current active connections by local and remote address.
# TYPE node_ipvs_backend_connections_active gauge
node_ipvs_backend_connections_active{local_address="",local_mark="00000064",local_port="0",proto="FWM",remote_address="198.18.1.2",remote_port="0"} 0
node_ipvs_backend_connections_active{local_address="198.18.0.10",local_mark="",local_port="80",proto="TCP",remote_address="198.18.1.2",remote_port="80"} 2
node_ipvs_backend_connections_active{local_address="198.18.0.10",local_mark="",local_port="80",proto="TCP",remote_address="198.18.1.3",remote_port="80"} 0
# HELP node_ipvs_incoming_bytes_total The total amount of incoming data.
# TYPE node_ipvs_incoming_bytes_total counter
node_ipvs_incoming_bytes_total 5000
# HELP lubdub_lvs_backend_outgoing_bytes_total Bytes out of each real server.
# TYPE lubdub_lvs_backend_outgoing_bytes_total counter
lubdub_lvs_backend_outgoing_bytes_total{local_address="",local_mark="00000064",local_port="0",proto="FWM",remote_address="198.18.1.2",remote_port="0"} 0
lubdub_lvs_backend_outgoing_bytes_total{local_address="198.18.0.10",local_mark="",local_port="80",proto="TCP",remote_address="198.18.1.2",remote_port="80"} 50000
lubdub_lvs_backend_outgoing_bytes_total{local_address="198.18.0.10",local_mark="",local_port="80",proto="TCP",remote_address="198.18.1.3",remote_port="80"} 40000
`
	names := []string{"lubdub_nodes", "lubdub_vip_held", "lubdub_heartbeats_received_total", "lubdub_failcount", "lubdub_group_transitions_total",
		"lubdub_resources", "lubdub_config_last_reload_successful", "lubdub_quorum_votes", "lubdub_medium_open",
		"node_ipvs_backend_connections_active", "node_ipvs_incoming_bytes_total", "lubdub_lvs_backend_outgoing_bytes_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// The endpoint's text passes promtool check metrics; a status that cannot
// be read fails the scrape (so Prometheus marks the target down) and other
// paths are not found.
func TestEndpoint(t *testing.T) {
	src := registry(sample(), nil)
	srv, err := Listen("127.0.0.1:0", Handler(NewRegistry(*src), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	body, code := get(t, "http://"+srv.Addr()+"/metrics")
	if code != 200 || !strings.Contains(body, `lubdub_build_info{goversion="`) {
		t.Fatalf("scrape: %d\n%s", code, body)
	}
	if promtool, err := lab.Promtool(); err != nil {
		t.Logf("promtool check metrics not run: %v", err)
	} else {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
	if _, code := get(t, "http://"+srv.Addr()+"/nothing"); code != 404 {
		t.Errorf("/nothing: %d", code)
	}
	bad, err := Listen("127.0.0.1:0", Handler(NewRegistry(*registry(nil, errors.New("daemon busy"))), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if body, code := get(t, "http://"+bad.Addr()+"/metrics"); code != 500 || !strings.Contains(body, "daemon busy") {
		t.Errorf("scrape without a status: %d %s", code, body)
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b), r.StatusCode
}
