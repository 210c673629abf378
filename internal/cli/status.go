package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lubdub/lubdub/internal/control"
)

const callTimeout = 5 * time.Second

// socketPath is --socket, else $LUBDUB_SOCKET, else the default.
func socketPath(env *Env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := env.Getenv("LUBDUB_SOCKET"); v != "" {
		return v
	}
	return control.DefaultSocket
}

func cmdStatus(env *Env, args []string) int {
	fs := newFlags(env, "status", "[--socket PATH] [--json]")
	sock := fs.String("socket", "", "control socket `PATH` (default $LUBDUB_SOCKET or "+control.DefaultSocket+")")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	resp, err := control.Call(socketPath(env, *sock), control.Request{Cmd: "status"}, callTimeout)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub status: %v\n", err)
		if errors.Is(err, control.ErrNotRunning) {
			return 3 // LSB: not running
		}
		return 1
	}
	s := resp.Status
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(s)
		return 0
	}
	printStatus(env.Stdout, s)
	return 0
}

// printStatus writes the human overview of a node's status.
func printStatus(w io.Writer, s *control.Status) {
	fmt.Fprintf(w, "lubdub %s on %s, generation %d, up %s\n", s.Version, s.Node, s.Generation, s.Now.Sub(s.Started).Round(time.Second))
	fmt.Fprintf(w, "keepalive %s, warntime %s, deadtime %s, initdead %s; resources held: %s\n", s.Keepalive, s.Warntime, s.Deadtime, s.Initdead, s.Resources)
	fmt.Fprintf(w, "quorum: %s\n\n", s.Quorum)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tGENERATION\tLAST HEARTBEAT\tLINKS")
	for _, n := range s.Nodes {
		last := ago(s.Now, n.LastHeard)
		if n.Local {
			last = "(this node)"
		}
		var links []string
		for _, l := range n.Links {
			entry := l.Name + " " + l.Status
			if !n.Local && !l.LastHeard.IsZero() {
				entry += " (" + ago(s.Now, l.LastHeard) + ")"
			}
			links = append(links, entry)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", n.Name, n.Status, n.Generation, last, strings.Join(links, ", "))
	}
	tw.Flush()
	if len(s.Groups) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tPREFERRED\tOWNER\tHERE\tRESOURCES")
		for _, g := range s.Groups {
			owner := g.Owner
			if owner == "" {
				owner = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.ID, g.Preferred, owner, g.Local, strings.Join(g.Resources, " "))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, m := range s.Media {
		line := fmt.Sprintf("medium %s %s: %s", m.Type, m.Name, m.State)
		if m.Error != "" {
			line += " (" + m.Error + ")"
		}
		fmt.Fprintln(w, line)
	}
	if len(s.Drops) > 0 {
		keys := make([]string, 0, len(s.Drops))
		for k := range s.Drops {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, s.Drops[k]))
		}
		fmt.Fprintf(w, "dropped packets: %s\n", strings.Join(parts, ", "))
	}
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs ago", d.Seconds())
	}
	return d.Round(time.Second).String() + " ago"
}

// clLog writes an error line as cl_status does (its cl_log to stderr).
func clLog(env *Env, format string, a ...any) {
	fmt.Fprintf(env.Stderr, "cl_status[%d]: %s ERROR: %s\n", os.Getpid(), time.Now().Format("2006/01/02_15:04:05"), fmt.Sprintf(format, a...))
}
