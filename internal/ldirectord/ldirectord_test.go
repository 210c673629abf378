package ldirectord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lvs"
)

const sample = `# Global Directives
checktimeout=3
checkinterval=1
#fallback=127.0.0.1:80
autoreload=yes
quiescent=no

virtual=192.168.6.240:80
	real=192.168.6.2:80 masq
	real=192.168.6.3:80 masq 3
	real=192.168.6.6:8080 masq 1 "alive.html", "OK"
	fallback=127.0.0.1:80 masq
	service=http
	scheduler=rr
	#persistent=600
	protocol=tcp
	checktype=negotiate
	checkport=80
	request="index.html"
	receive="Test Page"
	virtualhost=www.x.y.z

virtual=192.168.6.240:53
	real=192.168.6.2 masq
	checktype=ping
	quiescent=yes
	persistent=600
	netmask=255.255.255.0
`

func TestParseSample(t *testing.T) {
	c, err := Parse("ldirectord.cf", strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Virtuals) != 2 || len(c.Notes) != 0 || !c.AutoReload {
		t.Fatalf("virtuals %d, notes %q", len(c.Virtuals), c.Notes)
	}
	v := c.Virtuals[0]
	if v.Key.String() != "TCP  192.168.6.240:80" || v.Scheduler != "rr" || v.CheckType != CheckNegotiate || v.Service != "http" ||
		v.NegotiateTimeout != 3*time.Second || v.CheckInterval != time.Second || v.Quiescent || v.FailureCount != 1 ||
		v.VirtualHost != "www.x.y.z" || v.CheckPort != 80 || v.Request != "/index.html" || v.ReceiveRE.String() != "Test Page" {
		t.Errorf("first virtual: %+v", v)
	}
	if len(v.Reals) != 3 || v.Reals[1].Weight != 3 || v.Reals[2].Request != "/alive.html" || v.Reals[2].Receive != "OK" ||
		v.Reals[2].Addr.Port() != 8080 || v.Reals[0].Fwd != lvs.Masq || v.Fallback == nil || v.Fallback.Line != 12 {
		t.Errorf("reals %+v fallback %+v", v.Reals, v.Fallback)
	}
	u := c.Virtuals[1]
	if u.Key.Proto != "UDP" || u.Reals[0].Addr.Port() != 53 || !u.Quiescent || u.Persistent != 600 ||
		u.Netmask.String() != "255.255.255.0" || u.Scheduler != "wrr" || u.CheckTimeout != 3*time.Second || u.Fallback != nil {
		t.Errorf("second virtual: %+v", u)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"virtual=1.2.3.4\n", "f.cf:1: invalid address for virtual server: 1.2.3.4 has no port"},
		{"virtual=1.2.3.4:80\n\treal=1.2.3.5 gateway\n", "f.cf:2: forward method must be gate, masq or ipip (real=1.2.3.5 gateway)"},
		{"virtual=1.2.3.4:80\n\treal=1.2.3.5\n", "f.cf:2: invalid address for real server (wrong format) (real=1.2.3.5): give a forwarding method"},
		{"checkinterval=soon\n", "f.cf:1: invalid check interval value (checkinterval=soon)"},
		// connecttimeout (lubdub reads it as negotiatetimeout) takes
		// what negotiatetimeout takes: 0 is refused like it.
		{"negotiatetimeout=0\n", "f.cf:1: invalid negotiate timeout value (negotiatetimeout=0)"},
		{"connecttimeout=0\n", "f.cf:1: invalid negotiate timeout value (connecttimeout=0)"},
		{"virtual=1.2.3.4:80\n\tconnecttimeout=0\n", "f.cf:2: invalid negotiate timeout (connecttimeout=0)"},
		{"real=1.2.3.4 masq\n", "f.cf:1: Unknown command \"real=1.2.3.4 masq\""},
		{"virtual=1.2.3.4:80\n\tfrobnicate=1\n", "f.cf:2: Unknown command \"frobnicate=1\""},
		{"virtual=1.2.3.4:80\n\treceive=\"(\"\n", "f.cf:2: receive=\"(\": lubdub cannot use this Perl regular expression"},
		{"virtual=1.2.3.4:80\nvirtual=1.2.3.4:80\n", "f.cf:2: duplicate virtual server TCP  1.2.3.4:80 (as at line 1)"},
		{"# nothing\n", "f.cf: no virtual= service"},
		{"virtual=1.2.3.4:80\n\treal=1.2.3.9->1.2.3.5 masq\n", "f.cf:2: Invalid Range: 1.2.3.9-1.2.3.5"},
		{"junk\n", "f.cf:1: Unknown command \"junk\""},
		{"timeout=3\n", "f.cf:1: timeout directive deprecated in favour of checktimeout and negotiatetimeout"},
		{"virtual=1.2.3.4:80\n\tscheduler=RR\n", "f.cf:2: invalid scheduler, should be only lowercase letters (a-z)"},
		{"virtual=1.2.3.4:80\n\tops=maybe\n", "f.cf:2: ops must be 'yes' or 'no'"},
		{"virtual=1.2.3.4:80\n\tservice=gopher\n", "f.cf:2: service must be dns, ftp, http"},
		{"virtual=1.2.3.4:80\n\treal6=[::1]:80 gate\n", "f.cf:2: cannot specify \"real6\" here.  please use \"real\" instead"},
		{"virtual=1.2.3.4:80\n\tfallback=1.2.3.5 nat\n", "f.cf:2: forward method must be gate, masq or ipip (fallback=1.2.3.5 nat)"},
		{"virtual=1.2.3.4:80\n\tprotocol=fwm\n", "f.cf:2: protocol must be tcp or udp if the virtual service is an address and port"},
		// lubdub's own bound on a range (ldirectord has none): the count
		// it names is the range's.
		{"virtual=1.2.3.4:80\n\treal=10.0.0.0->10.0.4.0 masq\n", "f.cf:2: range 10.0.0.0->10.0.4.0 has 1025 addresses: lubdub takes at most 1024 in one real= line"},
		// A line longer than 64 KiB ends the read, at the line after the
		// last one read.
		{"virtual=1.2.3.4:80\n\t# " + strings.Repeat("x", 70000) + "\n", "f.cf:2: reading: bufio.Scanner: token too long"},
	} {
		_, err := ParseWith("f.cf", strings.NewReader(c.text), NumericResolver{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.text, err, c.want)
		}
	}
}

