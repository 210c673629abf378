// Package resource runs haresources resources: the built-in IPaddr,
// IPaddr2, Filesystem, ldirectord, LVSSyncDaemonSwap and conntrackd, Heartbeat resource.d scripts, LSB init scripts
// and OCF agents. Every action runs without a shell in between, with a
// timeout, its output logged line by line.
package resource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
)

// Agent is one resource.
type Agent interface {
	// Name is the resource as haresources writes it.
	Name() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	// Running reports whether the resource is active here.
	Running(ctx context.Context) (bool, error)
}

// Env says where agents are found.
type Env struct {
	ConfigDir string // resource.d lives here
	InitDir   string // /etc/init.d
	OCFRoot   string // /usr/lib/ocf
	Node      string // this node, given to scripts as HA_CURHOST as Heartbeat does
	DataPath  string // for ldirectord: auto, nftables or ipvs
	Log       *slog.Logger
	// Announcer sends the gratuitous ARP of IPaddr and IPaddr2; the
	// node's one (nil: an agent makes its own when it starts).
	Announcer *Announcer
}

// New returns the agent for a resource.
func New(r haconf.Resource, env Env) (Agent, error) {
	if r.OCF() {
		path := filepath.Join(env.OCFRoot, "resource.d", r.Provider, r.Type)
		if err := executable(path); err != nil {
			return nil, fmt.Errorf("OCF agent %s: %w", r.Raw, err)
		}
		return &ocfAgent{res: r, path: path, env: env}, nil
	}
	switch r.Type {
	case "IPaddr", "IPaddr2":
		return newIPAddr(r, env)
	case "Filesystem":
		return newFilesystem(r, env)
	case "ldirectord":
		return newLdirectord(r, env)
	case SyncSwapType:
		return newSyncSwap(r, env)
	case ConntrackdType:
		return newConntrackd(r, env)
	}
	for _, dir := range []string{filepath.Join(env.ConfigDir, "resource.d"), env.InitDir} {
		path := filepath.Join(dir, r.Type)
		if executable(path) == nil {
			return &scriptAgent{res: r, path: path, env: env}, nil
		}
	}
	return nil, fmt.Errorf("resource %s: no script %s in %s/resource.d or %s", r.Raw, r.Type, env.ConfigDir, env.InitDir)
}

func executable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s does not exist", path)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

// ErrTimeout is wrapped when an action runs past its timeout.
var ErrTimeout = errors.New("timed out")

// result of one script action.
type result struct {
	code   int
	output string
}

// run executes path with args and extra environment, bounded by ctx. The
// script and everything it started (its process group) are killed at the
// deadline. Output goes to the log.
func run(ctx context.Context, log *slog.Logger, name string, env []string, path string, args ...string) (result, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Output goes to an unlinked file, not a pipe: a daemon the script
	// leaves behind may keep its copy of the descriptor, and waiting for a
	// pipe's end would then wait for that daemon.
	out, err := os.CreateTemp("", "lubdub-action-")
	if err != nil {
		return result{}, fmt.Errorf("creating output file for %s: %w", path, err)
	}
	os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("running %s: %w", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		text := readOutput(out)
		logOutput(log, name, text)
		return result{code: -1, output: text}, fmt.Errorf("%s %s: %w after %s (killed)", name, strings.Join(args, " "), ErrTimeout, time.Since(start).Round(time.Millisecond))
	}
	text := readOutput(out)
	logOutput(log, name, text)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return result{}, fmt.Errorf("running %s: %w", path, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, output: text}, nil
}

// readOutput reads what an action wrote, up to 64 KiB.
func readOutput(f *os.File) string {
	b := make([]byte, 64<<10)
	n, _ := f.ReadAt(b, 0)
	return string(b[:n])
}

func logOutput(log *slog.Logger, name, out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for n := 0; sc.Scan() && n < 50; n++ {
		log.Info(fmt.Sprintf("%s: %s", name, sc.Text()), "resource", name)
	}
}

// scriptAgent runs a Heartbeat resource.d script or an LSB init script:
// "NAME [args...] start|stop|status".
type scriptAgent struct {
	res  haconf.Resource
	path string
	env  Env

	unmonitored atomic.Bool
}

func (s *scriptAgent) Name() string { return s.res.Raw }

func (s *scriptAgent) action(ctx context.Context, op string) (result, error) {
	env := []string{"HA_CURHOST=" + s.env.Node, "HA_DIR=" + s.env.ConfigDir}
	return run(ctx, s.env.Log, s.res.Raw, env, s.path, append(append([]string{}, s.res.Args...), op)...)
}

