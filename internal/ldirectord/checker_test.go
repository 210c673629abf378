package ldirectord

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lvs"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := ParseWith("f.cf", strings.NewReader(text), NumericResolver{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A reload keeps unchanged services and servers as they are (not even
// re-checked), checks new servers at once, edits a changed service,
// removes a service no longer configured, and refuses a configuration the
// data path cannot carry, keeping the old one.
func TestReloadAppliesTheDifference(t *testing.T) {
	before := mustParse(t, `checkinterval=1h
virtual=198.18.0.10:80
	real=198.18.1.11:80 masq
	real=198.18.1.12:80 masq
	scheduler=rr
	checktype=connect
virtual=198.18.0.10:81
	real=198.18.1.11:81 masq
	scheduler=rr
	checktype=connect
virtual=198.18.0.10:82
	real=198.18.1.11:82 masq
	scheduler=rr
	checktype=connect
`)
	var mu sync.Mutex
	checked := map[string]int{}
	check := func(_ context.Context, _ *Virtual, r Real) error {
		mu.Lock()
		defer mu.Unlock()
		checked[r.Addr.String()]++
		return nil
	}
	dp := &datapath.Mem{Refuse: true}
	ch := NewChecker(before, dp, check, quiet())
	ch.lock = noLock
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ch.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { ch.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	after := mustParse(t, `checkinterval=1h
virtual=198.18.0.10:80
	real=198.18.1.11:80 masq
	real=198.18.1.12:80 masq
	scheduler=rr
	checktype=connect
virtual=198.18.0.10:81
	real=198.18.1.13:81 masq
	scheduler=rr
	checktype=connect
virtual=198.18.0.10:83
	real=198.18.1.11:83 masq 3
	scheduler=wrr
	checktype=connect
`)
	if err := ch.Reload(ctx, after); err != nil {
		t.Fatal(err)
	}
	want := "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1\n-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1\n" +
		"-A -t 198.18.0.10:81 -s rr\n-a -t 198.18.0.10:81 -r 198.18.1.13:81 -m -w 1\n" +
		"-A -t 198.18.0.10:83 -s wrr\n-a -t 198.18.0.10:83 -r 198.18.1.11:83 -m -w 3\n"
	if got := dp.Table.Save(); got != want {
		t.Errorf("after reload:\n%s\nwant\n%s", got, want)
	}
	mu.Lock()
	if checked["198.18.1.11:80"] != 1 || checked["198.18.1.12:80"] != 1 || checked["198.18.1.13:81"] != 1 || checked["198.18.1.11:83"] != 1 {
		t.Errorf("checks: %v (unchanged servers once, at start; new ones once, at the reload)", checked)
	}
	mu.Unlock()

	broken := mustParse(t, "virtual=198.18.0.10:80\n\treal=198.18.1.11:80 gate\n")
	err := ch.Reload(ctx, broken)
	var es Errors
	if !errors.As(err, &es) || !strings.Contains(err.Error(), "f.cf:2: real server 198.18.1.11:80: forwarding method gate needs IPVS") {
		t.Errorf("a configuration nftables cannot carry: %v", err)
	}
	if got := dp.Table.Save(); got != want {
		t.Errorf("after a refused reload:\n%s\nwant the old table", got)
	}
}

// Negotiate checks get negotiatetimeout, the others checktimeout (ping:
// for each of checkcount attempts), as ldirectord's check functions set
// their alarms.
func TestEachCheckGetsItsTimeout(t *testing.T) {
	c := mustParse(t, `checktimeout=1
negotiatetimeout=3
virtual=198.18.0.10:80
	real=198.18.1.11:80 masq
	checktype=negotiate
virtual=198.18.0.10:81
	real=198.18.1.11:81 masq
	checktype=connect
virtual=198.18.0.10:82
	real=198.18.1.11:82 masq
	checktype=external
virtual=198.18.0.10:83
	real=198.18.1.11:83 masq
	checktype=ping
	checkcount=2
virtual=198.18.0.10:84
	real=198.18.1.11:84 masq
	protocol=udp
	checktype=connect
	checkcount=3
`)
	var mu sync.Mutex
	got := map[uint16]time.Duration{}
	check := func(ctx context.Context, v *Virtual, _ Real) error {
		dl, _ := ctx.Deadline()
		mu.Lock()
		got[v.Key.Addr.Port()] = time.Until(dl).Round(time.Second)
		mu.Unlock()
		return nil
	}
	ch := NewChecker(c, &datapath.Mem{}, check, quiet())
	ch.round(context.Background(), time.Now(), nil, 0)
	// A UDP service's connect check pings (see Check): checkcount
	// attempts of checktimeout each.
	want := map[uint16]time.Duration{80: 3 * time.Second, 81: time.Second, 82: time.Second, 83: 2 * time.Second, 84: 3 * time.Second}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("port %d: timeout %s, want %s", p, got[p], w)
		}
	}
}

