package lvs

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// Counters in -L --stats and --rate as ipvsadm's print_largenum prints
// them: in full below 100 million, then K, M, G, T; in full with --exact.
func TestCounterFormat(t *testing.T) {
	for _, c := range []struct {
		v           uint64
		short, full string
	}{
		{0, "0", "0"},
		{99_999_999, "99999999", "99999999"},
		{100_000_000, "100000K", "100000000"},
		{999_999_999, "999999K", "999999999"},
		{1_000_000_000, "1000M", "1000000000"},
		{99_999_999_999, "99999M", "99999999999"},
		{100_000_000_000, "100G", "100000000000"},
		{99_999_999_999_999, "99999G", "99999999999999"},
		{100_000_000_000_000, "100T", "100000000000000"},
	} {
		if got := num(c.v, false); got != c.short {
			t.Errorf("num(%d) = %q, want %q", c.v, got, c.short)
		}
		if got := num(c.v, true); got != c.full {
			t.Errorf("num(%d, exact) = %q, want %q", c.v, got, c.full)
		}
	}
	tab := table(t, "-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.1.2 -m")
	s := tab.Services[0]
	s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes = 7, 150_000, 123_456_789, 2_500_000_000, 12
	s.Dests[0].Conns, s.Dests[0].InBytes = 7, 2_500_000_000
	// ipvsadm prints the service name "%-33s" (the real server "  -> %-28s")
	// and each counter nine wide (print_largenum's "%9llu" / "%8lluK").
	line := func(name string, nums ...string) string {
		for _, n := range nums {
			name += fmt.Sprintf("%9s", n)
		}
		return name + "\n"
	}
	out, _ := tab.List(ListOptions{Stats: true})
	want := line(fmt.Sprintf("%-33s", "TCP  198.18.0.10:80"), "7", "150000", "123456K", "2500M", "12") +
		line(fmt.Sprintf("  -> %-28s", "198.18.1.2:80"), "7", "0", "0", "2500M", "0")
	if !strings.HasSuffix(out, want) {
		t.Errorf("--stats:\n%s\nwant it to end with\n%s", out, want)
	}
	out, _ = tab.List(ListOptions{Stats: true, Exact: true})
	// --exact: "%*llu", nine wide or one blank before a longer number.
	if want := fmt.Sprintf("%-33s", "TCP  198.18.0.10:80") + "        7   150000 123456789 2500000000       12\n"; !strings.Contains(out, want) {
		t.Errorf("--stats --exact:\n%s\nwant a line\n%s", out, want)
	}
	out, _ = tab.List(ListOptions{Rate: true})
	if !strings.Contains(out, "CPS    InPPS   OutPPS    InBPS   OutBPS\n") || !strings.Contains(out, "123456K") {
		t.Errorf("--rate:\n%s", out)
	}
	if c, err := Parse(strings.Fields("-L -n --stats --exact")); err != nil || !c.Exact {
		t.Errorf("--exact: %+v %v", c, err)
	}
}

// Firewall-mark services and every forwarding method, listed and saved as
// ipvsadm does; what -S writes, -R reads back to the same table.
func TestFwmarkAndForwardingListedAndSaved(t *testing.T) {
	tab := table(t,
		"-A -f 7 -s sh -p 60",
		"-a -f 7 -r 198.18.1.2 -i -w 2",
		"-a -f 7 -r 198.18.1.3:8080 -m",
		"-a -f 7 -r 198.18.1.4 -g -w 0",
	)
	out, _ := tab.List(ListOptions{Numeric: true})
	for _, want := range []string{
		"FWM  7 sh persistent 60\n",
		"  -> 198.18.1.2:0                 Tunnel  2      0          0         \n",
		"  -> 198.18.1.3:8080              Masq    1      0          0         \n",
		"  -> 198.18.1.4:0                 Route   0      0          0         \n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("list:\n%s\nlacks %q", out, want)
		}
	}
	save := tab.Save()
	if want := "-A -f 7 -s sh -p 60\n-a -f 7 -r 198.18.1.2:0 -i -w 2 --tun-type ipip\n-a -f 7 -r 198.18.1.3:8080 -m -w 1\n-a -f 7 -r 198.18.1.4:0 -g -w 0\n"; save != want {
		t.Errorf("save:\n%s\nwant\n%s", save, want)
	}
	if k := (Key{Proto: "FWM", FWMark: 7}); k.String() != "FWM  7" {
		t.Errorf("key %q", k.String())
	}
	if k := (Key{Proto: "UDP", Addr: netip.MustParseAddrPort("198.18.0.10:53")}); k.String() != "UDP  198.18.0.10:53" {
		t.Errorf("key %q", k.String())
	}
}

