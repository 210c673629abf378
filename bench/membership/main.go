// Command membership benchmarks lubdub's membership layer: three nodes in
// network namespaces with keepalive 100ms, measuring CPU and resident
// memory per daemon in steady state, and the time from SIGKILL of a node
// to "dead" on its peers.
//
//	sudo go run ./bench/membership [-steady 60s] [-kills 20]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/lab"
)

func main() {
	steady := flag.Duration("steady", 60*time.Second, "steady-state window for CPU and memory")
	kills := flag.Int("kills", 20, "number of SIGKILLs to time")
	keepalive := flag.Duration("keepalive", 100*time.Millisecond, "keepalive")
	deadtime := flag.Duration("deadtime", 300*time.Millisecond, "deadtime")
	flag.Parse()
	if err := run(*steady, *kills, *keepalive, *deadtime); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type benchNode struct {
	name, dir, sock, state string
	host                   *lab.Host
	proc                   *lab.Proc
}

func run(steady time.Duration, kills int, keepalive, deadtime time.Duration) error {
	if err := lab.Available(); err != nil {
		return err
	}
	if steady > 10*time.Minute || kills > 200 {
		return fmt.Errorf("bounded: at most 10m steady state and 200 kills")
	}
	ws, err := lab.NewWorkspace("membership")
	if err != nil {
		return err
	}
	defer ws.Close(nil)
	dir, bin := ws.Dir, ws.Bin
	l, err := lab.New(dir)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Segment("br0", 0); err != nil {
		return err
	}
	names := []string{"node1", "node2", "node3"}
	hacf := fmt.Sprintf("keepalive %dms\ndeadtime %dms\ninitdead 5000ms\nbcast eth0\nnode %s\n",
		keepalive.Milliseconds(), deadtime.Milliseconds(), strings.Join(names, " "))
	var nodes []*benchNode
	for i, name := range names {
		h, err := l.Host(name)
		if err != nil {
			return err
		}
		if _, err := h.Attach("br0", "eth0", i+1); err != nil {
			return err
		}
		n := &benchNode{name: name, host: h, dir: filepath.Join(dir, name), sock: filepath.Join(dir, name+".sock"), state: filepath.Join(dir, name+"-state")}
		os.MkdirAll(n.dir, 0o755)
		os.WriteFile(filepath.Join(n.dir, "ha.cf"), []byte(hacf), 0o644)
		os.WriteFile(filepath.Join(n.dir, "authkeys"), []byte("auth 1\n1 sha256 bench-secret\n"), 0o600)
		nodes = append(nodes, n)
	}
	start := func(n *benchNode) error {
		p, err := n.host.Start(n.name+".log", bin, "run", "-c", n.dir, "--node", n.name, "--state-dir", n.state, "--socket", n.sock)
		n.proc = p
		return err
	}
	for _, n := range nodes {
		if err := start(n); err != nil {
			return err
		}
	}
	if !waitFor(15*time.Second, func() bool { return allActive(nodes) }) {
		return fmt.Errorf("cluster did not come up")
	}
	fmt.Printf("lubdub membership benchmark: 3 nodes, keepalive %s, deadtime %s, bcast, sha256\n", keepalive, deadtime)
	fmt.Printf("machine: %d cores, %s\n\n", numCPU(), kernel())

	// Steady state: CPU time and memory of each daemon.
	time.Sleep(2 * time.Second)
	before := map[string]float64{}
	for _, n := range nodes {
		before[n.name] = cpuSeconds(n.proc.Pid())
	}
	t0 := time.Now()
	time.Sleep(steady)
	wall := time.Since(t0).Seconds()
	fmt.Printf("steady state over %s:\n\n| daemon | CPU (%% of one core) | RSS (MB) | peak RSS (MB) |\n| --- | --- | --- | --- |\n", steady)
	for _, n := range nodes {
		cpu := (cpuSeconds(n.proc.Pid()) - before[n.name]) / wall * 100
		rss, hwm := memMB(n.proc.Pid())
		fmt.Printf("| %s | %.2f | %.1f | %.1f |\n", n.name, cpu, rss, hwm)
	}
	if s, err := control.Call(nodes[0].sock, control.Request{Cmd: "status"}, time.Second); err == nil && len(s.Status.Drops) > 0 {
		fmt.Printf("\nwarning: node1 dropped packets: %v\n", s.Status.Drops)
	}

	// SIGKILL to dead, measured on both peers.
	victim := nodes[2]
	var took []time.Duration
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(rand.Int64N(int64(keepalive))))
		killed := time.Now()
		victim.proc.Signal(syscall.SIGKILL)
		seen := map[string]bool{}
		ok := waitFor(5*time.Second, func() bool {
			for _, on := range nodes[:2] {
				if !seen[on.name] && view(on, victim.name) == "dead" {
					seen[on.name] = true
					took = append(took, time.Since(killed))
				}
			}
			return len(seen) == 2
		})
		if !ok {
			return fmt.Errorf("kill %d: node3 not reported dead within 5s", i+1)
		}
		victim.proc.Wait(5 * time.Second)
		if err := start(victim); err != nil {
			return err
		}
		if !waitFor(15*time.Second, func() bool { return allActive(nodes) }) {
			return fmt.Errorf("kill %d: node3 did not come back", i+1)
		}
		time.Sleep(500 * time.Millisecond)
	}
	slices.Sort(took)
	pct := func(p float64) time.Duration { return took[int(p*float64(len(took)-1))] }
	fmt.Printf("\nSIGKILL of node3 to \"dead\" on node1 and node2 (%d kills, %d observations, polled every 1ms):\n\n", kills, len(took))
	fmt.Printf("| min | median | p95 | max | target (deadtime + keepalive) |\n| --- | --- | --- | --- | --- |\n")
	fmt.Printf("| %s | %s | %s | %s | %s |\n", ms(took[0]), ms(pct(0.5)), ms(pct(0.95)), ms(took[len(took)-1]), ms(deadtime+keepalive))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func view(n *benchNode, name string) string {
	r, err := control.Call(n.sock, control.Request{Cmd: "status"}, time.Second)
	if err != nil {
		return ""
	}
	for _, v := range r.Status.Nodes {
		if v.Name == name {
			return v.Status
		}
	}
	return ""
}

func allActive(nodes []*benchNode) bool {
	for _, on := range nodes {
		for _, n := range nodes {
			if view(on, n.name) != "active" {
				return false
			}
		}
	}
	return true
}

func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// cpuSeconds is the process's user+system time, from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// memMB returns VmRSS and VmHWM in MB.
func memMB(pid int) (float64, float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	var rss, hwm float64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "VmRSS:":
				rss = v / 1024
			case "VmHWM:":
				hwm = v / 1024
			}
		}
	}
	return rss, hwm
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}
