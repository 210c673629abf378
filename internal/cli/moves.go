package cli

import (
	"fmt"

	"github.com/lubdub/lubdub/internal/control"
)

// cmdMove is standby and takeover (Heartbeat's hb_standby and
// hb_takeover): "lubdub standby [all|local|foreign]".
func cmdMove(cmd string) func(env *Env, args []string) int {
	return func(env *Env, args []string) int {
		fs := newFlags(env, cmd, "[--socket PATH] [all|local|foreign]")
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
		resp, err := control.Call(socketPath(env, *sock), control.Request{Cmd: cmd, Name: which}, callTimeout)
		if err != nil {
			fmt.Fprintf(env.Stderr, "lubdub %s: %v\n", cmd, err)
			return 1
		}
		fmt.Fprintln(env.Stdout, resp.Value)
		return 0
	}
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
