package ipvs

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lvs"
)

// The differential tests run the same ipvsadm command sequences through
// Debian's ipvsadm and through lubdub lvs, each on an empty IPVS table in
// the VM, and compare what each tool printed (stdout; the first line of
// stderr, which without lubdub's "lubdub lvs: " prefix must start with
// ipvsadm's words, case aside; the exit code) and the
// kernel's table afterwards (ipvsadm -S -n and /proc/net/ip_vs), which
// lubdub lvs -R must also rebuild from ipvsadm -S -n's output. The same
// sequences also go through lubdub's pure model (internal/lvs, which the
// nftables data path carries out), whose table must be the one ipvsadm
// left in the kernel.
//
// Sequences are generated from a seed (-diff.seed, random by default,
// printed) and bounded: -diff.seqs of them (12 by default, or
// $LUBDUB_DIFF_SEQS), each of up to 10 commands. Disagreements that were
// found and fixed are kept as fixed cases in testdata/diff, one file per
// case, named for what it checks; they run every time.
var (
	diffSeed = flag.Uint64("diff.seed", 0, "seed of the generated ipvsadm sequences (0: random)")
	diffSeqs = flag.Int("diff.seqs", 0, "how many generated sequences (0: $LUBDUB_DIFF_SEQS or 12)")
)

// sequence is a named list of ipvsadm command lines (arguments only).
type sequence struct {
	Name string
	Cmds [][]string
}

func (q sequence) String() string {
	var b strings.Builder
	for _, c := range q.Cmds {
		b.WriteString("ipvsadm " + strings.Join(c, " ") + "\n")
	}
	return b.String()
}

// generator draws commands over a small pool of services and real servers,
// so that sequences hit existing and missing entries alike.
type generator struct{ r *rand.Rand }

func (g *generator) pick(s ...string) string { return s[g.r.IntN(len(s))] }
func (g *generator) chance(p float64) bool   { return g.r.Float64() < p }

func (g *generator) key() []string {
	switch g.r.IntN(7) {
	case 0, 1, 2:
		return []string{g.pick("-t", "-t", "--tcp-service"), g.pick("198.18.0.10:80", "198.18.0.10:80", "198.18.0.11:80", "198.18.0.10:8080")}
	case 3:
		return []string{"-u", g.pick("198.18.0.10:53", "198.18.0.10:80")}
	case 4:
		return []string{g.pick("-f", "--fwmark-service"), g.pick("1", "2")}
	case 5:
		return []string{"-t", g.pick("198.18.0.10", "198.18.0.10:0")} // port 0: persistent services only
	}
	return []string{"-t", "198.18.0.10:80"}
}

func (g *generator) svcOpts() []string {
	var o []string
	if g.chance(0.6) {
		o = append(o, g.pick("-s", "--scheduler"), g.pick(append(lvs.Schedulers, "rr", "wrr", "bogus")...))
	}
	if g.chance(0.35) {
		o = append(o, "-p")
		if g.chance(0.6) {
			o = append(o, g.pick("60", "300", "3600"))
		}
	}
	if g.chance(0.15) {
		o = append(o, "-M", g.pick("255.255.255.0", "255.255.0.0", "255.255.255.255"))
	}
	return o
}

func (g *generator) dest() []string {
	return []string{g.pick("-r", "--real-server"), g.pick("198.18.1.11", "198.18.1.11:80", "198.18.1.12:80", "198.18.1.12:8080", "198.18.1.13")}
}

func (g *generator) destOpts() []string {
	var o []string
	if g.chance(0.7) {
		o = append(o, g.pick("-g", "-i", "-m", "-m", "--masquerading", "--gatewaying", "--ipip"))
	}
	if g.chance(0.5) {
		o = append(o, g.pick("-w", "--weight"), g.pick("0", "1", "3", "100", "65535"))
	}
	return o
}

