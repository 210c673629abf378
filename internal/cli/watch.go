package cli

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/events"
)

// clearScreen moves the cursor home and clears the terminal, as crm_mon
// and watch(1) redraw.
const clearScreen = "\x1b[H\x1b[2J"

// watchRecent is how many recent events the live view shows.
const watchRecent = 8

// watchStatus is lubdub status --watch: the status redrawn in place at
// every event the daemon reports and at least every interval, with the
// latest events under it, until interrupted. A daemon that is not running
// (or stops) is said so on the screen, and asked again every interval.
func watchStatus(env *Env, path string, interval time.Duration) int {
	evc := make(chan events.Event, 256)
	go followEvents(env, path, interval, evc)
	var recent []events.Event
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := drawStatus(env, path, interval, recent); err != nil {
			return 1 // stdout is gone
		}
		select {
		case <-env.Ctx.Done():
			return 0
		case <-ticker.C:
		case e := <-evc:
			// Everything that came at once is drawn once.
			for more := true; more; {
				if !e.Replay {
					recent = append(recent, e)
				}
				select {
				case e = <-evc:
				default:
					more = false
				}
			}
			if len(recent) > watchRecent {
				recent = recent[len(recent)-watchRecent:]
			}
		}
	}
}

// followEvents passes the daemon's events to evc, connecting again every
// interval while it cannot, until the command is interrupted.
func followEvents(env *Env, path string, interval time.Duration, evc chan<- events.Event) {
	for env.Ctx.Err() == nil {
		control.Stream(env.Ctx, path, control.Request{Cmd: "events"}, func(line []byte) error {
			if e, err := events.Decode(line); err == nil {
				select {
				case evc <- e:
				default: // the view is behind anyway: it redraws from the status
				}
			}
			return nil
		})
		select {
		case <-env.Ctx.Done():
		case <-time.After(interval):
		}
	}
}

// drawStatus writes one screen: a header, the status (or why there is
// none) and the recent events.
func drawStatus(env *Env, path string, interval time.Duration, recent []events.Event) error {
	var b bytes.Buffer
	b.WriteString(clearScreen)
	fmt.Fprintf(&b, "lubdub status --watch: redrawn at every event and every %s; Ctrl-C to quit. %s\n\n", interval, time.Now().Format("2006-01-02 15:04:05"))
	resp, err := control.Call(path, control.Request{Cmd: "status"}, min(interval, callTimeout))
	switch {
	case errors.Is(err, control.ErrNotRunning):
		fmt.Fprintf(&b, "%v\nasking again every %s\n", err, interval)
	case err != nil:
		fmt.Fprintf(&b, "no status: %v\n", err)
	default:
		printStatus(&b, resp.Status)
	}
	if len(recent) > 0 {
		fmt.Fprintf(&b, "\nrecent events (lubdub events follows them all):\n")
		for _, e := range recent {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	_, err = env.Stdout.Write(b.Bytes())
	return err
}
