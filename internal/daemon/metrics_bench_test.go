package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/media"
	"github.com/lubdub/lubdub/internal/metrics"
	"github.com/lubdub/lubdub/internal/resource"
	"github.com/lubdub/lubdub/internal/wire"
)

// benchNode is a Node run as the daemon runs it: one goroutine owns it
// and takes packets, results, control requests and its own wake-ups.
type benchNode struct {
	n       *Node
	recv    chan media.Packet
	results chan resource.Result
	ctrl    chan ctrlReq
	stop    chan struct{}
	done    chan struct{}
}

func (b *benchNode) Run(g int, op resource.Op) {
	go func() { b.results <- resource.Result{Group: g, Op: op, OK: true} }()
}

func (b *benchNode) loop() {
	defer close(b.done)
	for {
		timer := time.NewTimer(time.Until(b.n.NextWakeup()))
		select {
		case <-b.stop:
			timer.Stop()
			return
		case p := <-b.recv:
			b.n.Packet(time.Now(), p)
		case r := <-b.results:
			b.n.Result(time.Now(), r)
		case c := <-b.ctrl:
			c.reply <- b.n.Answer(time.Now(), c.req)
		case <-timer.C:
			b.n.Tick(time.Now())
		}
		timer.Stop()
	}
}

// status asks the node's loop, as the control socket and metrics do.
func (b *benchNode) status() (*control.Status, error) {
	r := ctrlReq{req: control.Request{Cmd: "status"}, reply: make(chan control.Response, 1)}
	b.ctrl <- r
	resp := <-r.reply
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return resp.Status, nil
}

// benchMedium is a segment between the bench nodes, in memory.
type benchMedium struct {
	from  string
	peers []*benchNode
}

func (m *benchMedium) Link() string        { return "eth0" }
func (m *benchMedium) Format() wire.Format { return wire.Netstring }
func (m *benchMedium) Close() error        { return nil }
func (m *benchMedium) Send(frame []byte) error {
	for _, p := range m.peers {
		select {
		case p.recv <- media.Packet{Link: "eth0", From: m.from, Data: append([]byte(nil), frame...)}:
		default:
		}
	}
	return nil
}

// benchCluster runs two nodes with groups resource groups, half
// preferring each node, and waits until every group runs.
func benchCluster(b *testing.B, groups int) (*benchNode, func()) {
	dir := b.TempDir()
	var hr strings.Builder
	for g := range groups {
		fmt.Fprintf(&hr, "node%d IPaddr2::198.18.%d.%d/24/eth0 websrv%d\n", g%2+1, 1+g/250, 1+g%250, g)
	}
	files := map[string]string{
		"ha.cf":       "keepalive 100ms\ndeadtime 400ms\nwarntime 250ms\ninitdead 1\nbcast eth0\nnode node1 node2\nauto_failback on\n",
		"authkeys":    "auth 1\n1 sha256 bench\n",
		"haresources": hr.String(),
		"lubdub.cf":   "monitor_interval 5s\n",
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg, rep := haconf.Load(dir, haconf.Options{})
	if err := rep.Err(); err != nil {
		b.Fatal(err)
	}
	nodes := map[string]*benchNode{}
	for _, name := range []string{"node1", "node2"} {
		nodes[name] = &benchNode{recv: make(chan media.Packet, 512), results: make(chan resource.Result, 2*groups+8),
			ctrl: make(chan ctrlReq), stop: make(chan struct{}), done: make(chan struct{})}
	}
	now := time.Now()
	for i, name := range []string{"node1", "node2"} {
		bn, peer := nodes[name], nodes[[]string{"node2", "node1"}[i]]
		seams := Seams{Exec: bn, OpenMedium: func(haconf.Medium) (media.Medium, error) {
			return &benchMedium{from: name, peers: []*benchNode{peer}}, nil
		}}
		id := Identity{Node: name, Generation: 1, UUID: []byte(fmt.Sprintf("uuid-%-11s", name)), Version: "bench", Started: now}
		bn.n = NewNode(cfg, id, seams, make([]bool, groups), now, slog.New(slog.DiscardHandler))
	}
	for _, bn := range nodes {
		go bn.loop()
	}
	stop := func() {
		for _, bn := range nodes {
			close(bn.stop)
			<-bn.done
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := nodes["node1"].status()
		if err != nil {
			b.Fatal(err)
		}
		running := 0
		for _, g := range s.Groups {
			if g.Owner != "" {
				running++
			}
		}
		if running == groups {
			break
		}
		if time.Now().After(deadline) {
			stop()
			b.Fatalf("%d of %d groups running after 30 s: drops %v, quorum %s, nodes %+v, group 0 %+v", running, groups, s.Drops, s.Quorum, s.Nodes, s.Groups[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nodes["node1"], stop
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMetricsScrape is the metrics endpoint's cost on a node of a
// running two-node cluster with 1 and 100 groups: a scrape over HTTP on
// loopback, its status read through the node's loop as the daemon reads
// it. ns/op is the scrape time seen by the scraper; cpu-ns/scrape the
// process's CPU per scrape (the server's and the client's, the cluster's
// own heartbeats included), bytes/scrape the exposition's size.
// go test ./internal/daemon -run XXX -bench MetricsScrape -benchtime 200x
func BenchmarkMetricsScrape(b *testing.B) {
	for _, groups := range []int{1, 100} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			node, stop := benchCluster(b, groups)
			defer stop()
			src := metrics.Source{Version: "bench", Status: node.status}
			srv, err := metrics.Listen("127.0.0.1:0", metrics.Handler(metrics.NewRegistry(src), nil), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			client := &http.Client{Timeout: 10 * time.Second}
			url := "http://" + srv.Addr() + "/metrics"
			var size int
			scrape := func() {
				r, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != 200 {
					b.Fatalf("scrape: HTTP %d", r.StatusCode)
				}
				size = int(n)
			}
			scrape()
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				scrape()
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/scrape")
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
