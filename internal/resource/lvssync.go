package resource

import (
	"context"
	"fmt"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lvs"
)

// SyncSwapType is the haresources name of Heartbeat's LVSSyncDaemonSwap.
const SyncSwapType = "LVSSyncDaemonSwap"

// syncSwapAgent is Heartbeat's LVSSyncDaemonSwap::STATE[::IFACE[::SYNCID]]
// built in: it swaps IPVS's connection sync daemons with the group. STATE
// (master or backup) is what runs while the group is here, the other one
// while it is not: start stops the other and starts STATE, stop stops
// STATE and starts the other, status says whether STATE runs. So the
// director holding the VIP multicasts its connections and the standby
// takes them into its own table, ready for a takeover.
//
// Heartbeat 2 shipped it as a resource.d script around ipvsadm; Debian's
// Heartbeat 3.0.6 no longer does (neither does resource-agents), so there
// is no script to run as it is: lubdub carries out its contract itself,
// through IPVS's netlink as lubdub lvs does. Unlike the script, a node
// that starts without the group runs the other daemon from its start-up
// (Prepare), rather than only after it first gives the group away, so
// that a standby that never held the group already receives.
type syncSwapAgent struct {
	raw        string
	ying, yang lvs.SyncDaemon
	// dial opens the kernel's sync daemons (IPVS; a fake in tests).
	dial func() (syncer, error)
	env  Env
}

// syncer is what the agent needs of IPVS: datapath.IPVSPath.
type syncer interface {
	datapath.Syncer
	Close() error
}

// ParseSyncSwap reads LVSSyncDaemonSwap's arguments: master or backup,
// then optionally the multicast interface (ipvsadm's eth0 when not
// given) and the sync ID (0-255, 0 when not given). It returns the daemon
// that runs with the group here.
func ParseSyncSwap(r haconf.Resource) (lvs.SyncDaemon, error) {
	d := lvs.SyncDaemon{Interface: lvs.DefaultMcastInterface}
	if len(r.Args) == 0 || len(r.Args) > 3 {
		return d, fmt.Errorf("resource %s: LVSSyncDaemonSwap takes master or backup, then optionally the interface and the sync ID (LVSSyncDaemonSwap::master::eth0::1)", r.Raw)
	}
	switch r.Args[0] {
	case lvs.Master, lvs.Backup:
		d.State = r.Args[0]
	default:
		return d, fmt.Errorf("resource %s: %q is neither master nor backup", r.Raw, r.Args[0])
	}
	if len(r.Args) > 1 {
		if r.Args[1] == "" || len(r.Args[1]) > 15 {
			return d, fmt.Errorf("resource %s: %q is no interface name", r.Raw, r.Args[1])
		}
		d.Interface = r.Args[1]
	}
	if len(r.Args) > 2 {
		// As ipvsadm --syncid reads it.
		c, err := lvs.Parse([]string{"--start-daemon", d.State, "--syncid", r.Args[2]})
		if err != nil {
			return d, fmt.Errorf("resource %s: sync ID %q: %v (0 to 255)", r.Raw, r.Args[2], err)
		}
		d.SyncID = c.Daemon.SyncID
	}
	return d, nil
}

func other(state string) string {
	if state == lvs.Master {
		return lvs.Backup
	}
	return lvs.Master
}

func newSyncSwap(r haconf.Resource, env Env) (*syncSwapAgent, error) {
	d, err := ParseSyncSwap(r)
	if err != nil {
		return nil, err
	}
	if env.DataPath == datapath.NFTables {
		return nil, fmt.Errorf("resource %s: IPVS's sync daemons need the IPVS data path, and lvs_datapath is nftables (conntrackd synchronises nftables connections)", r.Raw)
	}
	yang := d
	yang.State = other(d.State)
	a := &syncSwapAgent{raw: r.Raw, ying: d, yang: yang, env: env}
	a.dial = func() (syncer, error) {
		p, err := datapath.OpenIPVS()
		if err != nil {
			return nil, fmt.Errorf("%s: IPVS's sync daemons need a kernel with IPVS (conntrackd synchronises nftables connections): %w", a.raw, err)
		}
		return p, nil
	}
	return a, nil
}

func (a *syncSwapAgent) Name() string { return a.raw }

// running reports which of master and backup run.
func running(s syncer) (map[string]bool, error) {
	ds, err := s.Daemons()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range ds {
		out[d.State] = true
	}
	return out, nil
}

// swap stops off (if it runs) and starts on (unless it runs).
func (a *syncSwapAgent) swap(off string, on lvs.SyncDaemon) error {
	s, err := a.dial()
	if err != nil {
		return err
	}
	defer s.Close()
	now, err := running(s)
	if err != nil {
		return fmt.Errorf("%s: %w", a.raw, err)
	}
	if now[off] {
		if err := s.StopDaemon(off); err != nil {
			return fmt.Errorf("%s: %w", a.raw, err)
		}
		a.env.Log.Info(fmt.Sprintf("%s: %s sync daemon stopped", a.raw, off), "resource", a.raw)
	}
	if now[on.State] {
		return nil
	}
	if err := s.StartDaemon(on); err != nil {
		return fmt.Errorf("%s: %w", a.raw, err)
	}
	a.env.Log.Info(fmt.Sprintf("%s: %s started", a.raw, on), "resource", a.raw)
	return nil
}

// Start runs this side's daemon in place of the other.
func (a *syncSwapAgent) Start(context.Context) error { return a.swap(a.yang.State, a.ying) }

// Stop runs the other daemon in place of this side's.
func (a *syncSwapAgent) Stop(context.Context) error { return a.swap(a.ying.State, a.yang) }

// Running reports whether this side's daemon runs.
func (a *syncSwapAgent) Running(context.Context) (bool, error) {
	s, err := a.dial()
	if err != nil {
		return false, err
	}
	defer s.Close()
	now, err := running(s)
	if err != nil {
		return false, fmt.Errorf("%s: %w", a.raw, err)
	}
	return now[a.ying.State], nil
}

// Prepare, at the daemon's start-up, puts a node where this side's daemon
// does not run in the state of a node without the group: the other
// daemon running.
func (a *syncSwapAgent) Prepare(ctx context.Context) error {
	if ok, err := a.Running(ctx); err != nil || ok {
		return err
	}
	return a.Stop(ctx)
}
