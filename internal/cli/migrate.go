package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lubdub/lubdub/internal/fence"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/resource"
)

// cmdMigrateCheck says whether lubdub can take a Heartbeat node's place
// with that node's /etc/ha.d as it is, during a rolling migration where
// the other node still runs Heartbeat, and what to change otherwise.
// Exit 0: it can; 1: changes are needed; 2: bad arguments.
func cmdMigrateCheck(env *Env, args []string) int {
	fs := newFlags(env, "migrate-check", "[-c DIR] [--node NAME]")
	dir := fs.String("c", defaultConfigDir, "the Heartbeat node's configuration directory")
	node := fs.String("node", "", "the node lubdub replaces (default: DIR/nodeinfo, as Heartbeat reads it, else the host name)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	name := strings.ToLower(*node)
	if name == "" {
		if b, err := os.ReadFile(filepath.Join(*dir, "nodeinfo")); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				name = strings.ToLower(f[0])
			}
		}
	}
	if name == "" {
		name = hostname()
	}
	out := env.Stdout
	changes := 0
	change := func(format string, a ...any) {
		changes++
		fmt.Fprintf(out, "change: %s\n", fmt.Sprintf(format, a...))
	}
	ok := func(format string, a ...any) { fmt.Fprintf(out, "ok: %s\n", fmt.Sprintf(format, a...)) }
	note := func(format string, a ...any) { fmt.Fprintf(out, "note: %s\n", fmt.Sprintf(format, a...)) }

	c, r := haconf.Load(*dir, haconf.Options{Node: name, Stonith: fence.NewGluePlugins(nil)})
	for _, d := range r.Errors {
		change("%s", d)
	}
	for _, d := range r.Warnings {
		note("%s", d)
	}
	if c == nil {
		fmt.Fprintf(out, "lubdub cannot read %s as it is: %d change(s) needed\n", *dir, changes)
		return 1
	}
	if len(r.Errors) == 0 {
		ok("ha.cf, authkeys and haresources read as Heartbeat 3.0.6 reads them (doc/differences.md lists where lubdub differs)")
	}
	if c.HasNode(name) { // otherwise Load said so
		ok("lubdub replaces node %s, one of %s", name, strings.Join(c.Nodes, ", "))
	}
	if len(c.Nodes) > 2 && len(c.Groups) > 0 {
		change("ha.cf names %d nodes: Heartbeat's haresources mode is for two nodes only, so lubdub shares groups with Heartbeat nodes only in a two-node cluster; replace every node at once, or keep two nodes", len(c.Nodes))
	}
	if c.Keys != nil {
		k := c.Keys.Keys[c.Keys.Send]
		switch k.Method {
		case "sha256":
			change("authkeys signs with sha256, which Heartbeat does not know: use sha1 (or md5) while a Heartbeat node remains")
		default:
			ok("authentication: key %d, %s (Heartbeat speaks it)", k.Index, k.Method)
		}
	}
	switch c.AutoFailback {
	case "legacy":
		ok("auto_failback legacy (Heartbeat's default): lubdub speaks ip-request with the Heartbeat node; each node takes its own groups back when it starts; standby and takeover are refused in this mode (as hb_standby is): set auto_failback on or off on both nodes for planned moves")
	default:
		ok("auto_failback %s: lubdub speaks Heartbeat's starting/resource/ask_resources protocol, so hb_standby, hb_takeover, lubdub standby and lubdub takeover move groups between the two", c.AutoFailback)
	}
	if len(c.Nodes) == 2 && c.Tuning.WaitForAllWith(2) {
		note("a lubdub node that starts while its peer is down takes nothing until it has seen the peer once (wait_for_all, on by default with two nodes); Heartbeat takes everything after initdead: put 'wait_for_all off' in lubdub.cf beside ha.cf to keep Heartbeat's behaviour")
	}
	renv := resource.Env{ConfigDir: *dir, InitDir: "/etc/init.d", OCFRoot: ocfRoot(env), Node: name}
	for _, g := range c.Groups {
		for _, res := range g.Resources {
			switch {
			case !res.OCF() && (res.Type == "IPaddr" || res.Type == "IPaddr2" || res.Type == "Filesystem" || res.Type == "ldirectord" || res.Type == resource.SyncSwapType || res.Type == resource.ConntrackdType):
				ok("resource %s: built into lubdub", res.Raw)
			default:
				if _, err := resource.New(res, renv); err != nil {
					change("%v", err)
				} else {
					ok("resource %s: script found", res.Raw)
				}
			}
		}
	}
	if changes > 0 {
		fmt.Fprintf(out, "lubdub cannot take %s's place as it is: %d change(s) needed\n", name, changes)
		return 1
	}
	fmt.Fprintf(out, "lubdub can take %s's place as it is: stop Heartbeat there, then start lubdub with -c %s --node %s\n", name, *dir, name)
	return 0
}

// ocfRoot is $OCF_ROOT, or /usr/lib/ocf.
func ocfRoot(env *Env) string {
	if v := env.Getenv("OCF_ROOT"); v != "" {
		return v
	}
	return "/usr/lib/ocf"
}
