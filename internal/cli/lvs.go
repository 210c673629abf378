package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/lubdub/lubdub/internal/netdb"
)

const lvsHelp = `Usage (ipvsadm's):
  lubdub lvs -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask]
  lubdub lvs -D -t|u service-address
  lubdub lvs -C
  lubdub lvs -R < rules
  lubdub lvs -S [-n]
  lubdub lvs                (with no arguments: lubdub lvs -L)
  lubdub lvs --version
  lubdub lvs -a|e -t|u service-address -r server-address [-g|i|m] [-w weight]
  lubdub lvs -d -t|u service-address -r server-address
  lubdub lvs -L|l [-t|u service-address] [-n] [--stats|--rate|-c]
  lubdub lvs -Z [-t|u service-address]
  lubdub lvs --start-daemon {master|backup} [daemon-options]
  lubdub lvs --stop-daemon {master|backup}
  lubdub lvs -L --daemon
Daemon options (IPVS's connection sync daemons):
  --mcast-interface IF  --syncid 0-255  --sync-maxlen BYTES
  --mcast-group ADDR  --mcast-port PORT  --mcast-ttl TTL
Schedulers on nftables: rr, wrr, sh, dh (lc, wlc and the rest need IPVS).
Forwarding on nftables: -m (masquerading); -g and -i need IPVS.
Sync daemons need IPVS; on nftables conntrackd syncs connections.
The data path is chosen automatically (IPVS if the kernel has it, else
nftables); --datapath=nftables|ipvs (first argument) or LUBDUB_DATAPATH
forces one.
`

// lvsVersion is ipvsadm's --version line: scripts read its second word.
const lvsVersion = "ipvsadm v1.31 2019/12/24 (lubdub lvs, compatible with ipvsadm 1.31 and IPVS v1.2.1)"

// cmdLVS is ipvsadm: it reads the table from the kernel, applies the
// command and writes the difference back, so it needs no daemon.
func cmdLVS(env *Env, args []string) int {
	kind := env.Getenv("LUBDUB_DATAPATH")
	if len(args) > 0 {
		if v, ok := strings.CutPrefix(args[0], "--datapath="); ok {
			kind, args = v, args[1:]
		}
	}
	names := netdb.System()
	if len(args) == 0 {
		// ipvsadm with no arguments lists the table, names resolved.
		args = []string{"-L"}
	}
	c, err := lvs.ParseNames(args, names)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub lvs: %v\n", err)
		var ue *lvs.UsageError
		if errors.As(err, &ue) {
			fmt.Fprint(env.Stderr, lvsHelp)
			return ue.ExitCode()
		}
		return 1
	}
	switch c.Op {
	case lvs.OpHelp:
		fmt.Fprint(env.Stdout, lvsHelp)
		return 0
	case lvs.OpVersion:
		fmt.Fprintln(env.Stdout, lvsVersion)
		return 0
	}
	dp, err := datapath.Open(kind)
	if err != nil {
		fmt.Fprintf(env.Stderr, "lubdub lvs: %v\n", err)
		return 1
	}
	defer dp.Close()
	if err := runLVS(env, dp, c, names, os.Stdin); err != nil {
		hint := ""
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			hint = " (lubdub lvs needs root, as ipvsadm does)"
		}
		fmt.Fprintf(env.Stderr, "lubdub lvs: %v%s\n", err, hint)
		// ipvsadm exits 255 (-1) when IPVS refuses a change.
		var errno syscall.Errno
		if lvs.IsRefusal(err) || errors.As(err, &errno) {
			return 255
		}
		return 1
	}
	return 0
}

// lvsLock is datapath.Lock; the command's unit tests replace it.
var lvsLock = datapath.Lock