// daemonCommand draws a sync daemon command: starts with and without
// each option (on the guest's eth0 and eth1, or a missing interface),
// stops, listings and refusals.
func (g *generator) daemonCommand() []string {
	switch n := g.r.IntN(100); {
	case n < 40:
		c := []string{"--start-daemon", g.pick("master", "backup")}
		for _, o := range []struct {
			opt    string
			values []string
		}{
			{"--mcast-interface", []string{"eth0", "eth0", "eth1", "nosuch"}},
			{"--syncid", []string{"0", "7", "255", "256", "abc"}},
			{"--mcast-group", []string{"224.0.0.81", "239.1.2.3", "ff02::1", "198.18.0.1"}},
			{"--mcast-port", []string{"8848", "9000", "0"}},
			{"--mcast-ttl", []string{"1", "5", "256"}},
			{"--sync-maxlen", []string{"1472", "100", "65508"}},
		} {
			if g.chance(0.3) {
				if v := g.pick(o.values...); g.chance(0.2) {
					c = append(c, o.opt+"="+v)
				} else {
					c = append(c, o.opt, v)
				}
			}
		}
		return c
	case n < 65:
		c := []string{"--stop-daemon", g.pick("master", "backup")}
		if g.chance(0.2) {
			c = append(c, "--syncid", "3")
		}
		return c
	case n < 90:
		c := []string{"-L", "--daemon"}
		if g.chance(0.3) {
			c = append(c, g.pick("-n", "--exact"))
		}
		return c
	}
	return g.pick2([][]string{
		{"--stop-daemon", "foo"},
		{"--start-daemon", "slave"},
		{"--start-daemon", "master", "-n"},
		{"-L", "--daemon", "--stats"},
		{"-L", "--daemon", "-c"},
		{"-L", "-c", "--daemon"},
		{"--stop-daemon", "master", "--mcast-interface", "eth0"},
		{"--start-daemon", "master", "--start-daemon", "backup"},
		{"-A", "-t", "198.18.0.10:80", "--syncid", "3"},
	})
}

func (g *generator) command() []string {
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	if g.chance(0.15) {
		return g.daemonCommand()
	}
	switch n := g.r.IntN(100); {
	case n < 22:
		return cat([]string{g.pick("-A", "-A", "--add-service")}, g.key(), g.svcOpts())
	case n < 32:
		return cat([]string{g.pick("-E", "--edit-service")}, g.key(), g.svcOpts())
	case n < 38:
		return cat([]string{g.pick("-D", "--delete-service")}, g.key())
	case n < 62:
		return cat([]string{g.pick("-a", "-a", "--add-server")}, g.key(), g.dest(), g.destOpts())
	case n < 72:
		return cat([]string{g.pick("-e", "--edit-server")}, g.key(), g.dest(), g.destOpts())
	case n < 78:
		return cat([]string{g.pick("-d", "--delete-server")}, g.key(), g.dest())
	case n < 80:
		return []string{"-C"}
	case n < 83:
		if g.chance(0.5) {
			return []string{"-Z"}
		}
		return cat([]string{"-Z"}, g.key())
	case n < 86:
		return []string{"-L", "-n"}
	case n < 88:
		return cat([]string{"-L", "-n"}, g.key(), []string{g.pick("-n", "--stats")})
	case n < 92:
		return []string{"-S", "-n"}
	}
	// Command lines ipvsadm refuses.
	return g.pick2([][]string{
		{"-A", "-t", "198.18.0.300:80"},
		{"-a", "-t", "198.18.0.10:80"},
		{"-a", "-t", "198.18.0.10:80", "-r", "198.18.1.11", "-w", "70000"},
		{"-a", "-t", "198.18.0.10:80", "-r", "198.18.1.11", "-w", "-1"},
		{"-A", "-D", "-t", "198.18.0.10:80"},
		{"-A", "-t", "198.18.0.10:80", "--bogus"},
		{"-A", "-t", "198.18.0.10:80", "-s"},
		{"-E"},
		{"-A", "-t", "198.18.0.10:80", "-p", "0"},
		{"-d", "-t", "198.18.0.10:80", "-r", "198.18.1.11", "-w", "2"},
	})
}

func (g *generator) pick2(s [][]string) []string { return s[g.r.IntN(len(s))] }

func (g *generator) sequence(name string) sequence {
	q := sequence{Name: name}
	for range 3 + g.r.IntN(8) {
		q.Cmds = append(q.Cmds, g.command())
	}
	return q
}