// checktype=2: negotiate first, then two connect checks, then negotiate;
// a failed connect check makes the next one negotiate.
func TestCombinedCheck(t *testing.T) {
	c := mustParse(t, "virtual=198.18.0.10:80\n\treal=198.18.1.11:80 masq\n\tchecktype=2\n")
	var modes []string
	fail := map[int]bool{}
	check := func(_ context.Context, v *Virtual, _ Real) error {
		modes = append(modes, v.CheckType)
		if fail[len(modes)] {
			return errors.New("refused")
		}
		return nil
	}
	fail[5] = true
	ch := NewChecker(c, &datapath.Mem{}, check, quiet())
	for range 7 {
		ch.round(context.Background(), time.Now(), func(ID) bool { return true }, 0)
	}
	want := "negotiate connect connect negotiate connect negotiate connect"
	if got := strings.Join(modes, " "); got != want {
		t.Errorf("checks %s, want %s", got, want)
	}
}

// A file named for a real server in maintenancedir takes it down at once
// (failurecount does not apply), whatever its check says.
func TestMaintenanceDirTakesAServerOut(t *testing.T) {
	dir := t.TempDir()
	c := mustParse(t, "failurecount=5\nmaintenancedir="+dir+"\nvirtual=198.18.0.10:80\n\treal=198.18.1.11:80 masq\n\treal=198.18.1.12 masq\n\tchecktype=connect\n")
	ch := NewChecker(c, &datapath.Mem{}, func(context.Context, *Virtual, Real) error { return nil }, quiet())
	all := func(ID) bool { return true }
	ch.round(context.Background(), time.Now(), all, 0)
	id1, id2 := ID{c.Virtuals[0].Key, c.Virtuals[0].Reals[0].Addr}, ID{c.Virtuals[0].Key, c.Virtuals[0].Reals[1].Addr}
	if !ch.health.Up(id1) || !ch.health.Up(id2) {
		t.Fatal("servers not up")
	}
	os.WriteFile(filepath.Join(dir, "198.18.1.11:80"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "198.18.1.12"), nil, 0o644)
	ch.round(context.Background(), time.Now(), all, 0)
	if ch.health.Up(id1) || ch.health.Up(id2) {
		t.Error("servers in maintenance still up")
	}
	os.Remove(filepath.Join(dir, "198.18.1.11:80"))
	ch.round(context.Background(), time.Now(), all, 0)
	if !ch.health.Up(id1) {
		t.Error("a server out of maintenance did not come back")
	}
}

