package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/control"
)

// defaultWait is --wait's timeout when none is given.
const defaultWait = 60 * time.Second

// cmdMove is standby and takeover (Heartbeat's hb_standby and
// hb_takeover): "lubdub standby [--wait [TIMEOUT]] [all|local|foreign]".
// With --wait it returns once the move has finished (exit 0), or exits 1
// when it failed or TIMEOUT passed, for scripted rolling upgrades.
func cmdMove(cmd string) func(env *Env, args []string) int {
	return func(env *Env, args []string) int {
		args, wait, err := waitOption(args)
		if err != nil {
			fmt.Fprintf(env.Stderr, "lubdub %s: %v\n", cmd, err)
			return 2
		}
		fs := newFlags(env, cmd, "[--socket PATH] [--wait [TIMEOUT]] [all|local|foreign]")
		sock := fs.String("socket", "", "control socket `PATH` (default $LUBDUB_SOCKET or "+control.DefaultSocket+")")
		if code, ok := parse(fs, args); !ok {
			return code
		}
		which := "all"
		switch fs.NArg() {
		case 0:
		case 1:
			which = fs.Arg(0)
		default:
			fmt.Fprintf(env.Stderr, "lubdub %s: one argument at most: all, local or foreign\n", cmd)
			return 2
		}
		if which != "all" && which != "local" && which != "foreign" {
			fmt.Fprintf(env.Stderr, "lubdub %s: %q is not all, local or foreign\n", cmd, which)
			return 2
		}
		path := socketPath(env, *sock)
		var before *control.Status
		if wait > 0 {
			r, err := control.Call(path, control.Request{Cmd: "status"}, callTimeout)
			if err != nil {
				fmt.Fprintf(env.Stderr, "lubdub %s: %v\n", cmd, err)
				return 1
			}
			before = r.Status
		}
		started := time.Now()
		resp, err := control.Call(path, control.Request{Cmd: cmd, Name: which}, callTimeout)
		if err != nil {
			fmt.Fprintf(env.Stderr, "lubdub %s: %v\n", cmd, err)
			return 1
		}
		fmt.Fprintln(env.Stdout, resp.Value)
		if wait == 0 {
			return 0
		}
		groups := moving(cmd, which, before)
		deadline := started.Add(wait)
		for {
			r, err := control.Call(path, control.Request{Cmd: "status"}, callTimeout)
			if err != nil {
				fmt.Fprintf(env.Stderr, "lubdub %s: waiting: %v\n", cmd, err)
				return 1
			}
			pending, err := moveDone(cmd, groups, r.Status)
			if err != nil {
				fmt.Fprintf(env.Stderr, "lubdub %s: %v\n", cmd, err)
				return 1
			}
			if len(pending) == 0 {
				fmt.Fprintf(env.Stdout, "%s %s: done in %s\n", cmd, which, time.Since(started).Round(time.Millisecond))
				return 0
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(env.Stderr, "lubdub %s: not done after %s: %s\n", cmd, wait, strings.Join(pending, "; "))
				return 1
			}
			select {
			case <-env.Ctx.Done():
				return 1
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// waitOption takes --wait [TIMEOUT] (or --wait=TIMEOUT, -wait) out of the
// arguments, wherever it stands; 0 without it.
func waitOption(args []string) (rest []string, wait time.Duration, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		if name != "--wait" && name != "-wait" {
			rest = append(rest, a)
			continue
		}
		wait = defaultWait
		if !hasVal && i+1 < len(args) {
			if looksLikeTime(args[i+1]) {
				val, hasVal = args[i+1], true
				i++
			}
		}
		if hasVal {
			if wait, err = parseWait(val); err != nil {
				return nil, 0, err
			}
		}
	}
	return rest, wait, nil
}

// looksLikeTime: a word --wait takes as its timeout rather than as the
// next argument (all, local, foreign).
func looksLikeTime(v string) bool {
	_, err := time.ParseDuration(v)
	_, ferr := strconv.ParseFloat(v, 64)
	return err == nil || ferr == nil
}

// parseWait reads a timeout: a Go duration (90s, 2m) or seconds.
func parseWait(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, fmt.Errorf("--wait %q: give a time such as 90s, 2m or 30 (seconds)", v)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("--wait %q: the timeout must be more than 0", v)
	}
	return d, nil
}

// moving lists the groups a move concerns, from the status before it:
// for standby the selected groups this node held, for takeover the
// selected groups it did not run.
func moving(cmd, which string, before *control.Status) []string {
	var out []string
	for _, g := range before.Groups {
		if which == "local" && g.Preferred != before.Node || which == "foreign" && g.Preferred == before.Node {
			continue
		}
		held := g.Local == "starting" || g.Local == "running" || g.Local == "stopping" || g.Local == "blocked"
		if cmd == "standby" && held || cmd == "takeover" && g.Local != "running" {
			out = append(out, g.ID)
		}
	}
	return out
}

// moveDone says which of the moving groups have not arrived yet: after a
// standby, a group has arrived once it runs on another node and nothing of
// it runs here; after a takeover, once it runs here. A group that failed
// or blocked on the way is an error.
func moveDone(cmd string, groups []string, s *control.Status) (pending []string, err error) {
	for _, g := range s.Groups {
		if !slices.Contains(groups, g.ID) {
			continue
		}
		switch {
		case g.Local == "blocked":
			return nil, fmt.Errorf("%s could not be stopped here: it is blocked (lubdub cleanup %s once it no longer runs)", g.ID, g.ID)
		case cmd == "takeover" && g.Local == "failed":
			return nil, fmt.Errorf("%s failed to start here", g.ID)
		case cmd == "takeover" && g.Local != "running":
			pending = append(pending, fmt.Sprintf("%s is %s here", g.ID, g.Local))
		case cmd == "standby" && g.Local != "stopped" && g.Local != "failed":
			pending = append(pending, fmt.Sprintf("%s is %s here", g.ID, g.Local))
		case cmd == "standby" && (g.Owner == "" || g.Owner == s.Node):
			pending = append(pending, fmt.Sprintf("%s runs nowhere yet", g.ID))
		}
	}
	return pending, nil
}

// cmdCleanup clears a failed or blocked group on this node, once the
// operator has made sure its resources no longer run.
func cmdCleanup(env *Env, args []string) int {
	fs := newFlags(env, "cleanup", "[--socket PATH] GROUP|all")
	sock := fs.String("socket", "", "control socket `PATH` (default $LUBDUB_SOCKET or "+control.DefaultSocket+")")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.Stderr, "lubdub cleanup: name the group (its first resource, as lubdub status shows it) or all")
		return 2
	}
	resp, err := control.Call(socketPath(env, *sock), control.Request{Cmd: "cleanup", Name: fs.Arg(0)}, callTimeout)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub cleanup: %v\n", err)
		return 1
	}
	fmt.Fprintln(env.Stdout, resp.Value)
	return 0
}

// cmdMaintenance turns maintenance mode on or off for this node's groups:
// no monitoring, starts, stops or moves of them here while on; membership
// goes on. It is kept across restarts of the daemon.
func cmdMaintenance(env *Env, args []string) int {
	fs := newFlags(env, "maintenance", "[--socket PATH] on|off [GROUP|all]")
	sock := fs.String("socket", "", "control socket")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 || (fs.Arg(0) != "on" && fs.Arg(0) != "off") {
		fmt.Fprintln(env.Stderr, "lubdub maintenance: say on or off, then a group (its first resource, as lubdub status shows it) or all (the default)")
		return 2
	}
	which := "all"
	if fs.NArg() == 2 {
		which = fs.Arg(1)
	}
	resp, err := control.Call(socketPath(env, *sock), control.Request{Cmd: "maintenance", Name: fs.Arg(0) + " " + which}, callTimeout)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub maintenance: %v\n", err)
		return 1
	}
	fmt.Fprintln(env.Stdout, resp.Value)
	return 0
}