// exitZero turns an action that must succeed into an error naming its
// exit code (explained, for OCF agents).
func exitZero(name, op string, r result, err error, explain func(int) string) error {
	if err != nil {
		return err
	}
	if r.code == 0 {
		return nil
	}
	if explain != nil {
		return fmt.Errorf("%s %s exited with %d (%s)", name, op, r.code, explain(r.code))
	}
	return fmt.Errorf("%s %s exited with %d", name, op, r.code)
}

// Start starts the script unless its status says it runs already, as
// ResourceManager's acquireresourcegroup does ("we_own_resource || start").
func (s *scriptAgent) Start(ctx context.Context) error {
	if ok, err := s.Running(ctx); err != nil {
		return err
	} else if ok {
		s.env.Log.Info(fmt.Sprintf("%s is running already: not started again", s.res.Raw), "resource", s.res.Raw)
		return nil
	}
	r, err := s.action(ctx, "start")
	return exitZero(s.res.Raw, "start", r, err, nil)
}

// CheckMonitorable runs status once after a successful start: a script
// whose status does not say running then cannot be monitored. Heartbeat
// never monitors, so it is accepted, logged and left out of monitoring. A
// status that fails here changes nothing.
func (s *scriptAgent) CheckMonitorable(ctx context.Context) {
	if ok, err := s.Running(ctx); err == nil && !ok && !s.unmonitored.Swap(true) {
		s.env.Log.Warn(fmt.Sprintf("%s: its status does not say \"running\" or \"OK\" after a successful start, so lubdub cannot monitor it and will not (Heartbeat never monitors)", s.res.Raw), "resource", s.res.Raw)
	}
}

func (s *scriptAgent) Stop(ctx context.Context) error {
	r, err := s.action(ctx, "stop")
	return exitZero(s.res.Raw, "stop", r, err, nil)
}

// Unmonitored reports that the script's status never said it runs.
func (s *scriptAgent) Unmonitored() bool { return s.unmonitored.Load() }

// Running judges status by its output alone, as ResourceManager's
// we_own_resource does: "not ... running" (any case of the first letters)
// means stopped, then "running"/"Running" or "OK" means running, and
// anything else, silence included, means stopped. The exit code does not
// count.
func (s *scriptAgent) Running(ctx context.Context) (bool, error) {
	r, err := s.action(ctx, "status")
	if err != nil {
		return false, err
	}
	return statusRunning(r.output), nil
}

var (
	notRunningRE = regexp.MustCompile(`(?s)[Nn][Oo][Tt] .*[Rr]unning`)
	runningRE    = regexp.MustCompile(`[Rr]unning|OK`)
)

func statusRunning(output string) bool {
	return !notRunningRE.MatchString(output) && runningRE.MatchString(output)
}

// ocfAgent runs an OCF resource agent with OCF_RESKEY_* parameters.
type ocfAgent struct {
	res  haconf.Resource
	path string
	env  Env
}

// OCF exit codes.
const (
	ocfSuccess    = 0
	ocfNotRunning = 7
)

func (o *ocfAgent) Name() string { return o.res.Raw }

func (o *ocfAgent) environ() []string {
	env := []string{
		"OCF_ROOT=" + o.env.OCFRoot,
		"OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=0",
		"OCF_RESOURCE_INSTANCE=" + o.res.Type,
		"OCF_RESOURCE_TYPE=" + o.res.Type,
		"OCF_RESOURCE_PROVIDER=" + o.res.Provider,
		"OCF_FUNCTIONS_DIR=" + filepath.Join(o.env.OCFRoot, "lib", "heartbeat"),
	}
	for _, p := range o.res.Params {
		env = append(env, "OCF_RESKEY_"+p[0]+"="+p[1])
	}
	return env
}

func (o *ocfAgent) action(ctx context.Context, op string) (result, error) {
	return run(ctx, o.env.Log, o.res.Raw, o.environ(), o.path, op)
}

func (o *ocfAgent) Start(ctx context.Context) error {
	r, err := o.action(ctx, "start")
	return exitZero(o.res.Raw, "start", r, err, ocfCode)
}

func (o *ocfAgent) Stop(ctx context.Context) error {
	r, err := o.action(ctx, "stop")
	return exitZero(o.res.Raw, "stop", r, err, ocfCode)
}

func (o *ocfAgent) Running(ctx context.Context) (bool, error) {
	r, err := o.action(ctx, "monitor")
	if err != nil {
		return false, err
	}
	switch r.code {
	case ocfSuccess:
		return true, nil
	case ocfNotRunning:
		return false, nil
	}
	return false, fmt.Errorf("%s monitor exited with %d (%s)", o.res.Raw, r.code, ocfCode(r.code))
}

func ocfCode(c int) string {
	names := map[int]string{1: "generic error", 2: "invalid argument", 3: "unimplemented", 4: "insufficient privileges",
		5: "not installed", 6: "not configured", 7: "not running", 8: "running as master", 9: "failed master"}
	if n, ok := names[c]; ok {
		return n
	}
	return "unknown"
}