// fixedCases reads testdata/diff: one command line per line (without
// "ipvsadm"), # comments.
func fixedCases(t *testing.T) []sequence {
	files, err := filepath.Glob("testdata/diff/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []sequence
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		q := sequence{Name: strings.TrimSuffix(filepath.Base(f), ".txt")}
		for i, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			f := strings.Fields(strings.TrimPrefix(l, "ipvsadm "))
			if len(f) == 0 {
				t.Fatalf("%s:%d: empty command", f, i+1)
			}
			q.Cmds = append(q.Cmds, f)
		}
		out = append(out, q)
	}
	return out
}

func shQuote(a string) string { return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'" }

// diffScript runs every sequence through both tools.
func diffScript(seqs []sequence) string {
	var b strings.Builder
	b.WriteString(`run3() { n=$1; shift; "$@" >/tmp/o 2>/tmp/e; rc=$?; echo "### $n.out"; cat /tmp/o; echo "### rc=$rc"; echo "### $n.err"; cat /tmp/e; echo "### rc=$rc"; }
# The sync daemons' interfaces: eth0 and eth1, up, a veth pair.
ip link add eth0 type veth peer name eth1
ip link set eth0 up; ip link set eth1 up
ip addr add 198.18.5.1/24 brd + dev eth0
`)
	for i, q := range seqs {
		for _, tool := range []string{"ipvsadm", "lubdub"} {
			b.WriteString("ipvsadm -C; ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null\n")
			prog := "ipvsadm"
			if tool == "lubdub" {
				prog = "lubdub lvs"
			}
			for j, c := range q.Cmds {
				quoted := make([]string, len(c))
				for k, a := range c {
					quoted[k] = shQuote(a)
				}
				fmt.Fprintf(&b, "run3 %d.%s.%d %s %s\n", i, tool, j, prog, strings.Join(quoted, " "))
			}
			fmt.Fprintf(&b, "run %d.%s.table ipvsadm -S -n\nrun %d.%s.proc cat /proc/net/ip_vs\nrun %d.%s.daemons ipvsadm -L --daemon\n", i, tool, i, tool, i, tool)
		}
		// lubdub lvs -R takes back what ipvsadm -S wrote.
		fmt.Fprintf(&b, "run %d.restored sh -c 'ipvsadm -S -n >/tmp/s && lubdub lvs -C && lubdub lvs -R </tmp/s && ipvsadm -S -n'\n", i)
	}
	// -R with the sync daemons' lines among the table's, through both.
	fmt.Fprintf(&b, "printf '%%s' %s >/tmp/r\n", shQuote(restoreDaemons))
	for _, tool := range []string{"ipvsadm", "lubdub lvs"} {
		b.WriteString("ipvsadm -C; ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null\n")
		fmt.Fprintf(&b, "run %s.rdaemons sh -c '%s -R </tmp/r; echo \"exit $?\"; ipvsadm -S -n; ipvsadm -L --daemon'\n", strings.Fields(tool)[0], tool)
	}
	b.WriteString("ipvsadm -C; ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null\n")
	return b.String()
}

// restoreDaemons is a -R input with sync daemon lines between the
// table's: ipvsadm -R runs them all.
const restoreDaemons = `--start-daemon master --mcast-interface eth0 --syncid 4
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1
--start-daemon backup --mcast-interface eth1 --syncid 4
--stop-daemon master
`

var helpTail = regexp.MustCompile(`(?s)\n.*`)

// firstErrLine is what a tool said on stderr, for comparison: the first
// line, without lubdub's prefix.
func firstErrLine(s string) string {
	s = helpTail.ReplaceAllString(s, "")
	return strings.TrimPrefix(s, "lubdub lvs: ")
}

// modelTable runs a sequence through lubdub's pure model and returns its
// table as lubdub lvs -S -n prints it.
func modelTable(q sequence) string {
	t := &lvs.Table{}
	for _, c := range q.Cmds {
		cmd, err := lvs.Parse(c)
		if err != nil {
			continue
		}
		switch cmd.Op {
		case lvs.OpList, lvs.OpSave, lvs.OpZero, lvs.OpHelp, lvs.OpRestore, lvs.OpStartDaemon, lvs.OpStopDaemon:
			continue
		}
		next := t.Clone()
		if next.Apply(cmd) == nil {
			t = next
		}
	}
	t.Sort()
	return t.Save()
}

func TestDifferential(t *testing.T) {
	seed := *diffSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	n := *diffSeqs
	if n == 0 {
		n = 12
		if v, err := strconv.Atoi(os.Getenv("LUBDUB_DIFF_SEQS")); err == nil && v > 0 {
			n = v
		}
	}
	seqs := fixedCases(t)
	fixed := len(seqs)
	g := &generator{r: rand.New(rand.NewPCG(seed, 0))}
	for i := range n {
		seqs = append(seqs, g.sequence(fmt.Sprintf("seed %d #%d", seed, i)))
	}
	t.Logf("%d fixed cases and %d sequences generated from -diff.seed=%d", fixed, n, seed)
	s := boot(t, diffScript(seqs), 3*time.Minute+time.Duration(len(seqs))*5*time.Second)
	for i, q := range seqs {
		var why []string
		for j, c := range q.Cmds {
			a, b := s.Get(t, fmt.Sprintf("%d.ipvsadm.%d.out", i, j)), s.Get(t, fmt.Sprintf("%d.lubdub.%d.out", i, j))
			ae, be := s.Get(t, fmt.Sprintf("%d.ipvsadm.%d.err", i, j)), s.Get(t, fmt.Sprintf("%d.lubdub.%d.err", i, j))
			line := strings.Join(c, " ")
			if a.Code != b.Code {
				why = append(why, fmt.Sprintf("%s: exit %d, ipvsadm %d (%q / %q)", line, b.Code, a.Code, firstErrLine(be.Out), firstErrLine(ae.Out)))
			}
			if a.Out != b.Out {
				why = append(why, fmt.Sprintf("%s: stdout\n%s\nipvsadm's\n%s", line, b.Out, a.Out))
			}
			// lubdub may say more after ipvsadm's words.
			if x, y := firstErrLine(ae.Out), firstErrLine(be.Out); !strings.HasPrefix(strings.ToLower(y), strings.ToLower(x)) {
				why = append(why, fmt.Sprintf("%s: stderr %q, ipvsadm's %q", line, y, x))
			}
		}
		kt := s.OK(t, fmt.Sprintf("%d.ipvsadm.table", i))
		if lt := s.OK(t, fmt.Sprintf("%d.lubdub.table", i)); lt != kt {
			why = append(why, fmt.Sprintf("kernel table after lubdub lvs:\n%s\nafter ipvsadm:\n%s", lt, kt))
		}
		if a, b := s.OK(t, fmt.Sprintf("%d.ipvsadm.proc", i)), s.OK(t, fmt.Sprintf("%d.lubdub.proc", i)); a != b {
			why = append(why, fmt.Sprintf("/proc/net/ip_vs after lubdub lvs:\n%s\nafter ipvsadm:\n%s", b, a))
		}
		if a, b := s.OK(t, fmt.Sprintf("%d.ipvsadm.daemons", i)), s.OK(t, fmt.Sprintf("%d.lubdub.daemons", i)); a != b {
			why = append(why, fmt.Sprintf("sync daemons after lubdub lvs:\n%s\nafter ipvsadm:\n%s", b, a))
		}
		if r := s.OK(t, fmt.Sprintf("%d.restored", i)); r != s.OK(t, fmt.Sprintf("%d.lubdub.table", i)) {
			why = append(why, fmt.Sprintf("lubdub lvs -R of ipvsadm -S -n's output gave\n%s", r))
		}
		if m := modelTable(q); m != kt {
			why = append(why, fmt.Sprintf("lubdub's model (the nftables path's) ends with\n%s\nipvsadm left in the kernel\n%s", m, kt))
		}
		if len(why) > 0 {
			t.Errorf("sequence %s:\n%s--\n%s", q.Name, q, strings.Join(why, "\n"))
		}
	}
	if a, b := s.OK(t, "ipvsadm.rdaemons"), s.OK(t, "lubdub.rdaemons"); a != b || !strings.Contains(a, "backup sync daemon") {
		t.Errorf("-R with sync daemon lines:\n%s\nlubdub lvs -R gave\n%s\nipvsadm -R gave\n%s", restoreDaemons, b, a)
	}
}
