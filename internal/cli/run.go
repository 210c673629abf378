package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/daemon"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/resource"
)

func cmdRun(env *Env, args []string) int {
	fs := newFlags(env, "run", "[-c DIR] [--node NAME] [--state-dir DIR] [--socket PATH]")
	dir := fs.String("c", defaultConfigDir, "configuration directory (ha.cf, authkeys, haresources)")
	node := fs.String("node", hostname(), "this node's name (default: uname -n)")
	state := fs.String("state-dir", "/var/lib/lubdub", "where the generation number and node uuid are kept")
	sock := fs.String("socket", control.DefaultSocket, "control socket path")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "lubdub run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	err := daemon.Run(env.Ctx, daemon.Options{ConfigDir: *dir, Node: *node, StateDir: *state,
		Socket: *sock, Version: Version, Stderr: env.Stderr})
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub: not started: %v\n", err)
		if errors.Is(err, daemon.ErrConfig) {
			return 6 // LSB: program is not configured
		}
		return 1
	}
	return 0
}

func cmdCheck(env *Env, args []string) int {
	fs := newFlags(env, "check", "[-c DIR] [--node NAME]")
	dir := fs.String("c", defaultConfigDir, "configuration directory")
	node := fs.String("node", "", "check as this node (it must be declared in ha.cf)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	c, r := haconf.Load(*dir, haconf.Options{Node: *node})
	for _, d := range r.Errors {
		fmt.Fprintln(env.Stderr, d)
	}
	for _, d := range r.Warnings {
		fmt.Fprintf(env.Stderr, "warning: %s\n", d)
	}
	for _, d := range r.Notes {
		fmt.Fprintf(env.Stderr, "note: %s\n", d)
	}
	// ldirectord resources bring a file of their own: read it too.
	nerr := len(r.Errors)
	if c != nil {
		for _, g := range c.Groups {
			for _, res := range g.Resources {
				if res.Type != "ldirectord" {
					continue
				}
				quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
				if _, err := resource.New(res, resource.Env{ConfigDir: *dir, Log: quiet}); err != nil {
					fmt.Fprintln(env.Stderr, err)
					nerr++
				}
			}
		}
	}
	if nerr > 0 {
		fmt.Fprintf(env.Stderr, "%d error(s): lubdub would not start\n", nerr)
		return 1
	}
	local := strings.ToLower(*node)
	if local == "" {
		local = hostname()
		if !c.HasNode(local) {
			fmt.Fprintf(env.Stderr, "note: this host (%s) is not a node in ha.cf: give 'lubdub run --node NAME'\n", local)
		}
	}
	var b strings.Builder
	c.Describe(&b, local)
	fmt.Fprint(env.Stdout, b.String())
	return 0
}
