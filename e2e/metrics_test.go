package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
)

const metricsPort = "9464"

// scrape fetches a node's metrics from inside its namespace.
func scrape(t *testing.T, n *node) string {
	t.Helper()
	out, errOut, code := n.Host.Output(5*time.Second, "curl", "-sS", "--max-time", "3", "http://127.0.0.1:"+metricsPort+"/metrics")
	if code != 0 {
		t.Fatalf("scraping %s: exit %d: %s", n.Name, code, errOut)
	}
	return out
}

// metricValue is the value of the one series of name whose labels include
// every given label="value"; -1 when there is none.
func metricValue(t *testing.T, body, name string, labels ...string) float64 {
	t.Helper()
	found := -1.0
	for _, l := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(l, name)
		if !ok || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		match := true
		for _, lab := range labels {
			match = match && strings.Contains(rest, lab)
		}
		if !match {
			continue
		}
		if found >= 0 {
			t.Fatalf("more than one %s series with %v in:\n%s", name, labels, body)
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		found = v
	}
	return found
}

// promtoolCheck runs promtool check metrics on a scrape.
func promtoolCheck(t *testing.T, promtool, who, body string) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on %s's scrape: %v\n%s", who, err, out)
	}
}

// promQuery asks the Prometheus server in the client's namespace.
func promQuery(c *haCluster, q string) ([]promSample, error) {
	out, errOut, code := c.Client.Output(5*time.Second, "curl", "-sS", "--max-time", "3", "http://127.0.0.1:9090/api/v1/query?query="+url.QueryEscape(q))
	if code != 0 {
		return nil, fmt.Errorf("query %s: %s", q, errOut)
	}
	var r struct {
		Status string
		Data   struct{ Result []promSample }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Status != "success" {
		return nil, fmt.Errorf("query %s: %q (%v)", q, out, err)
	}
	return r.Data.Result, nil
}

type promSample struct {
	Metric map[string]string
	Value  [2]any
}

func (s promSample) value() string { v, _ := s.Value[1].(string); return v }

// Issue 13: the metrics of both nodes before and after a crash failover:
// the VIP moves from node1 to node2 (the series an alert rule sums), the
// transition counters rise, every scrape passes promtool check metrics,
// and a real Prometheus server in the client's namespace scrapes both
// nodes and sees the same.
func TestMetricsAcrossFailover(t *testing.T) {
	promtool, err := lab.Promtool()
	if err != nil {
		t.Skipf("no promtool: %v", err)
	}
	server, err := lab.PrometheusServer()
	if err != nil {
		t.Skipf("no Prometheus server: %v", err)
	}
	c := haSetup(t, "on", nil, "metrics_listen 0.0.0.0:"+metricsPort+"\n")
	if !c.Served("node1", 15*time.Second) || !waitFor(5*time.Second, func() bool { return c.Owner("node2") == "node1" }) {
		t.Fatalf("the client is not served by node1:\n%s", c.Probe.Output())
	}
	vipHeld := func(body, node string) float64 {
		return metricValue(t, body, "lubdub_vip_held", `ip_address="`+vip+`"`, `node="`+node+`"`, `intf="eth0"`)
	}
	running := func(body string) float64 {
		return metricValue(t, body, "lubdub_group_transitions_total", `state="running"`)
	}
	b1, b2 := scrape(t, c.Nodes["node1"]), scrape(t, c.Nodes["node2"])
	promtoolCheck(t, promtool, "node1", b1)
	promtoolCheck(t, promtool, "node2", b2)
	if v1, v2 := vipHeld(b1, "node1"), vipHeld(b2, "node2"); v1 != 1 || v2 != 0 {
		t.Errorf("before the failover: lubdub_vip_held node1 %v, node2 %v; want 1 and 0", v1, v2)
	}
	r1, r2 := running(b1), running(b2)
	if r1 != 1 || r2 != 0 {
		t.Errorf("before the failover: running transitions node1 %v, node2 %v", r1, r2)
	}
	if v := metricValue(t, b2, "lubdub_nodes", `node="node1"`, `status="active"`, `type="normal"`); v != 1 {
		t.Errorf("node2 reports node1 active = %v", v)
	}
	if v := metricValue(t, b2, "lubdub_heartbeats_received_total", `link="eth0"`, `node="node1"`); v < 5 {
		t.Errorf("node2 counted %v heartbeats from node1", v)
	}

	// A real Prometheus server scrapes both nodes from the client's
	// namespace, every second, for the rest of the test (a scrape timeout
	// that a loaded machine or a race-enabled daemon can keep).
	dir := filepath.Join(c.Lab.Dir, "prometheus")
	must(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	cfg := "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: lubdub\n    static_configs:\n      - targets: ['198.18.0.1:" + metricsPort + "', '198.18.0.2:" + metricsPort + "']\n"
	must(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	prom, err := c.Client.Start("prometheus.log", server, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:9090", "--storage.tsdb.retention.time=1h")
	must(t, err)
	t.Cleanup(func() {
		prom.Signal(syscall.SIGTERM)
		if exited, _ := prom.Wait(10 * time.Second); !exited {
			prom.Signal(syscall.SIGKILL)
			prom.Wait(5 * time.Second)
		}
	})
	var lastErr error
	query := func(q string) []promSample {
		r, err := promQuery(c, q)
		lastErr = err
		return r
	}
	if !waitFor(30*time.Second, func() bool {
		r := query(`sum(up{job="lubdub"})`)
		return len(r) == 1 && r[0].value() == "2"
	}) {
		t.Fatalf("Prometheus does not scrape both nodes: %v (%v)\n%s", query(`up`), lastErr, prom.Output())
	}
	if !waitFor(5*time.Second, func() bool {
		r := query(`sum by (ip_address) (lubdub_vip_held)`)
		return len(r) == 1 && r[0].value() == "1" && r[0].Metric["ip_address"] == vip
	}) {
		t.Errorf("Prometheus: VIP held on %v nodes, want 1 (up: %v)", query(`sum by (ip_address) (lubdub_vip_held)`), query(`up`))
	}

	c.Crash("node1")
	if !c.Served("node2", 10*time.Second) {
		t.Fatalf("no takeover by node2:\n%s", c.Probe.Output())
	}
	t.Logf("crash: client-visible outage %v", c.LastOutage())
	// The web server answers before the group's start has ended: the
	// metrics say running once the status does.
	if !waitFor(5*time.Second, func() bool { return c.Owner("node2") == "node2" }) {
		t.Fatalf("node2 does not report the group running")
	}
	b2 = scrape(t, c.Nodes["node2"])
	promtoolCheck(t, promtool, "node2 after the failover", b2)
	if v := vipHeld(b2, "node2"); v != 1 {
		t.Errorf("after the failover node2's lubdub_vip_held = %v", v)
	}
	if v := running(b2); v <= r2 {
		t.Errorf("node2's running transitions %v did not rise from %v", v, r2)
	}
	if v := metricValue(t, b2, "lubdub_nodes", `node="node1"`, `status="dead"`); v != 1 {
		t.Errorf("node2 reports node1 dead = %v", v)
	}
	if v := metricValue(t, b2, "lubdub_link_up", `node="node1"`, `link="eth0"`); v != 0 {
		t.Errorf("node2 reports node1's link up = %v", v)
	}
	if v := metricValue(t, b2, "lubdub_group_last_transition_timestamp_seconds"); v < float64(time.Now().Add(-15*time.Second).Unix()) {
		t.Errorf("node2's last transition at %v, before the failover", v)
	}
	// Prometheus: node1 is down, and the VIP on exactly one node, node2.
	if !waitFor(10*time.Second, func() bool {
		r := query(`up{instance="198.18.0.1:` + metricsPort + `"}`)
		return len(r) == 1 && r[0].value() == "0"
	}) {
		t.Errorf("Prometheus still sees node1 up: %v", query(`up`))
	}
	if !waitFor(10*time.Second, func() bool {
		r := query(`lubdub_vip_held{ip_address="` + vip + `"} == 1`)
		return len(r) == 1 && r[0].Metric["node"] == "node2"
	}) {
		t.Errorf("Prometheus: VIP held by %v, want node2 alone", query(`lubdub_vip_held`))
	}
	if r := query(`increase(lubdub_group_transitions_total{state="running",instance="198.18.0.2:` + metricsPort + `"}[1m])`); len(r) != 1 || r[0].value() == "0" {
		t.Errorf("Prometheus: node2's running transitions did not rise: %v", r)
	}
}

// Issue 13: a director's metrics carry its virtual service and real
// servers (connections, packets, bytes) and node_exporter's IPVS series,
// read from the kernel's table on the nftables path, where node_exporter
// sees nothing.
func TestLVSMetrics(t *testing.T) {
	promtool, err := lab.Promtool()
	if err != nil {
		t.Skipf("no promtool: %v", err)
	}
	x := newLVSLab(t, 1)
	cf := strings.ReplaceAll(ldirectordCf, "fallback=198.18.1.1:8080 masq\n", "")
	n := setupNode(t, x.l, x.dirs[0], "dir1", fastTimings+"bcast eth0\nnode dir1\n", sha256Keys)
	must(t, os.WriteFile(filepath.Join(n.Dir, "haresources"),
		[]byte("dir1 IPaddr2::"+lvsVIP+"/24/eth0 IPaddr2::"+lvsGW+"/24/eth1 ldirectord::ldirectord.cf\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(n.Dir, "ldirectord.cf"), []byte(cf), 0o644))
	must(t, os.WriteFile(filepath.Join(n.Dir, "lubdub.cf"), []byte("lvs_datapath nftables\nmetrics_listen "+metricsPort+"\n"), 0o644))
	n.Start(t)
	if !waitFor(15*time.Second, func() bool { return listed(x.dirs[0], "198.18.1.11") && listed(x.dirs[0], "198.18.1.12") }) {
		t.Fatal("dir1 does not hold the virtual service with both real servers")
	}
	if a := x.fetch(t, 10); !alternates(a, 10, "rs1", "rs2") {
		t.Fatalf("the client is not balanced: %v", a)
	}
	m := scrape(t, n)
	promtoolCheck(t, promtool, "dir1", m)
	svc := []string{`local_address="` + lvsVIP + `"`, `local_port="80"`, `proto="TCP"`, `local_mark=""`}
	if v := metricValue(t, m, "lubdub_lvs_datapath_info", `datapath="nftables"`); v != 1 {
		t.Errorf("lubdub_lvs_datapath_info nftables = %v", v)
	}
	if v := metricValue(t, m, "lubdub_lvs_service_connections_total", svc...); v < 10 {
		t.Errorf("the virtual service counted %v connections, want 10 at least", v)
	}
	var conns float64
	for _, rs := range []string{"198.18.1.11", "198.18.1.12"} {
		l := append(svc, `remote_address="`+rs+`"`, `remote_port="80"`)
		c := metricValue(t, m, "lubdub_lvs_backend_connections_total", l...)
		if c < 5 || metricValue(t, m, "lubdub_lvs_backend_incoming_packets_total", l...) < 5*c ||
			metricValue(t, m, "lubdub_lvs_backend_outgoing_bytes_total", l...) <= 0 || metricValue(t, m, "node_ipvs_backend_weight", l...) != 1 {
			t.Errorf("real server %s: connections %v, packets in %v, bytes out %v, weight %v", rs, c,
				metricValue(t, m, "lubdub_lvs_backend_incoming_packets_total", l...), metricValue(t, m, "lubdub_lvs_backend_outgoing_bytes_total", l...),
				metricValue(t, m, "node_ipvs_backend_weight", l...))
		}
		conns += c
	}
	if v := metricValue(t, m, "node_ipvs_connections_total"); v != conns {
		t.Errorf("node_ipvs_connections_total %v, the real servers' sum %v", v, conns)
	}
}
