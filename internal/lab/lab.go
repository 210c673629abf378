// Package lab builds throwaway network topologies in Linux network
// namespaces for end-to-end tests and benchmarks: segments (a bridge in a
// namespace of its own), hosts (a namespace each) attached with veth pairs,
// and processes run inside hosts. Addresses come only from 198.18.0.0/15,
// names are unique per run, and everything is torn down by Close, which
// tests register with t.Cleanup, or, when the process that made the lab
// ends without Close (a test binary at go test's -timeout), by the lab's
// reaper.
package lab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Prefix starts the name of every namespace a lab creates.
const Prefix = "ldb"

// Lab is one topology.
type Lab struct {
	ID       string
	Dir      string // scratch directory for configs and logs
	bridgeNS string
	mu       sync.Mutex
	hosts    map[string]*Host
	segments map[string]int
	procs    []*Proc
	closed   bool
	reaper   *exec.Cmd
	// reaperIn is the reaper's standard input: it closes when this
	// process ends, however it ends.
	reaperIn io.WriteCloser
}

// Host is a namespace with interfaces.
type Host struct {
	lab  *Lab
	Name string
	NS   string
	Addr map[string]string // interface -> address
}

// Proc is a process started in a host.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

// Available reports whether labs can be built here (root, ip, netns).
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("end-to-end tests need root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("end-to-end tests need iproute2's ip: %w", err)
	}
	return nil
}

// New creates an empty lab with a bridge namespace.
func New(dir string) (*Lab, error) {
	b := make([]byte, 3)
	rand.Read(b)
	l := &Lab{ID: Prefix + hex.EncodeToString(b), Dir: dir, hosts: map[string]*Host{}, segments: map[string]int{}}
	l.bridgeNS = l.ID + "-br"
	os.MkdirAll(ownerDir, 0o755)
	os.WriteFile(filepath.Join(ownerDir, l.ID), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if err := l.startReaper(); err != nil {
		return nil, err
	}
	if err := run("ip", "netns", "add", l.bridgeNS); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// reaperScript waits for its standard input to close, then ends what
// still runs in the lab's namespaces ($1-*) and deletes them, and the
// lab's owner file ($2).
const reaperScript = `cat >/dev/null
for ns in $(ip netns list | sed -n "s/^\\($1-[^ ]*\\).*/\\1/p"); do
  for pid in $(ip netns pids "$ns"); do kill -9 "$pid"; done
  ip netns del "$ns"
done
rm -f "$2"
`

// startReaper starts the lab's reaper: a shell in a session of its own
// (no signal to this process's group reaches it) that takes the lab down
// when this process ends without Close (go test's -timeout ends a test
// binary with a panic, which runs no cleanup; a kill runs nothing), so
// that no namespace or process of the lab outlives it.
func (l *Lab) startReaper() error {
	cmd := exec.Command("sh", "-c", reaperScript, "sh", l.ID, filepath.Join(ownerDir, l.ID))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the lab's reaper: %w", err)
	}
	l.reaper, l.reaperIn = cmd, in
	return nil
}

// Segment creates an Ethernet segment 198.18.N.0/24 (N = subnet).
func (l *Lab) Segment(name string, subnet int) error {
	if subnet < 0 || subnet > 255 {
		return fmt.Errorf("subnet %d out of 198.18.0.0/16", subnet)
	}
	l.segments[name] = subnet
	return runAll(
		[]string{"ip", "-n", l.bridgeNS, "link", "add", name, "type", "bridge"},
		[]string{"ip", "-n", l.bridgeNS, "link", "set", name, "up"},
	)
}

// Host creates (or returns) a host namespace.
func (l *Lab) Host(name string) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hosts[name]; h != nil {
		return h, nil
	}
	h := &Host{lab: l, Name: name, NS: l.ID + "-" + name, Addr: map[string]string{}}
	if err := runAll(
		[]string{"ip", "netns", "add", h.NS},
		[]string{"ip", "-n", h.NS, "link", "set", "lo", "up"},
	); err != nil {
		return nil, err
	}
	l.hosts[name] = h
	return h, nil
}

