package resource

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/lvs"
)

// fakeDaemons stands for IPVS's two sync daemons in the swap's unit
// tests: a second start of one kind is refused (EEXIST), a stop of one
// that does not run too (ESRCH), as IPVS refuses them; calls are logged.
type fakeDaemons struct {
	running map[string]lvs.SyncDaemon
	calls   []string
}

func (f *fakeDaemons) StartDaemon(d lvs.SyncDaemon) error {
	f.calls = append(f.calls, "start "+d.String())
	if _, ok := f.running[d.State]; ok {
		return syscall.EEXIST
	}
	f.running[d.State] = d
	return nil
}

func (f *fakeDaemons) StopDaemon(state string) error {
	f.calls = append(f.calls, "stop "+state)
	if _, ok := f.running[state]; !ok {
		return syscall.ESRCH
	}
	delete(f.running, state)
	return nil
}

func (f *fakeDaemons) Daemons() ([]lvs.SyncDaemon, error) {
	var out []lvs.SyncDaemon
	for _, d := range f.running {
		out = append(out, d)
	}
	return out, nil
}

func (f *fakeDaemons) Close() error { return nil }

func syncSwap(t *testing.T, line string, f *fakeDaemons) *syncSwapAgent {
	t.Helper()
	r, err := haconf.ParseResource(line)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(r, Env{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := a.(*syncSwapAgent)
	s.dial = func() (syncer, error) { return f, nil }
	return s
}

// The swap as the script's contract has it: start stops the other daemon
// and starts this side's, stop the reverse, status is this side's; both
// are idempotent, and a node starting without the group runs the other.
func TestSyncSwap(t *testing.T) {
	ctx := context.Background()
	f := &fakeDaemons{running: map[string]lvs.SyncDaemon{}}
	a := syncSwap(t, "LVSSyncDaemonSwap::master::eth1::7", f)
	if err := a.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.calls, "; "); got != "start backup sync daemon (mcast=eth1, syncid=7)" {
		t.Errorf("prepare: %s", got)
	}
	if ok, err := a.Running(ctx); ok || err != nil {
		t.Errorf("running with only the backup: %v %v", ok, err)
	}
	f.calls = nil
	for range 2 {
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(f.calls, "; "); got != "stop backup; start master sync daemon (mcast=eth1, syncid=7)" {
		t.Errorf("two starts: %s", got)
	}
	if ok, err := a.Running(ctx); !ok || err != nil {
		t.Errorf("running after start: %v %v", ok, err)
	}
	f.calls = nil
	if err := a.Prepare(ctx); err != nil || len(f.calls) != 0 {
		t.Errorf("prepare with the master running: %v %v", f.calls, err)
	}
	for range 2 {
		if err := a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(f.calls, "; "); got != "stop master; start backup sync daemon (mcast=eth1, syncid=7)" {
		t.Errorf("two stops: %s", got)
	}
	if _, ok := f.running[lvs.Master]; ok || len(f.running) != 1 {
		t.Errorf("after stop: %v", f.running)
	}

	// The backup side is the mirror image, eth0 and sync ID 0 by default.
	f = &fakeDaemons{running: map[string]lvs.SyncDaemon{lvs.Master: {State: lvs.Master, Interface: "eth0"}}}
	b := syncSwap(t, "LVSSyncDaemonSwap::backup", f)
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.calls, "; "); got != "stop master; start backup sync daemon (mcast=eth0, syncid=0)" {
		t.Errorf("backup side's start: %s", got)
	}
}

// A kernel that refuses surfaces in the action's error, naming the
// resource.
func TestSyncSwapRefused(t *testing.T) {
	f := &fakeDaemons{running: map[string]lvs.SyncDaemon{}}
	a := syncSwap(t, "LVSSyncDaemonSwap::master", f)
	a.dial = func() (syncer, error) { return nil, errors.New("no IPVS here") }
	for _, op := range []func(context.Context) error{a.Start, a.Stop, a.Prepare} {
		if err := op(context.Background()); err == nil || !strings.Contains(err.Error(), "no IPVS here") {
			t.Errorf("got %v", err)
		}
	}
}

func TestSyncSwapArguments(t *testing.T) {
	for line, want := range map[string]string{
		"LVSSyncDaemonSwap":                           "takes master or backup",
		"LVSSyncDaemonSwap::primary":                  "\"primary\" is neither master nor backup",
		"LVSSyncDaemonSwap::master::eth0::256":        "sync ID \"256\"",
		"LVSSyncDaemonSwap::master::eth0::x":          "sync ID \"x\"",
		"LVSSyncDaemonSwap::master::eth0::1::2":       "takes master or backup",
		"LVSSyncDaemonSwap::master::0123456789abcdef": "is no interface name",
	} {
		r, err := haconf.ParseResource(line)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(r, Env{Log: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", line, err, want)
		}
	}
	r, _ := haconf.ParseResource("LVSSyncDaemonSwap::master")
	if _, err := New(r, Env{DataPath: datapath.NFTables, Log: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "conntrackd") {
		t.Errorf("on nftables: %v", err)
	}
}

// The interface and sync ID are each optional; an interface name takes up
// to 15 bytes (IFNAMSIZ less its NUL), as ipvsadm's --mcast-interface.
func TestParseSyncSwap(t *testing.T) {
	for line, want := range map[string]lvs.SyncDaemon{
		"LVSSyncDaemonSwap::backup":                       {State: lvs.Backup, Interface: lvs.DefaultMcastInterface},
		"LVSSyncDaemonSwap::master::eth1":                 {State: lvs.Master, Interface: "eth1"},
		"LVSSyncDaemonSwap::master::0123456789abcde":      {State: lvs.Master, Interface: "0123456789abcde"},
		"LVSSyncDaemonSwap::backup::0123456789abcde::255": {State: lvs.Backup, Interface: "0123456789abcde", SyncID: 255},
	} {
		r, err := haconf.ParseResource(line)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := ParseSyncSwap(r); err != nil || d != want {
			t.Errorf("%s: %+v %v, want %+v", line, d, err, want)
		}
	}
}
