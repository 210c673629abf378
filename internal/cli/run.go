package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/daemon"
	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/fence"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/ldirectord"
	"github.com/lubdub/lubdub/internal/resource"
)

func cmdRun(env *Env, args []string) int {
	fs := newFlags(env, "run", "[-c DIR] [--node NODE] [--state-dir DIR] [--socket PATH]")
	dir := fs.String("c", defaultConfigDir, "read ha.cf, authkeys, haresources (and lubdub.cf) from `DIR`")
	node := fs.String("node", "", "run as `NODE`, this node's name in ha.cf (default: uname -n)")
	state := fs.String("state-dir", "/var/lib/lubdub", "keep the generation number and node uuid in `DIR`")
	sock := fs.String("socket", control.DefaultSocket, "listen for commands on the control socket `PATH`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *node == "" {
		*node = hostname()
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "lubdub run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	notify, err := daemon.SystemdNotifier()
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub: not started: %v\n", err)
		return 1
	}
	err = daemon.Run(env.Ctx, daemon.Options{ConfigDir: *dir, Node: *node, StateDir: *state,
		Socket: *sock, Version: Version, Stderr: env.Stderr, Notify: notify})
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub: not started: %v\n", err)
		if errors.Is(err, daemon.ErrConfig) {
			return 6 // LSB: program is not configured
		}
		return 1
	}
	return 0
}

// errCount is how many problems an ldirectord error holds.
func errCount(err error) int {
	var es ldirectord.Errors
	if errors.As(err, &es) {
		return len(es)
	}
	return 1
}

// dataPathName is the data path ldirectord resources would use here:
// lubdub.cf's lvs_datapath, and for auto the one this kernel offers.
func dataPathName(env *Env, kind string) string {
	if kind == datapath.NFTables || kind == datapath.IPVS {
		return kind
	}
	dp, err := datapath.Open(kind)
	if err != nil {
		fmt.Fprintf(env.Stderr, "note: cannot tell which LVS data path this machine would use (%v): ldirectord files checked without it\n", err)
		return "unknown"
	}
	defer dp.Close()
	return dp.Name()
}

func cmdCheck(env *Env, args []string) int {
	fs := newFlags(env, "check", "[-c DIR] [--node NODE]")
	dir := fs.String("c", defaultConfigDir, "read the configuration from `DIR`")
	node := fs.String("node", "", "check as this `NODE` (it must be declared in ha.cf)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	c, r := haconf.Load(*dir, haconf.Options{Node: *node, Stonith: fence.NewGluePlugins(nil)})
	for _, d := range r.Errors {
		fmt.Fprintln(env.Stderr, d)
	}
	for _, d := range r.Warnings {
		fmt.Fprintf(env.Stderr, "warning: %s\n", d)
	}
	for _, d := range r.Notes {
		fmt.Fprintf(env.Stderr, "note: %s\n", d)
	}
	// ldirectord resources bring a file of their own: read it too, and
	// check it against the data path this machine would put it on.
	nerr := len(r.Errors)
	if c != nil {
		dpName := ""
		for _, g := range c.Groups {
			for _, res := range g.Resources {
				if res.Type == resource.SyncSwapType && !res.OCF() {
					if _, err := resource.ParseSyncSwap(res); err != nil {
						fmt.Fprintln(env.Stderr, err)
						nerr++
						continue
					}
					if dpName == "" {
						dpName = dataPathName(env, c.Tuning.LVSDataPath)
					}
					if dpName == datapath.NFTables {
						fmt.Fprintf(env.Stderr, "resource %s: IPVS's sync daemons need IPVS, and this machine would use nftables (conntrackd synchronises nftables connections)\n", res.Raw)
						nerr++
					}
					continue
				}
				if res.Type == resource.ConntrackdType && !res.OCF() {
					cfg, err := resource.ConntrackdConfig(res, *dir)
					if err == nil {
						_, err = os.Stat(cfg)
					}
					if err != nil {
						fmt.Fprintf(env.Stderr, "resource %s: %v\n", res.Raw, err)
						nerr++
					}
					continue
				}
				if res.Type != "ldirectord" {
					continue
				}
				path := ldirectord.Find(*dir, resource.LdirectordFile(res))
				cfg, err := ldirectord.ReadFile(path)
				if err != nil {
					fmt.Fprintf(env.Stderr, "resource %s: %v\n", res.Raw, err)
					nerr += errCount(err)
					continue
				}
				for _, n := range cfg.Notes {
					fmt.Fprintf(env.Stderr, "note: %s\n", n)
				}
				if dpName == "" {
					dpName = dataPathName(env, c.Tuning.LVSDataPath)
				}
				if err := cfg.Check(dpName); err != nil {
					fmt.Fprintf(env.Stderr, "resource %s: %v\n", res.Raw, err)
					nerr += errCount(err)
				}
			}
		}
	}
	if nerr > 0 {
		fmt.Fprintf(env.Stderr, "%d error(s): lubdub would not start\n", nerr)
		return 1
	}
	for _, g := range c.Groups {
		if w := addressesFirst(g); w != "" {
			fmt.Fprintf(env.Stderr, "warning: %s\n", w)
		}
	}
	if risk := c.SplitBrainRisk(); risk != "" {
		fmt.Fprintf(env.Stderr, "WARNING: %s\n", risk)
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

// addressesFirst warns of a group that syncs connections
// (LVSSyncDaemonSwap, conntrackd) and starts an address before its
// virtual services or the sync: a synced connection that reaches the
// address first meets neither IPVS (it hooks into the stack only once it
// has a service) nor its committed entry and is reset by this node's own
// stack.
func addressesFirst(g haconf.Group) string {
	addr, last, sync := "", -1, false
	for i, r := range g.Resources {
		switch {
		case r.OCF():
		case (r.Type == "IPaddr" || r.Type == "IPaddr2") && addr == "":
			addr = r.Raw
		case r.Type == resource.SyncSwapType || r.Type == resource.ConntrackdType || r.Type == "ldirectord":
			sync = sync || r.Type != "ldirectord"
			if addr != "" {
				last = i
			}
		}
	}
	if !sync || last < 0 {
		return ""
	}
	return fmt.Sprintf("resource group %s starts %s before %s: connections synced from the other director that reach the address first are reset here; put the addresses last, as Heartbeat's LVS examples do",
		g.ID(), addr, g.Resources[last].Raw)
}
