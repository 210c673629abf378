package resource

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lubdub/lubdub/internal/haconf"
)

// ConntrackdType is the haresources name of the conntrackd resource.
const ConntrackdType = "conntrackd"

// DefaultConntrackdConfig is conntrack-tools' configuration file, which
// conntrackd[::FILE] reads when FILE is not given.
const DefaultConntrackdConfig = "/etc/conntrackd/conntrackd.conf"

// conntrackdAgent is conntrackd[::FILE]: Debian's conntrackd
// (conntrack-tools) synchronising the kernel's connection tracking
// entries between the directors, switched with the group as conntrack-
// tools' primary-backup.sh and Pacemaker's ocf:heartbeat:conntrackd
// agent switch it. The daemon runs on every node from lubdub's start-up
// (started with -d unless it runs); the group's start makes this node the
// primary (-c commits the entries the other director sent into this
// kernel, -f flushes the caches, -R resyncs them with the kernel, -B sends
// them to the other), its stop makes it a backup again (-t shortens the
// kernel's timers of what it no longer serves, -n asks the other for its
// entries). On the nftables data path that is what carries a director's
// balanced connections, their NAT and lubdub's connection mark, over a
// takeover; it works as well for IPVS with conntrack on.
//
// Pacemaker's agent is a promotable clone, which Heartbeat's haresources
// cannot express (and it calls crm_master), so lubdub carries out its
// contract itself, without a shell, each call bounded by the executor's
// timeout. A file in /run/lubdub marks the primary, as the agent's state
// file does, so that a restarted lubdub finds and demotes it.
type conntrackdAgent struct {
	raw    string
	config string // absolute path of conntrackd.conf
	bin    string
	lock   string // its LockFile, removed when no daemon runs (as primary-backup.sh does)
	state  string // marks this node as the primary
	env    Env
}

// ConntrackdConfig is the configuration file a conntrackd[::FILE]
// resource names: FILE, relative to the configuration directory unless
// absolute, or DefaultConntrackdConfig.
func ConntrackdConfig(r haconf.Resource, configDir string) (string, error) {
	switch {
	case len(r.Args) > 1:
		return "", fmt.Errorf("resource %s: conntrackd takes one argument, its configuration file", r.Raw)
	case len(r.Args) == 0:
		return DefaultConntrackdConfig, nil
	case filepath.IsAbs(r.Args[0]):
		return r.Args[0], nil
	}
	return filepath.Join(configDir, r.Args[0]), nil
}

func newConntrackd(r haconf.Resource, env Env) (*conntrackdAgent, error) {
	cfg, err := ConntrackdConfig(r, env.ConfigDir)
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("conntrackd")
	if err != nil {
		return nil, fmt.Errorf("resource %s: conntrackd is not installed (apt-get install conntrackd)", r.Raw)
	}
	lock, err := conntrackdLockFile(cfg)
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", r.Raw, err)
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(strings.TrimPrefix(cfg, "/"))
	return &conntrackdAgent{raw: r.Raw, config: cfg, bin: bin, lock: lock, env: env,
		state: filepath.Join("/run/lubdub", "conntrackd."+name+".primary")}, nil
}

// conntrackdLockFile reads the General section's LockFile from a
// conntrackd.conf ("" when not set).
func conntrackdLockFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading conntrackd's configuration: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l, _, _ := strings.Cut(sc.Text(), "#")
		if f := strings.Fields(l); len(f) == 2 && f[0] == "LockFile" {
			return f[1], nil
		}
	}
	return "", sc.Err()
}

func (a *conntrackdAgent) Name() string { return a.raw }

// call runs conntrackd -C CONFIG with args; a non-zero exit is an error
// naming the step.
func (a *conntrackdAgent) call(ctx context.Context, what string, args ...string) error {
	r, err := run(ctx, a.env.Log, a.raw, nil, a.bin, append([]string{"-C", a.config}, args...)...)
	if err == nil && r.code != 0 {
		err = fmt.Errorf("exit %d: %s", r.code, strings.TrimSpace(r.output))
	}
	if err != nil {
		return fmt.Errorf("%s: conntrackd %s (%s): %w", a.raw, strings.Join(args, " "), what, err)
	}
	return nil
}

// daemon starts conntrackd unless it answers on its socket.
func (a *conntrackdAgent) daemon(ctx context.Context) error {
	if a.call(ctx, "statistics", "-s") == nil {
		return nil
	}
	if a.lock != "" {
		if _, err := os.Stat(a.lock); err == nil {
			a.env.Log.Warn(fmt.Sprintf("%s: conntrackd does not run but its lock file %s is left: removing it", a.raw, a.lock), "resource", a.raw)
			os.Remove(a.lock)
		}
	}
	if err := a.call(ctx, "starting the daemon", "-d"); err != nil {
		return err
	}
	a.env.Log.Info(fmt.Sprintf("%s: conntrackd started", a.raw), "resource", a.raw)
	return nil
}

// Start makes this node the primary: its kernel takes the entries the
// other director sent, then this node sends its own.
func (a *conntrackdAgent) Start(ctx context.Context) error {
	if err := a.daemon(ctx); err != nil {
		return err
	}
	if err := a.call(ctx, "committing the other director's connections", "-c"); err != nil {
		return err
	}
	for _, s := range []struct{ flag, what string }{{"-f", "flushing the caches"}, {"-R", "resyncing with the kernel"}, {"-B", "sending a bulk update"}} {
		if err := a.call(ctx, s.what, s.flag); err != nil {
			// As primary-backup.sh: logged; the commit is what counts.
			a.env.Log.Warn(err.Error(), "resource", a.raw)
		}
	}
	if err := os.MkdirAll(filepath.Dir(a.state), 0o755); err != nil {
		return fmt.Errorf("%s: %w", a.raw, err)
	}
	if err := os.WriteFile(a.state, nil, 0o644); err != nil {
		return fmt.Errorf("%s: marking the primary: %w", a.raw, err)
	}
	return nil
}

// Stop makes this node a backup again; the daemon goes on running to
// receive the other director's connections.
func (a *conntrackdAgent) Stop(ctx context.Context) error {
	if err := a.daemon(ctx); err != nil {
		return err
	}
	for _, s := range []struct{ flag, what string }{{"-t", "shortening the kernel's timers"}, {"-n", "asking the other director for its connections"}} {
		if err := a.call(ctx, s.what, s.flag); err != nil {
			a.env.Log.Warn(err.Error(), "resource", a.raw)
		}
	}
	if err := os.Remove(a.state); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("%s: %w", a.raw, err)
	}
	return nil
}

// Running: this node is the primary and its daemon answers.
func (a *conntrackdAgent) Running(ctx context.Context) (bool, error) {
	if _, err := os.Stat(a.state); err != nil {
		return false, nil
	}
	return a.call(ctx, "statistics", "-s") == nil, nil
}

// Prepare, at start-up, makes a node that is not the primary a backup
// with its daemon running.
func (a *conntrackdAgent) Prepare(ctx context.Context) error {
	if ok, _ := a.Running(ctx); ok {
		return nil // the primary of an earlier life: the group is stopped
	}
	return a.Stop(ctx)
}