// -L -t lists one service; naming one that does not exist is ipvsadm's
// "No such service".
func TestListOneService(t *testing.T) {
	tab := table(t, "-A -t 198.18.0.10:80 -s rr", "-A -t 198.18.0.11:80 -s rr")
	k := Key{Proto: "TCP", Addr: netip.MustParseAddrPort("198.18.0.11:80")}
	out, err := tab.List(ListOptions{Only: &k, Numeric: true})
	if err != nil || strings.Contains(out, "198.18.0.10") || !strings.Contains(out, "TCP  198.18.0.11:80 rr\n") {
		t.Fatalf("-L -t 198.18.0.11:80: %v\n%s", err, out)
	}
	k.Addr = netip.MustParseAddrPort("198.18.0.12:80")
	if _, err := tab.List(ListOptions{Only: &k}); !errors.Is(err, ErrNoService) {
		t.Fatalf("-L of a missing service: %v", err)
	}
}

// -Z zeroes the counters of one service, or of all with no service given;
// Clone is a deep copy (a change to it leaves the original as it was).
func TestZeroAndClone(t *testing.T) {
	tab := table(t, "-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.1.2 -m", "-A -t 198.18.0.11:80 -s rr", "-a -t 198.18.0.11:80 -r 198.18.1.2 -m")
	for _, s := range tab.Services {
		s.Conns, s.InBytes = 5, 6
		s.Dests[0].Conns, s.Dests[0].OutPkts = 7, 8
	}
	c := tab.Clone()
	if err := run(t, tab, "-Z -t 198.18.0.10:80"); err != nil {
		t.Fatal(err)
	}
	if s := tab.Services[0]; s.Conns != 0 || s.InBytes != 0 || s.Dests[0].Conns != 0 || s.Dests[0].OutPkts != 0 {
		t.Errorf("zeroed service still counts %+v %+v", s, s.Dests[0])
	}
	if s := tab.Services[1]; s.Conns != 5 || s.Dests[0].OutPkts != 8 {
		t.Errorf("-Z -t 198.18.0.10:80 zeroed the other service too")
	}
	if err := run(t, tab, "-Z"); err != nil || tab.Services[1].Conns != 0 || tab.Services[1].Dests[0].Conns != 0 {
		t.Errorf("-Z left %+v (%v)", tab.Services[1], err)
	}
	if c.Services[0].Conns != 5 || c.Services[0].Dests[0].OutPkts != 8 {
		t.Errorf("the clone changed with the original: %+v", c.Services[0])
	}
	c.Services[0].Dests[0].Weight = 9
	if tab.Services[0].Dests[0].Weight == 9 {
		t.Error("a real server of the clone is shared with the original")
	}
	if err := tab.Apply(&Command{Op: OpList}); err == nil {
		t.Error("-L applied to the table")
	}
}

// Only IPv4 services and real servers (the nftables data path is IPv4).
func TestIPv6Refused(t *testing.T) {
	for l, want := range map[string]string{
		"-A -t [2001:db8::1]:80 -s rr":                    "illegal virtual server address",
		"-A -t ::ffff:198.18.0.10:80 -s rr":               "IPv4 only",
		"-a -t 198.18.0.10:80 -r ::ffff:198.18.1.2:80 -m": "IPv4 only",
	} {
		if _, err := Parse(strings.Fields(l)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", l, err, want)
		}
	}
}

// A persistent service's netmask is listed ("mask M") and saved ("-M M")
// unless it is 255.255.255.255, the default, as ipvsadm prints them.
func TestPersistenceMaskListedAndSaved(t *testing.T) {
	for _, c := range []struct {
		add, list, save string
	}{
		{"-A -t 198.18.0.10:80 -s rr -p 60 -M 255.255.255.0", "TCP  198.18.0.10:80 rr persistent 60 mask 255.255.255.0\n", "-A -t 198.18.0.10:80 -s rr -p 60 -M 255.255.255.0\n"},
		{"-A -t 198.18.0.10:80 -s rr -p 60 -M 255.255.255.255", "TCP  198.18.0.10:80 rr persistent 60\n", "-A -t 198.18.0.10:80 -s rr -p 60\n"},
		{"-A -t 198.18.0.10:80 -s rr -p 60", "TCP  198.18.0.10:80 rr persistent 60\n", "-A -t 198.18.0.10:80 -s rr -p 60\n"},
		{"-A -t 198.18.0.10:80 -s rr -M 255.255.255.0", "TCP  198.18.0.10:80 rr\n", "-A -t 198.18.0.10:80 -s rr\n"},
	} {
		tab := table(t, c.add)
		out, _ := tab.List(ListOptions{Numeric: true})
		if !strings.HasSuffix(out, c.list) {
			t.Errorf("%s: list\n%s\nwant it to end with %q", c.add, out, c.list)
		}
		if got := tab.Save(); got != c.save {
			t.Errorf("%s: save %q, want %q", c.add, got, c.save)
		}
	}
}