// cleanstop=no leaves a service in the kernel when lubdub ldirectord
// stops.
func TestCleanStop(t *testing.T) {
	c := mustParse(t, "virtual=198.18.0.10:80\n\treal=198.18.1.11:80 masq\n\tchecktype=on\nvirtual=198.18.0.10:81\n\treal=198.18.1.11:81 masq\n\tchecktype=on\n\tcleanstop=no\n")
	dp := &datapath.Mem{}
	ch := NewChecker(c, dp, nil, quiet())
	ch.lock = noLock
	if err := ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ch.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := dp.Table.Save(); got != "-A -t 198.18.0.10:81 -s wrr\n-a -t 198.18.0.10:81 -r 198.18.1.11:81 -m -w 1\n" {
		t.Errorf("after stop:\n%s", got)
	}
}

// lockedMem lets a test read the table while Run writes it.
type lockedMem struct {
	mu sync.Mutex
	m  datapath.Mem
}

func (l *lockedMem) Name() string { return l.m.Name() }
func (l *lockedMem) Close() error { return nil }
func (l *lockedMem) Load(k []lvs.Key, c bool) (*lvs.Table, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Load(k, c)
}
func (l *lockedMem) Sync(o, n *lvs.Table) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Sync(o, n)
}
func (l *lockedMem) Zero(k []lvs.Key) error { return nil }
func (l *lockedMem) save() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Table.Save()
}

// autoreload=yes: a changed file is re-read at the next round, as
// ldirectord's check_cfgfile does.
func TestAutoReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "auto.cf")
	text := "autoreload=yes\ncheckinterval=20ms\nvirtual=198.18.0.10:80\n\treal=198.18.1.11:80 masq\n\tchecktype=on\n"
	os.WriteFile(file, []byte(text), 0o644)
	c, err := ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dp := &lockedMem{}
	ch := NewChecker(c, dp, nil, quiet())
	ch.lock = noLock
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ch.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { ch.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond)
	os.WriteFile(file, []byte(strings.Replace(text, "198.18.1.11", "198.18.1.12", 1)+"\n"), 0o644)
	want := "-A -t 198.18.0.10:80 -s wrr\n-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1\n"
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && dp.save() != want; {
		time.Sleep(10 * time.Millisecond)
	}
	if got := dp.save(); got != want {
		t.Errorf("after the file changed:\n%s\nwant\n%s", got, want)
	}
}

// countingPath is a datapath.Mem that counts the changes written to it.
type countingPath struct {
	*datapath.Mem
	syncs int
}

func (p *countingPath) Sync(old, new *lvs.Table) error {
	p.syncs++
	return p.Mem.Sync(old, new)
}

// While no server changes state and the kernel holds every service, the
// checker writes nothing: rounds of checks leave the kernel's table
// alone. Present counts the configuration's services in the kernel.
func TestQuietRoundsWriteNothing(t *testing.T) {
	c := mustParse(t, "checkinterval=10ms\nvirtual=198.18.0.10:80\n\treal=198.18.1.11:80 masq\n\tchecktype=connect\nvirtual=198.18.0.10:81\n\treal=198.18.1.11:81 masq\n\tchecktype=connect\n")
	dp := &countingPath{Mem: &datapath.Mem{}}
	if n, err := Present(c, dp); n != 0 || err != nil {
		t.Fatalf("present before the start: %d %v", n, err)
	}
	var failing atomic.Bool
	check := func(_ context.Context, _ *Virtual, r Real) error {
		if failing.Load() && r.Addr.Port() == 81 {
			return errors.New("refused")
		}
		return nil
	}
	ch := NewChecker(c, dp, check, quiet())
	ch.lock = noLock
	if err := ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := Present(c, dp); n != 2 || err != nil {
		t.Fatalf("present after the start: %d %v", n, err)
	}
	written := dp.syncs
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	ch.Run(ctx)
	cancel()
	if dp.syncs != written {
		t.Errorf("%d writes to the kernel in rounds where nothing changed", dp.syncs-written)
	}
	// One server fails: one write, then quiet again.
	failing.Store(true)
	written = dp.syncs
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	ch.Run(ctx)
	cancel()
	if dp.syncs != written+1 {
		t.Errorf("%d writes for one server going down, want 1", dp.syncs-written)
	}
	if got := dp.Table.Save(); strings.Contains(got, "198.18.1.11:81") {
		t.Errorf("the failed server is still in the kernel:\n%s", got)
	}
}

