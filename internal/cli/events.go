package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/events"
)

// cmdEvents follows the daemon's events: first the state now (each line
// marked "(now)", or "replay": true in JSON), then every event as it
// happens, until interrupted or the daemon stops. A reader too slow for
// the stream is cut off by the daemon; it reconnects at once and gets the
// state again, so it is never stale.
func cmdEvents(env *Env, args []string) int {
	fs := newFlags(env, "events", "[--socket PATH] [--json]")
	sock := fs.String("socket", "", "control socket (default $LUBDUB_SOCKET or "+control.DefaultSocket+")")
	asJSON := fs.Bool("json", false, "print each event as one JSON object a line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "lubdub events: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	path := socketPath(env, *sock)
	for {
		err := control.Stream(env.Ctx, path, control.Request{Cmd: "events"}, func(line []byte) error {
			e, err := events.Decode(line)
			if err != nil {
				return fmt.Errorf("the daemon sent %q: %w", line, err)
			}
			if *asJSON {
				_, err = fmt.Fprintf(env.Stdout, "%s\n", line)
			} else {
				_, err = fmt.Fprintln(env.Stdout, e)
			}
			return err
		})
		switch {
		case err == nil:
			return 0
		case strings.Contains(err.Error(), events.ErrFellBehind.Error()):
			fmt.Fprintf(env.Stderr, "lubdub events: %v; reconnecting\n", err)
			continue
		case errors.Is(err, control.ErrNotRunning):
			fmt.Fprintf(env.Stderr, "lubdub events: %v\n", err)
			return 3 // LSB: not running
		case errors.Is(err, control.ErrStreamEnded):
			fmt.Fprintln(env.Stderr, "lubdub events: the daemon stopped")
			return 1
		}
		fmt.Fprintf(env.Stderr, "lubdub events: %v\n", err)
		return 1
	}
}
