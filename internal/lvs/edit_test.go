package lvs

import (
	"strings"
	"testing"
)

// table applies ipvsadm lines to an empty table, failing on any error.
func table(t *testing.T, lines ...string) *Table {
	t.Helper()
	tab := &Table{}
	for _, l := range lines {
		if err := run(t, tab, l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	return tab
}

// ipvsadm -E sends the whole service (ipvs_update_service) and the kernel
// replaces flags, timeout, netmask and scheduler with what it is given:
// what the command leaves out goes back to ipvsadm's defaults. So "-E -s
// rr" on a persistent service ends persistence, and "-E -p 60" without -s
// sets wlc.
func TestEditServiceSetsTheWholeService(t *testing.T) {
	for _, c := range []struct {
		edit, want string
	}{
		{"-E -t 198.18.0.10:80 -s rr", "-A -t 198.18.0.10:80 -s rr\n"},
		{"-E -t 198.18.0.10:80 -s sh -p 60", "-A -t 198.18.0.10:80 -s sh -p 60\n"},
		{"-E -t 198.18.0.10:80 -p", "-A -t 198.18.0.10:80 -s wlc -p 300\n"},
		{"-E -t 198.18.0.10:80 -s wrr -p 600 -M 255.255.255.0", "-A -t 198.18.0.10:80 -s wrr -p 600 -M 255.255.255.0\n"},
	} {
		tab := table(t, "-A -t 198.18.0.10:80 -s wrr -p 600 -M 255.255.0.0", c.edit)
		if got := tab.Save(); got != c.want {
			t.Errorf("after %q: %q, want %q", c.edit, got, c.want)
		}
	}
	tab := table(t, "-A -t 198.18.0.10:80 -s rr -p 120", "-E -t 198.18.0.10:80 -s rr")
	out, _ := tab.List(ListOptions{Numeric: true})
	if !strings.Contains(out, "TCP  198.18.0.10:80 rr\n") {
		t.Errorf("-E without -p still lists persistence:\n%s", out)
	}
}

// ipvsadm -e sends the whole real server too: -w 0 takes it out of new
// connections; without -w its weight is 1 again, without -g/-i/-m it is
// gatewaying (ipvsadm's defaults, set before its options are read).
func TestEditServerSetsTheWholeServer(t *testing.T) {
	base := []string{"-A -t 198.18.0.10:80 -s wrr", "-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 3"}
	for _, c := range []struct {
		edit, want string
	}{
		{"-e -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 0", "Masq    0"},
		{"-e -t 198.18.0.10:80 -r 198.18.1.2 -m -w 7", "Masq    7"},
		{"-e -t 198.18.0.10:80 -r 198.18.1.2:80 -m", "Masq    1"},
		{"-e -t 198.18.0.10:80 -r 198.18.1.2:80 -w 2", "Route   2"},
		{"-e -t 198.18.0.10:80 -r 198.18.1.2:80 -i -w 0", "Tunnel  0"},
	} {
		tab := table(t, append(base, c.edit)...)
		out, _ := tab.List(ListOptions{Numeric: true})
		if want := "  -> 198.18.1.2:80                " + c.want + " "; !strings.Contains(out, want) {
			t.Errorf("after %q:\n%s\nwant a line %q", c.edit, out, want)
		}
	}
}

// Only masquerading can send to another port: with gatewaying (-g, the
// default) and tunnelling (-i) the packet reaches the real server still
// addressed to the virtual port, so ipvsadm forces the service's port.
// lubdub refuses a different port instead of silently changing it, for -a
// and -e alike; firewall-mark services have no port to keep.
func TestOnlyMasqueradingMapsPorts(t *testing.T) {
	for _, l := range []string{
		"-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -i",
		"-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -g",
		"-a -t 198.18.0.10:80 -r 198.18.1.3:8080",
		"-e -t 198.18.0.10:80 -r 198.18.1.2:8080 -i",
		"-e -t 198.18.0.10:80 -r 198.18.1.2:8080 -w 0",
	} {
		if _, err := Parse(strings.Fields(l)); err == nil || !strings.Contains(err.Error(), "only -m maps ports") {
			t.Errorf("%s: err %v, want a refusal to map ports", l, err)
		}
	}
	for _, l := range []string{
		"-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m",
		"-a -t 198.18.0.10:80 -r 198.18.1.4 -i",
		"-a -t 198.18.0.10:80 -r 198.18.1.5:80 -g",
		"-a -f 7 -r 198.18.1.3:8080 -i",
	} {
		if _, err := Parse(strings.Fields(l)); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	tab := table(t, "-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.1.4 -i")
	if d := tab.Services[0].Dests[0]; d.Addr.Port() != 80 || d.Fwd != Tunnel {
		t.Errorf("-i without a port: %v %s, want port 80, Tunnel", d.Addr, d.Fwd)
	}
}
