package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lvs"
)

func lvsRun(t *testing.T, dp *datapath.Mem, stdin string, args ...string) (string, error) {
	t.Helper()
	lvsLock = func() (func(), error) { return func() {}, nil }
	t.Cleanup(func() { lvsLock = datapath.Lock })
	c, err := lvs.Parse(args)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = runLVS(&Env{Stdout: &out, Stderr: &out}, dp, c, nil, strings.NewReader(stdin))
	return out.String(), err
}

func TestLVSRestoreIsAllOrNothing(t *testing.T) {
	dp := &datapath.Mem{}
	if _, err := lvsRun(t, dp, "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -m\n-a -t 198.18.0.99:80 -r 198.18.1.2 -m\n", "-R"); err == nil ||
		!strings.Contains(err.Error(), "Service not defined") {
		t.Fatalf("got %v", err)
	}
	if dp.Syncs != 0 || len(dp.Table.Services) != 0 {
		t.Fatalf("a failed restore changed the kernel: %d syncs, %v", dp.Syncs, dp.Table.Services)
	}
	if _, err := lvsRun(t, dp, "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -m\n", "-R"); err != nil {
		t.Fatal(err)
	}
	if dp.Syncs != 1 {
		t.Errorf("restore took %d transactions, want 1", dp.Syncs)
	}
	out, err := lvsRun(t, dp, "", "-S", "-n")
	if err != nil || out != "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 1\n" {
		t.Errorf("-S: %q %v", out, err)
	}
	if _, err := lvsRun(t, dp, "", "-A", "-t", "198.18.0.10:80", "-s", "rr"); err == nil || err.Error() != "Service already exists" {
		t.Errorf("second -A: %v", err)
	}
	if _, err := lvsRun(t, dp, "", "-L", "-n", "-t", "198.18.0.11:80"); err == nil || err.Error() != "No such service" {
		t.Errorf("-L of a missing service: %v", err)
	}
}

// A data path without sync daemons (nftables, or this in-memory one)
// refuses --start-daemon and --stop-daemon, saying what syncs there, and
// lists no daemon.
func TestLVSDaemonsNeedIPVS(t *testing.T) {
	dp := &datapath.Mem{}
	for _, args := range [][]string{{"--start-daemon", "master"}, {"--stop-daemon", "backup"}} {
		_, err := lvsRun(t, dp, "", args...)
		if !errors.Is(err, datapath.ErrUnsupported) || !strings.Contains(err.Error(), "conntrackd") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if out, err := lvsRun(t, dp, "", "-L", "--daemon"); out != "" || err != nil {
		t.Errorf("-L --daemon: %q %v", out, err)
	}
}

// syncMem is the in-memory table with sync daemons that record what they
// were told, for -R's daemon lines.
type syncMem struct {
	datapath.Mem
	did    []string
	refuse map[string]bool // states whose start fails
}

func (m *syncMem) StartDaemon(d lvs.SyncDaemon) error {
	m.did = append(m.did, "start "+d.State+" "+d.Interface)
	if m.refuse[d.State] {
		return errors.New("Daemon is already running")
	}
	return nil
}
func (m *syncMem) StopDaemon(state string) error {
	m.did = append(m.did, "stop "+state)
	return nil
}
func (m *syncMem) Daemons() ([]lvs.SyncDaemon, error) { return nil, nil }

// ipvsadm -R runs --start-daemon and --stop-daemon lines as well as the
// table's: lubdub puts the table in (one transaction), then runs the
// daemons' lines in their order; a data path without daemons refuses
// the whole restore before changing anything.
func TestLVSRestoreRunsDaemonLines(t *testing.T) {
	in := "--start-daemon master --mcast-interface eth1\n-A -t 198.18.0.10:80 -s rr\n--stop-daemon backup\n-a -t 198.18.0.10:80 -r 198.18.1.2 -m\n"
	lvsLock = func() (func(), error) { return func() {}, nil }
	t.Cleanup(func() { lvsLock = datapath.Lock })
	c, err := lvs.Parse([]string{"-R"})
	if err != nil {
		t.Fatal(err)
	}
	sm := &syncMem{}
	if err := runLVS(&Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}, sm, c, nil, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(sm.did, "; "), "start master eth1; stop backup"; got != want {
		t.Errorf("daemon lines ran as %q, want %q", got, want)
	}
	if sm.Syncs != 1 || len(sm.Table.Services) != 1 || len(sm.Table.Services[0].Dests) != 1 {
		t.Errorf("table: %d transactions, %v; want the service and its real server in one", sm.Syncs, sm.Table.Services)
	}
	// A refused daemon line is said and the next one runs; the exit
	// status is the last line's.
	sm = &syncMem{refuse: map[string]bool{lvs.Master: true}}
	var stderr bytes.Buffer
	err = runLVS(&Env{Stdout: &bytes.Buffer{}, Stderr: &stderr}, sm, c, nil, strings.NewReader("--start-daemon master\n--start-daemon backup\n"))
	if err != nil || strings.Join(sm.did, "; ") != "start master eth0; start backup eth0" || !strings.Contains(stderr.String(), "Daemon is already running") {
		t.Errorf("a refused first daemon line: %v, ran %q, said %q; want both run, the refusal said, exit 0", err, sm.did, stderr.String())
	}
	sm = &syncMem{refuse: map[string]bool{lvs.Backup: true}}
	if err := runLVS(&Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}, sm, c, nil, strings.NewReader("--start-daemon master\n--start-daemon backup\n")); err == nil || !strings.Contains(err.Error(), "table's lines are in") {
		t.Errorf("a refused last daemon line: %v, want its error, saying the table is in", err)
	}
	dp := &datapath.Mem{}
	if _, err := lvsRun(t, dp, in, "-R"); !errors.Is(err, datapath.ErrNoSyncDaemon) {
		t.Errorf("-R with daemon lines on a path without daemons: %v, want ErrNoSyncDaemon", err)
	}
	if dp.Syncs != 0 {
		t.Errorf("the refused restore changed the table (%d transactions)", dp.Syncs)
	}
}