func TestTimeoutsFallBackAsLdirectordSays(t *testing.T) {
	get := func(text string) *Virtual {
		c, err := ParseWith("f", strings.NewReader(text), NumericResolver{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Virtuals[0]
	}
	if v := get("virtual=1.2.3.4:80\n"); v.NegotiateTimeout != DefaultNegotiateTimeout || v.CheckTimeout != DefaultCheckTimeout ||
		v.CheckInterval != DefaultCheckInterval || v.Quiescent || v.FailureCount != 1 || v.CheckCount != 1 {
		t.Errorf("defaults: %+v", v)
	}
	// ld_setup: each falls back on the other before the global values.
	if v := get("negotiatetimeout=7\nvirtual=1.2.3.4:80\n\tchecktype=connect\n"); v.CheckTimeout != 7*time.Second || v.Timeout(CheckConnect) != 7*time.Second {
		t.Errorf("checktimeout falls back on the global negotiatetimeout: %s", v.CheckTimeout)
	}
	if v := get("negotiatetimeout=7\nvirtual=1.2.3.4:80\n\tchecktimeout=2\n"); v.NegotiateTimeout != 2*time.Second {
		t.Errorf("negotiatetimeout falls back on the service's checktimeout before the global: %s", v.NegotiateTimeout)
	}
	if v := get("checktimeout=2\nvirtual=1.2.3.4:80\n\tchecktimeout=500ms\n"); v.CheckTimeout != 500*time.Millisecond {
		t.Errorf("per-virtual checktimeout: %s", v.CheckTimeout)
	}
	// Globals apply wherever they stand in the file.
	if v := get("virtual=1.2.3.4:80\nquiescent=yes\nchecktimeout=3\n"); !v.Quiescent || v.CheckTimeout != 3*time.Second || v.NegotiateTimeout != 3*time.Second {
		t.Errorf("globals after the virtual: %+v", v)
	}
	if v := get("virtual=1.2.3.4:80\n\tchecktype=ping\n\tchecktimeout=2\n\tcheckcount=3\n"); v.Timeout(CheckPing) != 6*time.Second {
		t.Errorf("ping: %s", v.Timeout(CheckPing))
	}
}

func TestServiceFollowsHealth(t *testing.T) {
	c, err := Parse("f", strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	v := c.Virtuals[0]
	up := map[string]bool{}
	f := func(id ID) bool { return up[id.Real.String()] }
	save := func() string { return (&lvs.Table{Services: []*lvs.Service{Service(v, f)}}).Save() }

	if got := save(); got != "-A -t 192.168.6.240:80 -s rr\n-a -t 192.168.6.240:80 -r 127.0.0.1:80 -m -w 1\n" {
		t.Errorf("none up: fallback only, got\n%s", got)
	}
	up["192.168.6.3:80"] = true
	if got := save(); got != "-A -t 192.168.6.240:80 -s rr\n-a -t 192.168.6.240:80 -r 192.168.6.3:80 -m -w 3\n" {
		t.Errorf("one up, not quiescent: got\n%s", got)
	}
	v.Quiescent = true
	if got := save(); got != "-A -t 192.168.6.240:80 -s rr\n-a -t 192.168.6.240:80 -r 192.168.6.2:80 -m -w 0\n"+
		"-a -t 192.168.6.240:80 -r 192.168.6.3:80 -m -w 3\n-a -t 192.168.6.240:80 -r 192.168.6.6:8080 -m -w 0\n" {
		t.Errorf("quiescent: got\n%s", got)
	}
	v.CheckType = CheckOff
	if got := save(); got != "-A -t 192.168.6.240:80 -s rr\n-a -t 192.168.6.240:80 -r 192.168.6.2:80 -m -w 0\n"+
		"-a -t 192.168.6.240:80 -r 192.168.6.3:80 -m -w 0\n-a -t 192.168.6.240:80 -r 192.168.6.6:8080 -m -w 0\n"+
		"-a -t 192.168.6.240:80 -r 127.0.0.1:80 -m -w 1\n" {
		t.Errorf("checktype=off (quiescent): got\n%s", got)
	}
	v.CheckType = CheckOn
	if n := len(Service(v, f).Dests); n != 3 {
		t.Errorf("checktype=on: %d servers, want 3", n)
	}
}

func TestHealthFailureCount(t *testing.T) {
	h := NewHealth()
	id := ID{Real: netip.MustParseAddrPort("1.2.3.4:80")}
	if h.Observe(id, false, 3) || h.Up(id) {
		t.Fatal("an unchecked server that fails stays down without a change")
	}
	if !h.Observe(id, true, 3) || !h.Up(id) {
		t.Fatal("a pass brings it up")
	}
	for range 2 {
		if h.Observe(id, false, 3) || !h.Up(id) {
			t.Fatal("two failures of three keep it up")
		}
	}
	if !h.Observe(id, false, 3) || h.Up(id) {
		t.Fatal("the third failure takes it down")
	}
}

func TestCheckerRefusesGateOnNFTables(t *testing.T) {
	c, err := Parse("f.cf", strings.NewReader("virtual=1.2.3.4:80\n\treal=1.2.3.5 gate\n\tscheduler=rr\n"))
	if err != nil {
		t.Fatal(err)
	}
	ch := NewChecker(c, &datapath.Mem{Refuse: true}, func(context.Context, *Virtual, Real) error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ch.lock = noLock
	if err := ch.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "f.cf:2: real server 1.2.3.5:80: forwarding method gate needs IPVS") {
		t.Errorf("got %v", err)
	}
}

func TestCheckerAddsAndRemoves(t *testing.T) {
	c, err := Parse("f.cf", strings.NewReader("checkinterval=10ms\nquiescent=no\nvirtual=1.2.3.4:80\n\treal=1.2.3.5 masq\n\treal=1.2.3.6 masq\n\tscheduler=rr\n\tchecktype=connect\n"))
	if err != nil {
		t.Fatal(err)
	}
	down := map[string]bool{"1.2.3.6:80": true}
	check := func(_ context.Context, _ *Virtual, r Real) error {
		if down[r.Addr.String()] {
			return errors.New("refused")
		}
		return nil
	}
	dp := &datapath.Mem{Refuse: true}
	ch := NewChecker(c, dp, check, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ch.lock = noLock
	if err := ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := dp.Table.Save(); got != "-A -t 1.2.3.4:80 -s rr\n-a -t 1.2.3.4:80 -r 1.2.3.5:80 -m -w 1\n" {
		t.Errorf("after start:\n%s", got)
	}
	down = map[string]bool{"1.2.3.5:80": true}
	if !ch.round(context.Background(), time.Now().Add(time.Hour), nil, 0) {
		t.Fatal("the round saw no change")
	}
	if err := ch.sync(nil); err != nil {
		t.Fatal(err)
	}
	if got := dp.Table.Save(); got != "-A -t 1.2.3.4:80 -s rr\n-a -t 1.2.3.4:80 -r 1.2.3.6:80 -m -w 1\n" {
		t.Errorf("after the swap:\n%s", got)
	}
	// Gone from the kernel (ipvsadm -C): put back at the next round.
	dp.Table.Services = nil
	for k := range ch.next {
		ch.next[k] = time.Now() // due now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	ch.Run(ctx)
	cancel()
	if got := dp.Table.Save(); got != "-A -t 1.2.3.4:80 -s rr\n-a -t 1.2.3.4:80 -r 1.2.3.6:80 -m -w 1\n" {
		t.Errorf("after the table was cleared:\n%s", got)
	}
	if err := ch.Remove(); err != nil || len(dp.Table.Services) != 0 {
		t.Errorf("remove: %v %v", err, dp.Table.Services)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("virtual=1.2.3.4:80\n\treal=1.2.3.5 masq 2 \"a\", \"b\"\n")
	f.Add("virtual=100\n\treal=1.2.3.5->1.2.3.9:80 gate 2 \"a\", \"b\" l:3 u:9\n\tfallback=1.2.3.1:81\n")
	f.Add("virtual=1.2.3.4\nvirtual6=[::1]:80\n\treal6=[::2]:80 gate\nfoo\n\tchecktype=3\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseWith("f", strings.NewReader(text), NumericResolver{})
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %v is not Errors", err)
			}
			for i, e := range es {
				if i > 0 && e.Line < es[i-1].Line {
					t.Fatalf("errors out of file order: %v", err)
				}
			}
			return
		}
		for _, v := range c.Virtuals {
			if v.CheckInterval <= 0 || v.CheckTimeout <= 0 || v.NegotiateTimeout <= 0 || v.FailureCount < 1 || v.CheckCount < 1 {
				t.Fatalf("bad defaults: %+v", v)
			}
			Service(v, func(ID) bool { return true })
		}
	})
}

// noLock stands in for the machine-wide lock in tests of the logic.
func noLock() (func(), error) { return func() {}, nil }

// The first round of checks, which the group's start waits for, gives a
// check at most StartCheckLimit even when negotiatetimeout is 30 s.
func TestStartCapsSlowChecks(t *testing.T) {
	c, err := Parse("f.cf", strings.NewReader("virtual=1.2.3.4:80\n\treal=1.2.3.5 masq\n\tscheduler=rr\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Virtuals[0].NegotiateTimeout != DefaultNegotiateTimeout {
		t.Fatalf("timeout %s", c.Virtuals[0].NegotiateTimeout)
	}
	var allowed time.Duration
	check := func(ctx context.Context, _ *Virtual, _ Real) error {
		dl, _ := ctx.Deadline()
		allowed = time.Until(dl)
		return nil
	}
	ch := NewChecker(c, &datapath.Mem{}, check, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ch.lock = noLock
	if err := ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if allowed <= 0 || allowed > StartCheckLimit {
		t.Errorf("the first check was given %s, want at most %s", allowed, StartCheckLimit)
	}
}

// A range of exactly MaxRange addresses is taken whole.
func TestRealRangeUpToMaxRange(t *testing.T) {
	c, err := ParseWith("f.cf", strings.NewReader("virtual=1.2.3.4:80\n\treal=10.0.0.0->10.0.3.255 masq\n"), NumericResolver{})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Virtuals[0].Reals; len(r) != MaxRange || r[0].Addr.String() != "10.0.0.0:80" || r[MaxRange-1].Addr.String() != "10.0.3.255:80" {
		t.Fatalf("%d real servers, from %v", len(r), r[0].Addr)
	}
}

// Find looks for a file named in haresources as ldirectord does: an
// absolute path as it is, else in the configuration directory, then in
// its conf/; when neither holds it, the first, for the error to name.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	if got := Find(dir, "/etc/x.cf"); got != "/etc/x.cf" {
		t.Errorf("absolute: %s", got)
	}
	if got, want := Find(dir, "ld.cf"), filepath.Join(dir, "ld.cf"); got != want {
		t.Errorf("missing: %s, want %s", got, want)
	}
	os.MkdirAll(filepath.Join(dir, "conf"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf", "ld.cf"), nil, 0o644)
	if got, want := Find(dir, "ld.cf"), filepath.Join(dir, "conf", "ld.cf"); got != want {
		t.Errorf("in conf/: %s, want %s", got, want)
	}
	os.WriteFile(filepath.Join(dir, "ld.cf"), nil, 0o644)
	if got, want := Find(dir, "ld.cf"), filepath.Join(dir, "ld.cf"); got != want {
		t.Errorf("in both: %s, want %s", got, want)
	}
}
