package lvs

import (
	"errors"
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

// -E sets the whole service, as -A does: ipvsadm sends the service it
// built from the command line alone, so without -p a persistent service
// is no longer persistent, without -s its scheduler is wlc again, and
// without -M the mask is gone. (e2e/ipvs's differential case
// edit_service_resets_what_is_not_given shows Debian's ipvsadm doing so
// on a real IPVS kernel.)
func TestEditServiceSetsTheWholeService(t *testing.T) {
	const add = "-A -t 198.18.0.10:80 -s rr -p 60 -M 255.255.255.0"
	for _, c := range []struct{ edit, save, list string }{
		{"-E -t 198.18.0.10:80 -s rr", "-A -t 198.18.0.10:80 -s rr\n", "TCP  198.18.0.10:80 rr\n"},
		{"-E -t 198.18.0.10:80 -p 120", "-A -t 198.18.0.10:80 -s wlc -p 120\n", "TCP  198.18.0.10:80 wlc persistent 120\n"},
		{"-E -t 198.18.0.10:80 -p", "-A -t 198.18.0.10:80 -s wlc -p 360\n", "TCP  198.18.0.10:80 wlc persistent 360\n"},
		{"-E -t 198.18.0.10:80", "-A -t 198.18.0.10:80 -s wlc\n", "TCP  198.18.0.10:80 wlc\n"},
		{"-E -t 198.18.0.10:80 -s sh -p 60 -M 255.255.0.0", "-A -t 198.18.0.10:80 -s sh -p 60 -M 255.255.0.0\n",
			"TCP  198.18.0.10:80 sh persistent 60 mask 255.255.0.0\n"},
	} {
		tab := table(t, add, c.edit)
		if got := tab.Save(); got != c.save {
			t.Errorf("after %q: -S -n %q, want %q", c.edit, got, c.save)
		}
		if out, _ := tab.List(ListOptions{Numeric: true}); !strings.HasSuffix(out, c.list) {
			t.Errorf("after %q: -L -n\n%s\nwant it to end with %q", c.edit, out, c.list)
		}
	}
}

// The kernel looks the service up before it looks for the scheduler: -A
// of an existing service and -E of a missing one are refused for that,
// whatever the scheduler; -E of an existing one with an unknown
// scheduler is refused for the scheduler and changes nothing.
func TestServiceRefusalsInIPVSOrder(t *testing.T) {
	tab := table(t, "-A -t 198.18.0.10:80 -s rr -p 60")
	for _, c := range []struct {
		line string
		err  error
	}{
		{"-A -t 198.18.0.10:80 -s fastest", ErrServiceExists},
		{"-E -t 198.18.0.11:80 -s fastest", ErrNoService},
		{"-E -t 198.18.0.10:80 -s fastest", ErrNoScheduler},
		{"-A -t 198.18.0.11:80 -s fastest", ErrNoScheduler},
	} {
		if err := run(t, tab, c.line); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %q", c.line, err, c.err)
		}
	}
	if got := tab.Save(); got != "-A -t 198.18.0.10:80 -s rr -p 60\n" {
		t.Errorf("refused commands changed the table: %q", got)
	}
}

// -e sets the whole real server, as -a does: without -w its weight is 1
// again, without -m or -i it is gatewaying (ipvsadm's defaults), and -w 0
// takes it out of new connections. (Differential case
// edit_server_resets_what_is_not_given.)
func TestEditServerSetsTheWholeServer(t *testing.T) {
	base := []string{"-A -t 198.18.0.10:80 -s wrr", "-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 3"}
	for _, c := range []struct{ edit, save, list string }{
		{"-e -t 198.18.0.10:80 -r 198.18.1.11:80 -w 5", "-r 198.18.1.11:80 -g -w 5\n", "Route   5 "},
		{"-e -t 198.18.0.10:80 -r 198.18.1.11:80 -m", "-r 198.18.1.11:80 -m -w 1\n", "Masq    1 "},
		{"-e -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 0", "-r 198.18.1.11:80 -m -w 0\n", "Masq    0 "},
		{"-e -t 198.18.0.10:80 -r 198.18.1.11 -i -w 0", "-r 198.18.1.11:80 -i -w 0 --tun-type ipip\n", "Tunnel  0 "},
	} {
		tab := table(t, append(base, c.edit)...)
		if got, want := tab.Save(), "-A -t 198.18.0.10:80 -s wrr\n-a -t 198.18.0.10:80 "+c.save; got != want {
			t.Errorf("after %q: -S -n\n%s\nwant\n%s", c.edit, got, want)
		}
		out, _ := tab.List(ListOptions{Numeric: true})
		if want := "  -> 198.18.1.11:80               " + c.list; !strings.Contains(out, want) {
			t.Errorf("after %q: -L -n\n%s\nwant a line starting %q", c.edit, out, want)
		}
	}
}

// Only masquerading sends to another port: a real server reached by
// gatewaying (-g, the default) or tunnelling (-i) gets the service's
// port, whatever port is written, for -a and -e alike (so -e of a
// masqueraded server's other port without -m names a server that does
// not exist); a firewall-mark service keeps the port given. (Differential
// case gatewaying_takes_the_service_port.)
func TestOnlyMasqueradingMapsPorts(t *testing.T) {
	tab := &Table{}
	for _, s := range []struct{ line, err string }{
		{"-A -t 198.18.0.10:80 -s rr", ""},
		{"-a -t 198.18.0.10:80 -r 198.18.1.11:8080", ""},
		{"-a -t 198.18.0.10:80 -r 198.18.1.12:8080 -i", ""},
		{"-a -t 198.18.0.10:80 -r 198.18.1.13:8080 -m", ""},
		{"-a -t 198.18.0.10:80 -r 198.18.1.11:80", "Destination already exists"},
		{"-a -t 198.18.0.10:80 -r 198.18.1.12:80 -i", "Destination already exists"},
		{"-e -t 198.18.0.10:80 -r 198.18.1.13:8080 -w 2", "No such destination"},
		{"-e -t 198.18.0.10:80 -r 198.18.1.12:9090 -i -w 4", ""},
		{"-A -f 1 -s rr", ""},
		{"-a -f 1 -r 198.18.1.11:8080 -g", ""},
		{"-a -f 1 -r 198.18.1.12", ""},
	} {
		err := run(t, tab, s.line)
		if s.err == "" && err != nil || s.err != "" && (err == nil || err.Error() != s.err) {
			t.Errorf("%s: %v, want %q", s.line, err, s.err)
		}
	}
	want := "-A -t 198.18.0.10:80 -s rr\n" +
		"-a -t 198.18.0.10:80 -r 198.18.1.11:80 -g -w 1\n" +
		"-a -t 198.18.0.10:80 -r 198.18.1.12:80 -i -w 4 --tun-type ipip\n" +
		"-a -t 198.18.0.10:80 -r 198.18.1.13:8080 -m -w 1\n" +
		"-A -f 1 -s rr\n" +
		"-a -f 1 -r 198.18.1.11:8080 -g -w 1\n" +
		"-a -f 1 -r 198.18.1.12:0 -g -w 1\n"
	if got := tab.Save(); got != want {
		t.Errorf("-S -n:\n%s\nwant\n%s", got, want)
	}
}
