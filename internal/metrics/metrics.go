// Package metrics serves a lubdub node to Prometheus: the same state the
// control socket shows (control.Status, with its counters) and the LVS
// director's kernel table, read at each scrape and turned into lubdub_*
// series. Label shapes follow ClusterLabs' ha_cluster_exporter (node,
// type, status; node, resource, role, managed, status) and the keepalived
// exporters (ip_address, intf), so that dashboards and alert rules port
// by renaming; node_exporter's IPVS series (node_ipvs_*) are served with
// its labels too, since its own collector sees nothing when lubdub
// balances through nftables.
package metrics

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source is where a scrape reads from.
type Source struct {
	// Status is the node's status as the control socket answers it.
	Status func() (*control.Status, error)
	// LVS is the kernel's virtual-server table with its counters and the
	// data path's name; a nil table when the node has no data path to
	// read. Its series are served while the table holds services (always
	// on the IPVS path, as node_exporter's).
	LVS     func() (*lvs.Table, string, error)
	Version string
	Log     *slog.Logger
}

// Group states, node statuses and resource statuses: one series each,
// 0 or 1, so that a state that ends shows 0 rather than vanishing.
var (
	groupStates    = []string{"stopped", "starting", "running", "stopping", "failed", "blocked"}
	nodeStatuses   = []string{"init", "up", "active", "dead", "fencing", "maintenance"}
	resourceStatus = []string{"active", "blocked", "failed"}
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dBuild          = desc("lubdub_build_info", "lubdub's version and the Go version it was built with; always 1.", "version", "goversion")
	dNodes          = desc("lubdub_nodes", "Cluster nodes as this node sees them; one series per status (init, up, active, dead, fencing, maintenance; ping nodes: init, ping, dead), 1 for the node's status.", "node", "type", "status")
	dNodesTotal     = desc("lubdub_nodes_configured", "Nodes in ha.cf.")
	dGeneration     = desc("lubdub_node_generation", "Each node's generation number (it rises at every restart).", "node")
	dLink           = desc("lubdub_link_up", "Heartbeat links of each node as this node sees them: 1 up, 0 dead.", "node", "link")
	dMedium         = desc("lubdub_medium_open", "This node's configured media: 1 open, 0 failed or closed.", "link", "type")
	dHBSent         = desc("lubdub_heartbeats_sent_total", "Heartbeats this node sent, per link.", "link")
	dHBRecv         = desc("lubdub_heartbeats_received_total", "Heartbeats this node received, per link and sending node.", "link", "node")
	dDrops          = desc("lubdub_packets_dropped_total", "Packets this node dropped, by reason (bad-digest, unknown-key, replay, ...).", "reason")
	dGroups         = desc("lubdub_groups", "Resource groups' states per node, as this node sees them; one series per state, 1 for the current one.", "node", "group", "state")
	dResources      = desc("lubdub_resources", "Resources per node in ha_cluster_exporter's shape: one series per status (active, blocked, failed), 1 for the current one; role is the group's state.", "node", "resource", "group", "role", "managed", "status")
	dGroupMaint     = desc("lubdub_group_maintenance", "Groups in maintenance mode per node: 1 in maintenance (not monitored, started, stopped or moved there).", "node", "group")
	dGroupFrozen    = desc("lubdub_group_frozen", "Groups no node takes over because the named node left holding them in maintenance.", "group", "node")
	dVIP            = desc("lubdub_vip_held", "Whether this node holds each group's virtual IP address (its group running, stopping or blocked here): sum by ip_address across nodes should be 1.", "node", "group", "ip_address", "intf")
	dOwner          = desc("lubdub_group_owner", "The node each group runs on, as this node sees it; 1 for the owner.", "group", "node")
	dTransitions    = desc("lubdub_group_transitions_total", "Entries of each group into each state on this node.", "group", "state")
	dLastTransition = desc("lubdub_group_last_transition_timestamp_seconds", "When each group's state on this node last changed (Unix time).", "group")
	dFailCount      = desc("lubdub_failcount", "Each group's fail count on this node (failures since the last cleanup, or failure_timeout ago), as Pacemaker's fail-count.", "node", "resource")
	dFailures       = desc("lubdub_group_failures_total", "Failed operations of each group on this node, by operation (start, stop, monitor).", "group", "op")
	dLastFailure    = desc("lubdub_group_last_failure_timestamp_seconds", "When each group last failed on this node (Unix time).", "group", "op")
	dRestarts       = desc("lubdub_group_restarts", "Monitor failures of each group restarted in place on this node since it came here; it moves past max_restarts.", "group")
	dMaxRestarts    = desc("lubdub_max_restarts", "lubdub.cf's max_restarts (ha_cluster_exporter's migration_threshold).")
	dQuorate        = desc("lubdub_quorate", "Whether this node's partition has quorum: 1 yes, 0 no.")
	dVotes          = desc("lubdub_quorum_votes", "Quorum votes of this node's partition: total_votes, expected_votes (nodes in ha.cf) and quorum (votes needed).", "type")
	dFencingOn      = desc("lubdub_fencing_enabled", "Whether a fence device is configured: 1 yes, 0 no.")
	dFencing        = desc("lubdub_fencing_pending", "Dead nodes this node is fencing (or waits to fence) before their groups are taken over.", "node")
	dFencings       = desc("lubdub_fencing_operations_total", "Finished fencing tries, by fenced node and result (success, failure).", "node", "result")
	dReload         = desc("lubdub_config_last_reload_success_timestamp_seconds", "When the configuration in force was read: the start or the last reload (Unix time).")
	dReloadOK       = desc("lubdub_config_last_reload_successful", "Whether the last reload was accepted: 1 yes, 0 refused (the configuration before it stays in force).")
	dStart          = desc("lubdub_start_time_seconds", "When this lubdub daemon started (Unix time).")

	lvsSvc     = []string{"local_address", "local_port", "proto", "local_mark"}
	lvsBackend = []string{"local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"}
	dLVSUp     = desc("lubdub_lvs_up", "Whether the kernel's LVS table could be read at this scrape: 1 yes (its series follow), 0 no.")
	dDataPath  = desc("lubdub_lvs_datapath_info", "The LVS data path in use (nftables or ipvs); always 1.", "datapath")
	dSvc       = [5]*prometheus.Desc{
		desc("lubdub_lvs_service_connections_total", "Connections to each virtual service.", lvsSvc...),
		desc("lubdub_lvs_service_incoming_packets_total", "Packets in to each virtual service.", lvsSvc...),
		desc("lubdub_lvs_service_outgoing_packets_total", "Packets out of each virtual service.", lvsSvc...),
		desc("lubdub_lvs_service_incoming_bytes_total", "Bytes in to each virtual service.", lvsSvc...),
		desc("lubdub_lvs_service_outgoing_bytes_total", "Bytes out of each virtual service.", lvsSvc...),
	}
	dRS = [5]*prometheus.Desc{
		desc("lubdub_lvs_backend_connections_total", "Connections sent to each real server.", lvsBackend...),
		desc("lubdub_lvs_backend_incoming_packets_total", "Packets in to each real server.", lvsBackend...),
		desc("lubdub_lvs_backend_outgoing_packets_total", "Packets out of each real server.", lvsBackend...),
		desc("lubdub_lvs_backend_incoming_bytes_total", "Bytes in to each real server.", lvsBackend...),
		desc("lubdub_lvs_backend_outgoing_bytes_total", "Bytes out of each real server.", lvsBackend...),
	}
	// node_exporter's IPVS collector, with its names, help and labels.
	dIPVS = [5]*prometheus.Desc{
		desc("node_ipvs_connections_total", "The total number of connections made."),
		desc("node_ipvs_incoming_packets_total", "The total number of incoming packets."),
		desc("node_ipvs_outgoing_packets_total", "The total number of outgoing packets."),
		desc("node_ipvs_incoming_bytes_total", "The total amount of incoming data."),
		desc("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data."),
	}
	dIPVSActive   = desc("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", lvsBackend...)
	dIPVSInactive = desc("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", lvsBackend...)
	dIPVSWeight   = desc("node_ipvs_backend_weight", "The current backend weight by local and remote address.", lvsBackend...)
)

