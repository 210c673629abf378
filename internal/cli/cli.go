// Package cli is lubdub's command line: a table of commands, each parsing
// its own flags and writing to the given streams. main only calls Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Version is lubdub's version. A variable so that a package build can
// stamp its own (go build -ldflags -X).
var Version = "0.1.0"

// Env is what a command gets.
type Env struct {
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// flagSets, when set, is given each flag set a command makes, before
	// its flags are parsed: how the manual pages and the completion
	// scripts learn the commands' options (describe).
	flagSets func(name, synopsis string, fs *flag.FlagSet)
}

// Command is one sub-command.
type Command struct {
	Name    string
	Summary string
	Run     func(env *Env, args []string) int
}

func commands() []Command {
	return []Command{
		{"run", "run this node in the foreground", cmdRun},
		{"check", "check the configuration and show what run would do", cmdCheck},
		{"migrate-check", "say whether lubdub can replace a Heartbeat node with its /etc/ha.d as it is", cmdMigrateCheck},
		{"status", "show nodes, links and heartbeats (--json for scripts, --watch for a live view)", cmdStatus},
		{"events", "follow what happens: the state now, then every change (--json for scripts)", cmdEvents},
		{"cl_status", "Heartbeat's cl_status: hbstatus, listnodes, nodestatus, ...", cmdClStatus},
		{"standby", "hand this node's groups to the others: standby [--wait [TIMEOUT]] [all|local|foreign] (--wait: return once the move has finished, exit 1 when it fails or TIMEOUT, default 60s, passes)", cmdMove("standby")},
		{"takeover", "take groups over to this node: takeover [--wait [TIMEOUT]] [all|local|foreign] (--wait as for standby)", cmdMove("takeover")},
		{"cleanup", "clear a group that failed or is blocked on this node (and its fail count)", cmdCleanup},
		{"maintenance", "leave this node's groups alone (no monitoring, starts, stops, moves): maintenance on|off [GROUP|all]", cmdMaintenance},
		{"stonith", "Heartbeat's stonith tool: list types, check a device, reset/off/on a node (-h)", cmdStonith},
		{"meatclient", "confirm that you power-cycled a node by hand (meatware): meatclient -c NODE", cmdMeatclient},
		{"probe", "poll a URL as a client and print each change and outage", cmdProbe},
		{"serve", "a minimal web server answering one line of text (for demos and benchmarks)", cmdServe},
		{"lvs", "ipvsadm: virtual services in the kernel (nftables or IPVS), same options and output", cmdLVS},
		{"ldirectord", "run an ldirectord.cf: virtual services with health-checked real servers", cmdLdirectord},
		{"demo", "show a cluster at work in network namespaces on this machine (root)", cmdDemo},
		{"completion", "print a shell completion script: completion bash|zsh", cmdCompletion},
		{"version", "print the version", cmdVersion},
	}
}

// aliases are Heartbeat's command names, for links to the binary.
var aliases = map[string]string{"hb_standby": "standby", "hb_takeover": "takeover", "ipvsadm": "lvs"}

// Run runs the command line and returns the exit code. Invoked through a
// link named after a command (cl_status), the binary behaves as that
// command.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env := &Env{Ctx: ctx, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	prog := filepath.Base(args[0])
	if alias, ok := aliases[prog]; ok {
		prog = alias
	}
	for _, c := range commands() {
		if prog == c.Name && prog != "lubdub" {
			return c.Run(env, args[1:])
		}
	}
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		usage(stdout)
		if len(args) < 2 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if args[1] == c.Name {
			return c.Run(env, args[2:])
		}
	}
	fmt.Fprintf(stderr, "lubdub: unknown command %q\n", args[1])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "lubdub %s: high-availability cluster daemon, a drop-in successor to Heartbeat\n\nUsage: lubdub COMMAND [options]\n\nCommands:\n", Version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun 'lubdub COMMAND -h' for a command's options.\n")
}

// newFlags makes a flag set that reports errors to env.Stderr.
func newFlags(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: lubdub %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	if env.flagSets != nil {
		env.flagSets(name, synopsis, fs)
	}
	return fs
}

// parse parses flags; the int is the exit code when ok is false.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// hostname is the default node name: uname -n, lower-cased as Heartbeat does.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return strings.ToLower(h)
}

const defaultConfigDir = "/etc/ha.d"

func cmdVersion(env *Env, args []string) int {
	fs := newFlags(env, "version", "")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	fmt.Fprintf(env.Stdout, "lubdub %s\n", Version)
	return 0
}
