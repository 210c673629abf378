package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
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
	fs := newFlags(env, "status", "[--socket PATH] [--json | --watch [--interval D]]")
	sock := fs.String("socket", "", "control socket `PATH` (default $LUBDUB_SOCKET or "+control.DefaultSocket+")")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	watch := fs.Bool("watch", false, "a live view, redrawn in place at every event and every --interval, until interrupted (as crm_mon)")
	interval := fs.Duration("interval", 2*time.Second, "with --watch: redraw at least this often")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "lubdub status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *watch {
		if *asJSON {
			fmt.Fprintln(env.Stderr, "lubdub status: --watch and --json do not go together (lubdub events --json streams changes)")
			return 2
		}
		if *interval < 100*time.Millisecond {
			fmt.Fprintf(env.Stderr, "lubdub status: --interval %s is too short (100ms at least)\n", *interval)
			return 2
		}
		return watchStatus(env, socketPath(env, *sock), *interval)
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
	fmt.Fprintf(w, "quorum: %s\n", s.Quorum)
	if s.Ping != "" {
		fmt.Fprintf(w, "ping nodes (ipfail's rule): %s\n", s.Ping)
	}
	for _, peer := range slices.Sorted(maps.Keys(s.AddrChecks)) {
		fmt.Fprintf(w, "node %s: %s\n", peer, s.AddrChecks[peer])
	}
	for _, peer := range slices.Sorted(maps.Keys(s.Fencing)) {
		fmt.Fprintf(w, "fencing node %s: %s\n", peer, s.Fencing[peer])
	}
	fmt.Fprintf(w, "resource protocol: %s (%s)\n\n", s.Dialect, s.DialectWhy)
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
	for _, n := range s.PingNodes {
		last := "never answered"
		if !n.LastHeard.IsZero() {
			last = ago(s.Now, n.LastHeard)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.Status, "(ping node)", last, "icmp echo")
	}
	tw.Flush()
	if len(s.Groups) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tPREFERRED\tOWNER\tHERE\tFAILS\tRESOURCES")
		for _, g := range s.Groups {
			owner := g.Owner
			if owner == "" {
				owner = "-"
			}
			here := g.Local
			if slices.Contains(g.Maintenance, s.Node) {
				here += " (maintenance)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", g.ID, g.Preferred, owner, here, g.FailCount, strings.Join(g.Resources, " "))
		}
		tw.Flush()
		for _, g := range s.Groups {
			printGroupNotes(w, s, g)
		}
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

// printGroupNotes says what the table cannot: maintenance elsewhere, a
// group frozen by a node that left, the last failure and when the fail
// count expires.
func printGroupNotes(w io.Writer, s *control.Status, g control.Group) {
	var others []string
	for _, n := range g.Maintenance {
		if n != s.Node {
			others = append(others, n)
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(w, "%s: in maintenance on %s (not monitored, started, stopped or moved there)\n", g.ID, strings.Join(others, ", "))
	}
	if g.Frozen != "" {
		fmt.Fprintf(w, "%s: %s left holding it in maintenance: no node takes it over until %s is back or 'lubdub cleanup %s' here\n", g.ID, g.Frozen, g.Frozen, g.ID)
	}
	if f := g.LastFailure; f != nil {
		line := fmt.Sprintf("%s: last failure %s: %s", g.ID, ago(s.Now, f.At), f.Op)
		if f.Detail != "" {
			line += ": " + f.Detail
		}
		line += fmt.Sprintf(" (fail count %d", g.FailCount)
		if d, err := time.ParseDuration(s.FailureTimeout); err == nil && g.FailCount > 0 {
			line += fmt.Sprintf(", expires in %s", f.At.Add(d).Sub(s.Now).Round(time.Second))
		}
		if g.Restarts > 0 {
			line += fmt.Sprintf("; %d of %d restarts in place used", g.Restarts, s.MaxRestarts)
		}
		fmt.Fprintln(w, line+")")
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