// collector turns one snapshot into series at each scrape.
type collector struct{ src Source }

// Describe sends nothing: the series depend on the configuration and the
// kernel's table (an unchecked collector).
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(dBuild, prometheus.GaugeValue, 1, c.src.Version, runtime.Version())
	s, err := c.src.Status()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(desc("lubdub_status_error", "The node's status could not be read."), fmt.Errorf("reading the node's status: %w", err))
		return
	}
	Status(ch, s)
	if c.src.LVS == nil {
		return
	}
	t, dp, err := c.src.LVS()
	switch {
	case err != nil:
		// The cluster's series stand without the director's.
		gauge(ch, dLVSUp, 0)
		if c.src.Log != nil {
			c.src.Log.Warn(fmt.Sprintf("metrics: reading the LVS table: %v", err))
		}
	case t != nil && (len(t.Services) > 0 || dp == "ipvs"):
		gauge(ch, dLVSUp, 1)
		LVS(ch, t, dp)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// holds: a state in which the group's resources may be up here.
func holds(state string) bool { return state == "running" || state == "stopping" || state == "blocked" }

// Status sends the series of a node's status.
func Status(ch chan<- prometheus.Metric, s *control.Status) {
	gauge(ch, dStart, unix(s.Started))
	gauge(ch, dNodesTotal, float64(len(s.Nodes)))
	inMaint := map[string]bool{}
	for _, g := range s.Groups {
		for _, n := range g.Maintenance {
			inMaint[n] = true
		}
	}
	for _, n := range s.Nodes {
		status := n.Status
		if _, ok := s.Fencing[n.Name]; ok && status == "dead" {
			status = "fencing"
		}
		for _, st := range nodeStatuses {
			v := st == status
			if st == "maintenance" {
				v = inMaint[n.Name]
			}
			gauge(ch, dNodes, b2f(v), n.Name, n.Type, st)
		}
		gauge(ch, dGeneration, float64(n.Generation), n.Name)
		for _, l := range n.Links {
			gauge(ch, dLink, b2f(l.Status == "up"), n.Name, l.Name)
			if !n.Local {
				counter(ch, dHBRecv, l.Heartbeats, l.Name, n.Name)
			}
		}
	}
	// Ping nodes (type "ping"): one series per status of theirs.
	for _, n := range s.PingNodes {
		for _, st := range []string{"init", "ping", "dead"} {
			gauge(ch, dNodes, b2f(st == n.Status), n.Name, n.Type, st)
		}
	}
	for _, m := range s.Media {
		if m.State != "skipped" {
			gauge(ch, dMedium, b2f(m.State == "open"), m.Name, m.Type)
		}
	}
	for l, v := range s.HeartbeatsSent {
		counter(ch, dHBSent, v, l)
	}
	for r, v := range s.Drops {
		counter(ch, dDrops, v, r)
	}
	for _, g := range s.Groups {
		groupSeries(ch, s, g)
	}
	gauge(ch, dMaxRestarts, float64(s.MaxRestarts))
	gauge(ch, dQuorate, b2f(s.Votes.Quorate))
	gauge(ch, dVotes, float64(s.Votes.Votes), "total_votes")
	gauge(ch, dVotes, float64(s.Votes.Expected), "expected_votes")
	gauge(ch, dVotes, float64(s.Votes.Needed), "quorum")
	gauge(ch, dFencingOn, b2f(s.FencingEnabled))
	for n := range s.Fencing {
		gauge(ch, dFencing, 1, n)
	}
	for n, m := range s.Fencings {
		for r, v := range m {
			counter(ch, dFencings, v, n, r)
		}
	}
	gauge(ch, dReload, unix(s.ConfigLoaded))
	gauge(ch, dReloadOK, b2f(!s.ReloadFailed))
}

func groupSeries(ch chan<- prometheus.Metric, s *control.Status, g control.Group) {
	for node, state := range g.Nodes {
		for _, st := range groupStates {
			gauge(ch, dGroups, b2f(st == state), node, g.ID, st)
		}
		managed := strconv.FormatBool(!slices.Contains(g.Maintenance, node))
		status := map[string]string{"blocked": "blocked", "failed": "failed"}[state]
		if status == "" && state != "stopped" {
			status = "active"
		}
		role := map[string]string{"running": "started"}[state]
		if role == "" {
			role = state
		}
		for _, r := range g.Resources {
			for _, st := range resourceStatus {
				gauge(ch, dResources, b2f(st == status), node, r, g.ID, role, managed, st)
			}
		}
		gauge(ch, dGroupMaint, b2f(slices.Contains(g.Maintenance, node)), node, g.ID)
	}
	if g.Frozen != "" {
		gauge(ch, dGroupFrozen, 1, g.ID, g.Frozen)
	}
	if g.Owner != "" {
		gauge(ch, dOwner, 1, g.ID, g.Owner)
	}
	for _, v := range g.VIPs {
		gauge(ch, dVIP, b2f(holds(g.Local)), s.Node, g.ID, v.Address, v.Iface)
	}
	for _, st := range groupStates {
		counter(ch, dTransitions, g.Transitions[st], g.ID, st)
	}
	if !g.LastTransition.IsZero() {
		gauge(ch, dLastTransition, unix(g.LastTransition), g.ID)
	}
	gauge(ch, dFailCount, float64(g.FailCount), s.Node, g.ID)
	for _, op := range []string{"start", "stop", "monitor"} {
		counter(ch, dFailures, g.Failures[op], g.ID, op)
	}
	if f := g.LastFailure; f != nil {
		gauge(ch, dLastFailure, unix(f.At), g.ID, f.Op)
	}
	gauge(ch, dRestarts, float64(g.Restarts), g.ID)
}

// LVS sends the series of the kernel's virtual-server table.
func LVS(ch chan<- prometheus.Metric, t *lvs.Table, datapath string) {
	gauge(ch, dDataPath, 1, datapath)
	var tot [5]uint64
	for _, s := range t.Services {
		addr, port, mark := "", "0", ""
		if s.Proto == "FWM" {
			mark = fmt.Sprintf("%08X", s.FWMark) // as /proc/net/ip_vs prints it
		} else {
			addr, port = s.Addr.Addr().String(), strconv.Itoa(int(s.Addr.Port()))
		}
		for i, v := range [5]uint64{s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes} {
			counter(ch, dSvc[i], v, addr, port, s.Proto, mark)
			tot[i] += v
		}
		for _, d := range s.Dests {
			l := []string{addr, port, d.Addr.Addr().String(), strconv.Itoa(int(d.Addr.Port())), s.Proto, mark}
			for i, v := range [5]uint64{d.Conns, d.InPkts, d.OutPkts, d.InBytes, d.OutBytes} {
				counter(ch, dRS[i], v, l...)
			}
			gauge(ch, dIPVSActive, float64(d.ActiveConn), l...)
			gauge(ch, dIPVSInactive, float64(d.InActConn), l...)
			gauge(ch, dIPVSWeight, float64(d.Weight), l...)
		}
	}
	for i, v := range tot {
		counter(ch, dIPVS[i], v)
	}
}

// NewRegistry holds lubdub's collector and the Go runtime's and process's
// own (CPU, memory, open files of the daemon).
func NewRegistry(src Source) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(&collector{src: src}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves a registry at /metrics; a scrape whose status cannot be
// read fails with HTTP 500, so that Prometheus marks the target down.
func Handler(r *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r, promhttp.HandlerOpts{ErrorLog: slogPrinter{log}, ErrorHandling: promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: 4, Timeout: 10 * time.Second}))
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/" {
			http.NotFound(w, req)
			return
		}
		fmt.Fprintln(w, "lubdub: metrics at /metrics")
	})
	return mux
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	if p.log != nil {
		p.log.Warn(fmt.Sprint(v...))
	}
}

// Server is a listening metrics endpoint.
type Server struct {
	srv *http.Server
	l   net.Listener
}

// Listen serves h on addr (ADDR:PORT).
func Listen(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	s := &Server{l: l, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 20 * time.Second, IdleTimeout: time.Minute}}
	go func() {
		if err := s.srv.Serve(l); err != nil && err != http.ErrServerClosed && log != nil {
			log.Error(fmt.Sprintf("metrics endpoint %s stopped: %v", addr, err))
		}
	}()
	return s, nil
}

// Addr is the address it listens on.
func (s *Server) Addr() string { return s.l.Addr().String() }

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }
