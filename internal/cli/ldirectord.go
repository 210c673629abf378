package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/hblog"
	"github.com/lubdub/lubdub/internal/ldirectord"
	"github.com/lubdub/lubdub/internal/lvs"
)

// ldirectordCommands are ldirectord's own commands.
var ldirectordCommands = []string{"start", "stop", "status", "reload", "force-reload", "restart", "try-restart"}

// ldirectordConfig finds a configuration as ldirectord's ld_init does:
// /etc/ha.d/NAME, then /etc/ha.d/conf/NAME, then NAME as given. Its
// pid-file name is ldirectord.BASENAME.pid (ldirectord.ldirectord.pid
// when no configuration is named).
func ldirectordConfig(name string) (path, cfname string) {
	if name == "" {
		name, cfname = "ldirectord.cf", "ldirectord"
	} else {
		cfname = filepath.Base(name)
	}
	for _, p := range []string{filepath.Join("/etc/ha.d", name), filepath.Join("/etc/ha.d/conf", name)} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, cfname
		}
	}
	return name, cfname
}

// runningPid returns the pid a pid file names if that process is an
// ldirectord (its command line says so, as ld_init checks), else 0; stale
// is true when the file names no such process.
func runningPid(pidfile string) (pid int, stale bool) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, false
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "ldirectord") {
		return 0, true
	}
	return pid, false
}

// cmdLdirectord runs an ldirectord.cf in the foreground, without a
// cluster, and takes ldirectord's commands: its virtual services go into
// the kernel, real servers are checked and added or removed; SIGHUP (or
// lubdub ldirectord reload) re-reads the file and applies the difference,
// keeping the old configuration when the new one has errors; SIGTERM
// takes the services out again (those with cleanstop=no stay). In a
// cluster, put ldirectord::FILE in haresources instead.
func cmdLdirectord(env *Env, args []string) int {
	fs := newFlags(env, "ldirectord", "[--check] [--datapath auto|nftables|ipvs] [--pid-dir DIR] [--socket PATH] [CONFIG] [start|stop|status|reload|force-reload|restart|try-restart]")
	check := fs.Bool("check", false, "read the configuration, print the table it gives with every real server up, and exit")
	kind := fs.String("datapath", env.Getenv("LUBDUB_DATAPATH"), "kernel data path (default: IPVS if the kernel has it, else nftables)")
	pidDir := fs.String("pid-dir", "/var/run", "keep the pid file ldirectord.CONFIG.pid in `DIR` (as ldirectord does)")
	sock := fs.String("socket", control.DefaultSocket, "control socket `PATH` of a lubdub daemon whose ldirectord resource a reload may reach")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	var name, command string
	switch a := fs.Args(); {
	case len(a) == 0:
	case len(a) == 1 && slices.Contains(ldirectordCommands, a[0]):
		command = a[0]
	case len(a) == 1:
		name = a[0]
	case len(a) == 2 && slices.Contains(ldirectordCommands, a[1]):
		name, command = a[0], a[1]
	case len(a) == 2 && slices.Contains(ldirectordCommands, a[0]):
		command, name = a[0], a[1]
	default:
		fs.Usage()
		return 2
	}
	path, cfname := ldirectordConfig(name)
	pidfile := filepath.Join(*pidDir, "ldirectord."+cfname+".pid")
	errf := func(format string, a ...any) { fmt.Fprintf(env.Stderr, "lubdub ldirectord: "+format+"\n", a...) }

	switch command {
	case "stop", "status", "try-restart":
		pid, stale := runningPid(pidfile)
		switch {
		case command == "status" && pid != 0:
			fmt.Fprintf(env.Stderr, "ldirectord for %s is running with pid: %d\n", path, pid)
			return 0
		case command == "status" && stale:
			fmt.Fprintf(env.Stderr, "ldirectord stale pid file %s for %s\n", pidfile, path)
			fmt.Fprintf(env.Stdout, "ldirectord is stopped for %s\n", path)
			return 1
		case command == "status":
			fmt.Fprintf(env.Stdout, "ldirectord is stopped for %s\n", path)
			return 3
		case pid == 0:
			return 0 // stop, try-restart: nothing runs
		}
		if err := terminate(pid, pidfile); err != nil {
			errf("%v", err)
			return 1
		}
		if command == "stop" {
			return 0
		}
	}

	cfg, err := ldirectord.ReadFile(path)
	if err != nil {
		errf("%v", err)
		if command == "reload" || command == "force-reload" {
			errf("%s NOT reloaded: the running ldirectord keeps its configuration", path)
		}
		return 1
	}
	for _, n := range cfg.Notes {
		errf("note: %s", n)
	}
	switch command {
	case "reload", "force-reload":
		pid, _ := runningPid(pidfile)
		if pid == 0 {
			// Not standalone: perhaps an ldirectord resource of the
			// lubdub daemon reads this file.
			abs, _ := filepath.Abs(path)
			r, err := control.Call(*sock, control.Request{Cmd: "reload-ldirectord", Name: abs}, 3*time.Second)
			if err == nil && r.Error == "" {
				return 0
			}
			fmt.Fprintf(env.Stderr, "ldirectord is stopped for %s\n", path)
			return 1
		}
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			errf("signalling pid %d: %v", pid, err)
			return 1
		}
		return 0
	case "restart":
		if pid, _ := runningPid(pidfile); pid != 0 {
			if err := terminate(pid, pidfile); err != nil {
				errf("%v", err)
				return 1
			}
		}
	case "", "start":
		if pid, _ := runningPid(pidfile); pid != 0 && !*check {
			fmt.Fprintf(env.Stderr, "ldirectord for %s is running with pid: %d\n", path, pid)
			return 0
		}
	}

	dp, err := datapath.Open(*kind)
	if err != nil {
		errf("%v", err)
		return 1
	}
	defer dp.Close()
	if *check {
		if err := cfg.Check(dp.Name()); err != nil {
			errf("%v", err)
			return 1
		}
		t := &lvs.Table{}
		for _, v := range cfg.Virtuals {
			t.Services = append(t.Services, ldirectord.Service(v, func(ldirectord.ID) bool { return true }))
		}
		fmt.Fprintf(env.Stdout, "# %s on %s, every real server up:\n%s", path, dp.Name(), t.Save())
		return 0
	}
	h, _ := hblog.New(hblog.Options{Stderr: env.Stderr, Entity: "ldirectord"})
	defer h.Close()
	log := slog.New(h)
	ctx, stop := signal.NotifyContext(env.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	c := ldirectord.NewChecker(cfg, dp, ldirectord.Check, log)
	if err := c.Start(ctx); err != nil {
		errf("%v", err)
		return 1
	}
	if err := os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		log.Warn(fmt.Sprintf("ldirectord: cannot write pid file %s (lubdub ldirectord reload will not find this one): %v", pidfile, err))
	} else {
		defer os.Remove(pidfile)
	}
	log.Info(fmt.Sprintf("ldirectord: %d virtual services of %s in the kernel (%s); checking", len(cfg.Virtuals), path, dp.Name()))
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hups:
				reloadFile(ctx, c, path, log)
			}
		}
	}()
	c.Run(ctx)
	if err := c.Remove(); err != nil {
		errf("removing virtual services: %v", err)
		return 1
	}
	log.Info("ldirectord: virtual services removed; exiting")
	return 0
}

// reloadFile is SIGHUP: re-read the file and apply it, or keep the
// configuration in force when it has errors.
func reloadFile(ctx context.Context, c *ldirectord.Checker, path string, log *slog.Logger) {
	log.Info("Reloading Linux Director Daemon config on signal")
	cfg, err := ldirectord.ReadFile(path)
	if err == nil {
		err = c.Reload(ctx, cfg)
	}
	if err != nil {
		if ctx.Err() == nil {
			ldirectord.LogRefused(log, path, err)
		}
		return
	}
	for _, n := range cfg.Notes {
		log.Info(n)
	}
}

// terminate sends SIGTERM to a running ldirectord and waits (at most 30
// s, as a bound) for its pid file to go, as ldirectord restart does.
func terminate(pid int, pidfile string) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signalling pid %d: %w", pid, err)
	}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(pidfile); err != nil {
			return nil
		}
	}
	return fmt.Errorf("ldirectord pid %d did not stop within 30s", pid)
}