func runLVS(env *Env, dp datapath.DataPath, c *lvs.Command, names lvs.Names, stdin io.Reader) error {
	var only []lvs.Key
	if c.Key.Proto != "" {
		only = []lvs.Key{c.Key}
	}
	switch c.Op {
	case lvs.OpStartDaemon, lvs.OpStopDaemon:
		return runDaemonCommand(dp, c)
	case lvs.OpList:
		if c.Connections {
			return listConns(env, dp)
		}
		if c.ListDaemons {
			// The nftables path runs no sync daemon: nothing to list,
			// as ipvsadm lists nothing when none runs.
			if sy, ok := dp.(datapath.Syncer); ok {
				ds, err := sy.Daemons()
				if err != nil {
					return err
				}
				fmt.Fprint(env.Stdout, lvs.ListDaemons(ds))
			}
			return nil
		}
		t, err := dp.Load(nil, true)
		if err != nil {
			return err
		}
		if rl, ok := dp.(interface {
			LoadRates([]lvs.Key) (*lvs.Table, error)
		}); c.Rate && ok {
			// IPVS keeps rates itself; ipvsadm shows those.
			if t, err = rl.LoadRates(nil); err != nil {
				return err
			}
		} else if c.Rate {
			// Rates over one second, from two readings of the counters.
			time.Sleep(time.Second)
			t2, err := dp.Load(nil, true)
			if err != nil {
				return err
			}
			t = rates(t, t2)
		}
		if dp.Name() != datapath.IPVS {
			// IPVS reports what it was given (Masq) for a real server on
			// the director itself, as Debian's kernel and ipvsadm show.
			showLocal(t)
		}
		t.Sort()
		o := lvs.ListOptions{Stats: c.Stats, Rate: c.Rate, Exact: c.Exact, Numeric: c.Numeric, Names: names}
		if only != nil {
			o.Only = &only[0]
		}
		out, err := t.List(o)
		if err != nil {
			// ipvsadm -L -t of a missing service exits 1, not 255.
			return errors.New(err.Error())
		}
		fmt.Fprint(env.Stdout, out)
		return nil
	case lvs.OpSave:
		t, err := dp.Load(nil, false)
		if err != nil {
			return err
		}
		if c.Numeric {
			names = nil
		}
		t.Sort()
		fmt.Fprint(env.Stdout, t.SaveNames(names))
		return nil
	case lvs.OpZero:
		if only != nil {
			t, err := dp.Load(only, false)
			if err != nil {
				return err
			}
			if len(t.Services) == 0 {
				return lvs.ErrNoService
			}
		}
		return dp.Zero(only)
	}
	unlock, err := lvsLock()
	if err != nil {
		return err
	}
	defer unlock()
	cmds := []*lvs.Command{c}
	var daemons []*lvs.Command
	if c.Op == lvs.OpRestore {
		if cmds, err = lvs.RestoreNames(stdin, names); err != nil {
			return fmt.Errorf("-R: %w", err)
		}
		// The table's lines are one transaction; the sync daemons'
		// lines, which ipvsadm -R runs too, follow in their order once
		// the table is in.
		cmds, daemons = splitDaemonic(cmds)
		if len(daemons) > 0 {
			if _, ok := dp.(datapath.Syncer); !ok {
				return fmt.Errorf("-R: %s: %w", daemons[0].Op, datapath.ErrNoSyncDaemon)
			}
		}
		only = nil
	}
	if c.Op == lvs.OpClear {
		only = nil
	}
	old, err := dp.Load(only, false)
	if err != nil {
		return err
	}
	t := old.Clone()
	for _, c := range cmds {
		if err := t.Apply(c); err != nil {
			return err
		}
	}
	if err := dp.Sync(old, t); err != nil {
		return err
	}
	// As ipvsadm's restore_table: every line runs, a refused one is
	// said and the next one runs; the exit status is the last one's.
	for i, d := range daemons {
		err := runDaemonCommand(dp, d)
		if err == nil {
			continue
		}
		err = fmt.Errorf("-R: %w (the table's lines are in)", err)
		if i == len(daemons)-1 {
			return err
		}
		fmt.Fprintf(env.Stderr, "lubdub lvs: %v\n", err)
	}
	return nil
}

// splitDaemonic separates the sync daemons' commands from the table's.
func splitDaemonic(cmds []*lvs.Command) (table, daemons []*lvs.Command) {
	for _, c := range cmds {
		if c.Daemonic() {
			daemons = append(daemons, c)
		} else {
			table = append(table, c)
		}
	}
	return table, daemons
}

// runDaemonCommand is --start-daemon or --stop-daemon on the data path's
// sync daemons (IPVS's; nftables has none: conntrackd syncs there).
func runDaemonCommand(dp datapath.DataPath, c *lvs.Command) error {
	sy, ok := dp.(datapath.Syncer)
	if !ok {
		return fmt.Errorf("%s: %w", c.Op, datapath.ErrNoSyncDaemon)
	}
	if c.Op == lvs.OpStartDaemon {
		return sy.StartDaemon(c.Daemon)
	}
	return sy.StopDaemon(c.Daemon.State)
}

// showLocal lists a NATed real server that is an address of this
// machine as Local, as IPVS does.
func showLocal(t *lvs.Table) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return
	}
	local := map[netip.Addr]bool{}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr()] = true
		}
	}
	for _, s := range t.Services {
		for _, d := range s.Dests {
			if d.Fwd == lvs.Masq && local[d.Addr.Addr()] {
				d.Fwd = lvs.Local
			}
		}
	}
}

// rates turns two readings a second apart into per-second figures.
func rates(a, b *lvs.Table) *lvs.Table {
	d := func(x, y uint64) uint64 {
		if y < x {
			return 0
		}
		return y - x
	}
	for _, s := range b.Services {
		var was *lvs.Service
		for _, o := range a.Services {
			if o.Key == s.Key {
				was = o
			}
		}
		if was == nil {
			continue
		}
		s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes = d(was.Conns, s.Conns), d(was.InPkts, s.InPkts), d(was.OutPkts, s.OutPkts), d(was.InBytes, s.InBytes), d(was.OutBytes, s.OutBytes)
		for _, x := range s.Dests {
			if _, o := was.Dest(x.Addr); o != nil {
				x.Conns, x.InPkts, x.OutPkts, x.InBytes, x.OutBytes = d(o.Conns, x.Conns), d(o.InPkts, x.InPkts), d(o.OutPkts, x.OutPkts), d(o.InBytes, x.InBytes), d(o.OutBytes, x.OutBytes)
			}
		}
	}
	return b
}

// listConns prints -L -c: the connections the director balances.
func listConns(env *Env, dp datapath.DataPath) error {
	l, ok := dp.(interface {
		Conns() ([]datapath.Conn, error)
	})
	if !ok {
		return fmt.Errorf("-c: listing connections is not available on %s: %w", dp.Name(), datapath.ErrUnsupported)
	}
	conns, err := l.Conns()
	if err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, "IPVS connection entries\npro expire state       source             virtual            destination\n")
	for _, c := range conns {
		exp := c.Expire.Round(time.Second)
		fmt.Fprintf(env.Stdout, "%-3s %02d:%02d  %-11s %-18s %-18s %s\n", c.Proto, int(exp.Minutes()), int(exp.Seconds())%60,
			c.State, c.Client, c.Virtual, c.Real)
	}
	return nil
}