// ldirectord's log lines, which operators grep for: the real servers
// added at start, a soft failure (under failurecount) and none for a
// check that passes, the hard failure and its removal, and a reload's
// additions, deletions, purged virtual service and summary.
func TestLogLinesAsLdirectord(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	lines := func() string {
		mu.Lock()
		defer mu.Unlock()
		s := buf.String()
		buf.Reset()
		return s
	}
	text := "checkinterval=1h\nfailurecount=2\nvirtual=198.18.0.10:80\n\treal=198.18.1.11:80 masq\n\treal=198.18.1.12:80 masq\n\tchecktype=connect\n" +
		"virtual=198.18.0.10:81\n\treal=198.18.1.11:81 masq\n\tchecktype=connect\n"
	var failing sync.Map
	check := func(_ context.Context, _ *Virtual, r Real) error {
		if _, ok := failing.Load(r.Addr.String()); ok {
			return errors.New("connection refused")
		}
		return nil
	}
	ch := NewChecker(mustParse(t, text), &datapath.Mem{}, check, log)
	ch.lock = noLock
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ch.Start(ctx); err != nil {
		t.Fatal(err)
	}
	expect := func(step, got string, want, not []string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no line with %q in\n%s", step, w, got)
			}
		}
		for _, n := range not {
			if strings.Contains(got, n) {
				t.Errorf("%s: a line with %q in\n%s", step, n, got)
			}
		}
	}
	expect("start", lines(), []string{"Added real server: 198.18.1.11:80 (198.18.0.10:80) (Weight set to 1)",
		"Added real server: 198.18.1.12:80 (198.18.0.10:80) (Weight set to 1)", "Added real server: 198.18.1.11:81 (198.18.0.10:81) (Weight set to 1)"}, nil)
	clock := time.Now()
	round := func() { // every service due (checkinterval is 1h)
		clock = clock.Add(2 * time.Hour)
		if ch.round(ctx, clock, nil, 0) {
			if err := ch.sync(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	round()
	expect("all checks pass", lines(), nil, []string{"Soft failure", "Added", "Deleted"})
	failing.Store("198.18.1.12:80", true)
	round()
	expect("first failure of 2", lines(), []string{`Soft failure real server: 198.18.1.12:80 (tcp:198.18.0.10:80) failure 1/2" err="connection refused"`}, []string{"Deleted"})
	round()
	expect("second failure", lines(), []string{"real server 198.18.1.12:80 of 198.18.0.10:80 failed its connect check: connection refused",
		"Deleted real server: 198.18.1.12:80 (198.18.0.10:80)"}, []string{"Soft failure real server: 198.18.1.11"})

	done := make(chan struct{})
	go func() { ch.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	after := "checkinterval=1h\nfailurecount=2\nvirtual=198.18.0.10:80\n\treal=198.18.1.11:80 masq\n\treal=198.18.1.13:80 masq\n\tchecktype=connect\n" +
		"virtual=198.18.0.10:82\n\treal=198.18.1.11:82 masq\n\tchecktype=connect\nvirtual=7\n\treal=198.18.1.14 masq\n\tchecktype=on\n"
	if err := ch.Reload(ctx, mustParse(t, after)); err != nil {
		t.Fatal(err)
	}
	expect("reload", lines(), []string{"Added real server: 198.18.1.13:80 (198.18.0.10:80) (Weight set to 1)",
		"Added real server: 198.18.1.11:82 (198.18.0.10:82) (Weight set to 1)", "Purged virtual server (reload): 198.18.0.10:81",
		"Added real server: 198.18.1.14:0 (7) (Weight set to 1)", "f.cf reloaded: 3 virtual services (2 added, 1 removed)"}, []string{"Added real server: 198.18.1.11:80"})
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
