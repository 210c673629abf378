package lvs

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/netdb"
	"github.com/lubdub/lubdub/internal/testkit"
)

func run(t *testing.T, tab *Table, line string) error {
	t.Helper()
	c, err := Parse(strings.Fields(line))
	if err != nil {
		return err
	}
	return tab.Apply(c)
}

// The seed's director: 10.0.0.10:80 round robin over two real servers,
// masquerading, listed as ipvsadm -L -n lists it.
func TestSeedTable(t *testing.T) {
	tab := &Table{}
	for _, l := range []string{
		"-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m",
		"-a -t 198.18.0.10:80 -r 198.18.1.3 -m -w 1",
	} {
		if err := run(t, tab, l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	out, err := tab.List(ListOptions{Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  198.18.0.10:80 rr\n" +
		"  -> 198.18.1.2:80                Masq    1      0          0         \n" +
		"  -> 198.18.1.3:80                Masq    1      0          0         \n"
	if out != want {
		t.Fatalf("list:\n%s\nwant:\n%s", out, want)
	}
	save := tab.Save()
	if save != "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 1\n-a -t 198.18.0.10:80 -r 198.18.1.3:80 -m -w 1\n" {
		t.Fatalf("save:\n%s", save)
	}
	cmds, err := Restore(strings.NewReader("# saved\n" + save))
	if err != nil {
		t.Fatal(err)
	}
	again := &Table{}
	for _, c := range cmds {
		if err := again.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	if again.Save() != save {
		t.Fatalf("restore did not round-trip:\n%s", again.Save())
	}
}

func TestIpvsadmRules(t *testing.T) {
	tab := &Table{}
	steps := []struct {
		line, err string
	}{
		{"-A -t 198.18.0.10:80", ""},
		{"-A -t 198.18.0.10:80 -s rr", "Service already exists"},
		{"-E -t 198.18.0.11:80 -s rr", "No such service"},
		{"-E -t 198.18.0.10:80 -s wrr -p", ""},
		{"-a -t 198.18.0.10:80 -r 198.18.1.2:8080", ""}, // -g: port 80, as ipvsadm
		{"-a -t 198.18.0.10:80 -r 198.18.1.2:80", "Destination already exists"},
		{"-d -t 198.18.0.10:80 -r 198.18.1.2", ""},
		{"-A -t 198.18.0.12:80 -s fastest", "Scheduler or persistence engine not found"},
		{"-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 3", ""},
		{"-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m", "Destination already exists"},
		{"-e -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 5", ""},
		{"-e -t 198.18.0.10:80 -r 198.18.1.2:8080 -w 5", "No such destination"}, // -g: port 80
		{"-e -t 198.18.0.10:80 -r 198.18.1.9:80 -w 5", "No such destination"},
		{"-a -u 198.18.0.10:53 -r 198.18.1.2", "Service not defined"},
		{"-A -f 7 -s sh -p 60 -M 255.255.255.0", ""},
		{"-d -t 198.18.0.10:80 -r 198.18.1.2:8080", ""},
		{"-D -t 198.18.0.10:80", ""},
		{"-D -t 198.18.0.10:80", "No such service"},
	}
	for _, s := range steps {
		err := run(t, tab, s.line)
		if s.err == "" && err != nil || s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)) {
			t.Fatalf("%s: err %v, want %q", s.line, err, s.err)
		}
	}
	if got := tab.Save(); got != "-A -f 7 -s sh -p 60 -M 255.255.255.0\n" {
		t.Fatalf("table: %q", got)
	}
	if err := run(t, tab, "-C"); err != nil || len(tab.Services) != 0 {
		t.Fatalf("clear: %v %d", err, len(tab.Services))
	}
}

func TestDefaultsAndFlags(t *testing.T) {
	tab := &Table{}
	run(t, tab, "-A -t 198.18.0.10:80 -p 600")
	run(t, tab, "-a -t 198.18.0.10:80 -r 198.18.1.2")
	s := tab.Services[0]
	if s.Scheduler != "wlc" || !s.Persistent || s.Timeout != 600 || s.Dests[0].Fwd != Route || s.Dests[0].Weight != 1 || s.Dests[0].Addr.Port() != 80 {
		t.Fatalf("%+v %+v", s, s.Dests[0])
	}
	out, _ := tab.List(ListOptions{})
	if !strings.Contains(out, "TCP  198.18.0.10:80 wlc persistent 600\n  -> 198.18.1.2:80                Route   1") {
		t.Fatalf("list:\n%s", out)
	}
	c, err := Parse([]string{"-Ln", "--stats"})
	if err != nil || c.Op != OpList || !c.Numeric || !c.Stats {
		t.Fatalf("-Ln --stats: %+v %v", c, err)
	}
	c, err = Parse([]string{"--add-service", "--tcp-service", "198.18.0.10:80", "--scheduler", "sh"})
	if err != nil || c.Op != OpAddService || c.Scheduler != "sh" {
		t.Fatalf("long options: %+v %v", c, err)
	}
	if _, err := tab.List(ListOptions{Only: &Key{Proto: "TCP", Addr: s.Addr}, Stats: true}); err != nil {
		t.Fatal(err)
	}
}

func TestBadArguments(t *testing.T) {
	for line, want := range map[string]string{
		"":                                       "No command specified",
		"-A":                                     "You need to supply the 'service-address' option for the 'add-service' command",
		"-A -t 198.18.0.10":                      "Zero port specified for non-persistent service",
		"-A -t nonsense:80":                      "illegal virtual server address",
		"-A -t 198.18.0.10:80 -L":                "invalid option `-L' (two commands",
		"-a -t 198.18.0.10:80":                   "You need to supply the 'real-server' option for the 'add-server' command",
		"-a -t 198.18.0.10:80 -r 1.2.3.4 -w x":   "illegal weight specified",
		"-A -t 198.18.0.10:80 -w 3":              "Illegal 'weight' option with the 'add-service' command",
		"-A -t 198.18.0.10:80 -p 0":              "invalid timeout value `0' specified",
		"-L -x":                                  "-x: unknown option",
		"-A -t 198.18.0.10:80 -u 198.18.0.10:53": "multiple 'service-address' options specified",
		"-L -n -n":                               "multiple 'numeric' options specified",
		"-L -X --exact":                          "multiple 'exact' options specified",
		"-A -f 0":                                "Illegal fwmark",
		"-a -t 198.18.0.10:80 -r":                "-r: missing argument",
		"-D -t 198.18.0.10:80 --stats":           "Illegal 'stats' option with the 'delete-service' command",
		"-d -t 198.18.0.10:80 -r 1.2.3.4 -w 2":   "Illegal 'weight' option with the 'delete-server' command",
	} {
		_, err := Parse(strings.Fields(line))
		var ue *UsageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want a usage error with %q", line, err, want)
		}
	}
	if _, err := Restore(strings.NewReader("-A -t 198.18.0.10:80\n-L\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("restore of -L: %v", err)
	}
}

func FuzzParseApply(f *testing.F) {
	f.Add("-A -t 198.18.0.10:80 -s rr -p 30")
	f.Add("-a -t 198.18.0.10:80 -r 198.18.1.2:81 -m -w 2")
	f.Add("-Ln --stats -t 198.18.0.10:80")
	f.Fuzz(func(t *testing.T, s string) {
		tab := &Table{}
		tab.Apply(&Command{Op: OpAddService, Key: Key{Proto: "TCP", Addr: mustAP("198.18.0.10:80")}})
		c, err := Parse(strings.Fields(s))
		if err != nil {
			return
		}
		_ = tab.Apply(c)
		cmds, err := Restore(strings.NewReader(tab.Save()))
		if err != nil {
			t.Fatalf("saved table does not restore: %v\n%s", err, tab.Save())
		}
		again := &Table{}
		for _, c := range cmds {
			if err := again.Apply(c); err != nil {
				t.Fatalf("restoring %q: %v", tab.Save(), err)
			}
		}
		if again.Save() != tab.Save() {
			t.Fatalf("round trip: %q vs %q", again.Save(), tab.Save())
		}
		tab.List(ListOptions{})
	})
}

func FuzzRestore(f *testing.F) {
	f.Add("-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		cmds, err := Restore(strings.NewReader(s))
		if err != nil {
			return
		}
		tab := &Table{}
		for _, c := range cmds {
			tab.Apply(c)
		}
		tab.List(ListOptions{Stats: true})
	})
}

func mustAP(s string) netip.AddrPort {
	ap, err := parseRealServer(s, "tcp", nil)
	if err != nil {
		panic(err)
	}
	return ap
}

// testNames resolves from testdata/names/services and hosts, as the C
// library would from /etc/services and /etc/hosts.
type testNames struct {
	services []netdb.Service
	hosts    map[string]netip.Addr
}

func loadTestNames(t *testing.T) *testNames {
	f, err := os.Open("testdata/names/services")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := &testNames{services: netdb.ParseServices(f), hosts: map[string]netip.Addr{}}
	b, err := os.ReadFile("testdata/names/hosts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && !strings.HasPrefix(l, "#") {
			n.hosts[f[1]] = netip.MustParseAddr(f[0])
		}
	}
	return n
}

func (n *testNames) LookupHost(name string) (netip.Addr, bool) { a, ok := n.hosts[name]; return a, ok }
func (n *testNames) HostName(a netip.Addr) (string, bool) {
	for name, h := range n.hosts {
		if h == a {
			return name, true
		}
	}
	return "", false
}
func (n *testNames) LookupPort(name, proto string) (uint16, bool) {
	for _, s := range n.services {
		if s.Proto == proto && (s.Name == name || slices.Contains(s.Aliases, name)) {
			return s.Port, true
		}
	}
	return 0, false
}
func (n *testNames) ServiceName(port uint16, proto string) (string, bool) {
	for _, s := range n.services {
		if s.Proto == proto && s.Port == port {
			return s.Name, true
		}
	}
	return "", false
}

// TestNames runs testdata/names/*.txt: rules restored with names as
// ipvsadm -R reads them, then listed (-L) and saved (-S) without -n, and
// saved with -n, each compared with what ipvsadm prints.
func TestNames(t *testing.T) {
	names := loadTestNames(t)
	files, _ := filepath.Glob("testdata/names/*.txt")
	if len(files) == 0 {
		t.Fatal("no cases")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			sec := testkit.Sections(t, f)
			cmds, err := RestoreNames(strings.NewReader(sec["restore"]), names)
			if want, ok := sec["error"]; ok {
				if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
					t.Fatalf("error %v, want %q", err, strings.TrimSpace(want))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tab := &Table{}
			for _, c := range cmds {
				if err := tab.Apply(c); err != nil {
					t.Fatal(err)
				}
			}
			if want, ok := sec["list"]; ok {
				got, _ := tab.List(ListOptions{Names: names})
				if got != want {
					t.Errorf("-L:\n%s\nwant:\n%s", got, want)
				}
			}
			if want, ok := sec["save"]; ok {
				if got := tab.SaveNames(names); got != want {
					t.Errorf("-S:\n%s\nwant:\n%s", got, want)
				}
				// What -S writes, -R reads back to the same table.
				again, err := RestoreNames(strings.NewReader(want), names)
				if err != nil {
					t.Fatalf("restoring -S output: %v", err)
				}
				t2 := &Table{}
				for _, c := range again {
					t2.Apply(c)
				}
				if t2.Save() != tab.Save() {
					t.Errorf("-S then -R gives\n%s\nwant\n%s", t2.Save(), tab.Save())
				}
			}
			if want, ok := sec["save-n"]; ok {
				if got := tab.Save(); got != want {
					t.Errorf("-S -n:\n%s\nwant:\n%s", got, want)
				}
			}
		})
	}
}

// Sort is ipvsadm's listing order, whatever order the services came in.
func TestSortAsIpvsadm(t *testing.T) {
	tab := &Table{}
	for _, l := range []string{"-A -f 2 -s rr", "-A -u 198.18.0.10:53 -s rr", "-A -t 198.18.0.11:80 -s rr", "-A -t 198.18.0.10:8080 -s rr",
		"-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.1.13 -m", "-a -t 198.18.0.10:80 -r 198.18.1.11:8080 -m",
		"-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m", "-A -f 1 -s rr"} {
		if err := run(t, tab, l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	tab.Sort()
	want := "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1\n-a -t 198.18.0.10:80 -r 198.18.1.11:8080 -m -w 1\n" +
		"-a -t 198.18.0.10:80 -r 198.18.1.13:80 -m -w 1\n-A -t 198.18.0.10:8080 -s rr\n-A -t 198.18.0.11:80 -s rr\n" +
		"-A -u 198.18.0.10:53 -s rr\n-A -f 1 -s rr\n-A -f 2 -s rr\n"
	if got := tab.Save(); got != want {
		t.Errorf("sorted:\n%s\nwant (ipvsadm's order)\n%s", got, want)
	}
}