// Attach connects the host to a segment as interface ifname with address
// 198.18.<subnet>.<hostnum>/24 and a broadcast address.
func (h *Host) Attach(segment, ifname string, hostnum int) (string, error) {
	subnet, ok := h.lab.segments[segment]
	if !ok {
		return "", fmt.Errorf("no segment %s", segment)
	}
	peer := h.portName(ifname)
	addr := fmt.Sprintf("198.18.%d.%d", subnet, hostnum)
	br := h.lab.bridgeNS
	err := runAll(
		[]string{"ip", "-n", br, "link", "add", peer, "type", "veth", "peer", "name", ifname, "netns", h.NS},
		[]string{"ip", "-n", br, "link", "set", peer, "master", segment, "up"},
		[]string{"ip", "-n", h.NS, "addr", "add", addr + "/24", "brd", "+", "dev", ifname},
		[]string{"ip", "-n", h.NS, "link", "set", ifname, "up"},
	)
	if err != nil {
		return "", err
	}
	h.Addr[ifname] = addr
	return addr, nil
}

// AddHost creates a host attached to each segment in turn as eth0, eth1,
// ..., with address 198.18.<subnet>.<num> on each.
func (l *Lab) AddHost(name string, num int, segments ...string) (*Host, error) {
	h, err := l.Host(name)
	if err != nil {
		return nil, err
	}
	for i, seg := range segments {
		if _, err := h.Attach(seg, fmt.Sprintf("eth%d", i), num); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// BuildLubdub builds the lubdub binary from pkg (./cmd/lubdub from the
// repository root) into dir, for tests, the benchmarks and labs to run.
func BuildLubdub(dir, pkg string, flags ...string) (string, error) {
	bin := filepath.Join(dir, "lubdub")
	args := append(append([]string{"build", "-o", bin}, flags...), pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building lubdub (go %s): %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// Workspace is a benchmark's scratch directory with a lubdub built from
// the repository it runs in; stale labs of dead runs are swept first.
type Workspace struct{ Dir, Bin string }

// NewWorkspace makes the directory and builds lubdub (run from the
// repository root).
func NewWorkspace(name string) (*Workspace, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lubdub-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	bin, err := BuildLubdub(dir, "./cmd/lubdub")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w (run from the repository root)", err)
	}
	SweepStale()
	return &Workspace{Dir: dir, Bin: bin}, nil
}

// Close removes the directory, or keeps it and says where when the run
// failed (*err set), for its logs.
func (w *Workspace) Close(err *error) {
	if err != nil && *err != nil {
		fmt.Fprintf(os.Stderr, "bench: logs kept in %s\n", w.Dir)
		return
	}
	os.RemoveAll(w.Dir)
}

// portName is the bridge-side end of a host's interface.
func (h *Host) portName(ifname string) string {
	n := h.Name + "-" + ifname
	if len(n) > 15 {
		n = n[len(n)-15:]
	}
	return n
}

// Cut takes the host's interface off its segment (the bridge port goes
// down): the host sees its link up, but nothing passes.
func (h *Host) Cut(ifname string) error {
	return run("ip", "-n", h.lab.bridgeNS, "link", "set", h.portName(ifname), "down")
}

// CutCommand is the command line that does Cut, for a script that cuts
// the link itself (the BMC simulator's power-off).
func (h *Host) CutCommand(ifname string) []string {
	return []string{"ip", "-n", h.lab.bridgeNS, "link", "set", h.portName(ifname), "down"}
}

// Heal undoes Cut.
func (h *Host) Heal(ifname string) error {
	return run("ip", "-n", h.lab.bridgeNS, "link", "set", h.portName(ifname), "up")
}

// Sysctl sets a kernel setting inside the host's network namespace
// (net.ipv4.ip_forward=1, say), through /proc/sys, so that no sysctl
// binary is needed.
func (h *Host) Sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if _, errOut, code := h.Output(5*time.Second, "sh", "-c", `echo "$1" > "$2"`, "sh", value, path); code != 0 {
		return fmt.Errorf("%s: setting %s=%s: %s", h.Name, key, value, strings.TrimSpace(errOut))
	}
	return nil
}

// Command returns a command that runs inside the host.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	// Its own process group, so that a process that forks (Heartbeat)
	// can be ended whole; killed with us if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// Output runs a command in the host and returns its stdout, stderr and
// exit code.
func (h *Host) Output(timeout time.Duration, name string, args ...string) (string, string, int) {
	cmd := h.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return "", err.Error(), -1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return out.String(), errb.String() + "\n(timed out)", -1
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// Start runs a long-lived process in the host, in a process group of its
// own, its output in a log file under the lab directory. The lab kills its
// group at Close if it still runs.
func (h *Host) Start(logName, name string, args ...string) (*Proc, error) {
	return h.start(true, logName, name, args...)
}

// StartSessionLeader is Start for a daemon that calls setsid(2) itself
// (Heartbeat), which a process group leader may not do.
func (h *Host) StartSessionLeader(logName, name string, args ...string) (*Proc, error) {
	return h.start(false, logName, name, args...)
}

func (h *Host) start(ownGroup bool, logName, name string, args ...string) (*Proc, error) {
	logPath := filepath.Join(h.lab.Dir, logName)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := h.Command(name, args...)
	cmd.SysProcAttr.Setpgid = ownGroup
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, p)
	h.lab.mu.Unlock()
	return p, nil
}

// Signal sends a signal to the process (by its id).
func (p *Proc) Signal(s syscall.Signal) error {
	return p.Cmd.Process.Signal(s)
}

// KillGroup sends a signal to the process's whole process group.
func (p *Proc) KillGroup(s syscall.Signal) error {
	return syscall.Kill(-p.Cmd.Process.Pid, s)
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Wait waits for the process to end, up to timeout.
func (p *Proc) Wait(timeout time.Duration) (exited bool, err error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(timeout):
		return false, nil
	}
}

// Running reports whether the process is still running.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Output returns what the process has logged so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Close kills the processes the lab started and deletes its namespaces.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for _, p := range l.procs {
		if p.Running() {
			p.KillGroup(syscall.SIGKILL)
			p.Wait(5 * time.Second)
		}
	}
	// Whatever still runs in the lab's namespaces was started by us, maybe
	// indirectly (a daemon a resource script left behind): end it too.
	for _, h := range l.hosts {
		killAll(h.NS)
	}
	var errs []string
	for _, h := range l.hosts {
		if err := run("ip", "netns", "del", h.NS); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := run("ip", "netns", "del", l.bridgeNS); err != nil {
		errs = append(errs, err.Error())
	}
	os.Remove(filepath.Join(ownerDir, l.ID))
	if l.reaper != nil {
		// Nothing is left for it to do: let it end.
		l.reaperIn.Close()
		done := make(chan struct{})
		go func() { l.reaper.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Sprintf("the lab's reaper (pid %d) did not end", l.reaper.Process.Pid))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("tearing down lab %s: %s", l.ID, strings.Join(errs, "; "))
	}
	return nil
}

// ownerDir records which process owns each lab, so that a sweep only
// removes labs whose test process is gone.
const ownerDir = "/run/lubdub-lab"

// SweepStale deletes namespaces left by labs whose test process died
// before their Close (a test binary killed by its timeout). Processes in
// them died with the test binary (Pdeathsig).
func SweepStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) || len(f[0]) <= len(Prefix)+6 || f[0][len(Prefix)+6] != '-' {
			continue
		}
		id := f[0][:len(Prefix)+6]
		if b, err := os.ReadFile(filepath.Join(ownerDir, id)); err == nil {
			if pid, err := strconv.Atoi(string(b)); err == nil && syscall.Kill(pid, 0) == nil {
				continue // its owner is alive
			}
		}
		killAll(f[0])
		exec.Command("ip", "netns", "del", f[0]).Run()
		os.Remove(filepath.Join(ownerDir, id))
	}
}

// killAll ends every process in a lab namespace.
func killAll(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	return nil
}

// KillByName sends SIGKILL to every process in the host's namespace whose
// command name (/proc/PID/comm) is name: what a daemon forked goes with
// it, however it grouped its children.
func (h *Host) KillByName(name string) {
	out, _ := exec.Command("ip", "netns", "pids", h.NS).Output()
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 1 {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == name {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
