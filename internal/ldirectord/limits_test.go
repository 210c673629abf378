package ldirectord

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// parseCase reads text with NumericResolver; err "" means it must be
// accepted, else refused with err in the message.
func parseCase(t *testing.T, text, want string) *Config {
	t.Helper()
	c, err := ParseWith("f.cf", strings.NewReader(text), NumericResolver{})
	switch {
	case want == "" && err != nil:
		t.Errorf("%q: %v", text, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%q: %v, want %q", text, err, want)
	}
	return c
}

// Values at the edges of what ldirectord's read_config takes (and of
// lubdub's bounds where ldirectord has none), each accepted or refused
// with its message.
func TestDirectiveLimits(t *testing.T) {
	const v = "virtual=1.2.3.4:80\n\treal=1.2.3.5:80 masq\n"
	for _, c := range []struct{ text, err string }{
		{"checktimeout=0\n" + v, "invalid check timeout"},
		{v + "\tchecktimeout=0\n", "invalid check timeout"},
		{v + "\tnegotiatetimeout=0\n", "invalid negotiate timeout"},
		{v + "\tcheckinterval=0\n", "invalid checkinterval"},
		// ldirectord's first run of digits, in seconds; lubdub stops at a
		// million.
		{"checktimeout=x1000000\n" + v, ""},
		{"checktimeout=x1000001\n" + v, "invalid check timeout"},
		{v + "\tfailurecount=1000000\n", ""},
		{v + "\tfailurecount=1000001\n", "invalid failure count"},
		{v + "\tchecktype=1000000\n", ""},
		{v + "\tchecktype=1000001\n", "number too large"},
		{v + "\tcheckport=1\n", ""},
		{v + "\tcheckport=65535\n", ""},
		{v + "\tcheckport=0\n", "checkport must be in range"},
		{v + "\tcheckport=65536\n", "checkport must be in range"},
		{v + "\tpersistent=1\n", ""},
		{v + "\tpersistent=0\n", "invalid persistent timeout"},
		// ipvsadm 1.31 and IPVS take weights above 65535 (lvs's
		// differential case weights); ldirectord passes any number on.
		{v + "\treal=1.2.3.6:80 masq 65536\n", ""},
		{v + "\treal=1.2.3.6:80 masq 2147483647\n", ""},
		{v + "\treal=1.2.3.6:80 masq 2147483648\n", "ipvsadm takes 0 to 2147483647"},
		{v + "\tlogin=\"--\"\n", ""},
		{v + "\tload=\"--\"\n", "invalid string for load testing"},
		{v + "\tload=\"cpu\"\n", ""},
		{"supervised\n" + v, ""},
		{"supervised=\n" + v, "supervised must be 'yes' or 'no'"},
		{"emailalert=\"\"\n" + v, "no email address specified"},
		{"emailalert=\"a\"\n" + v, ""},
		{"emailalert=a\"\n" + v, ""},
		// A lone double quote is a value, not a crash.
		{v + "\tcheckcommand=\"\n", ""},
		// A comment line longer than the first 4 KiB buffer is read.
		{"# " + strings.Repeat("x", 5000) + "\n" + v, ""},
	} {
		parseCase(t, c.text, c.err)
	}
	c := parseCase(t, "virtual=1.2.3.4:80\n\tcheckcommand=\"\n", "")
	if c != nil && c.Virtuals[0].CheckCommand != `"` {
		t.Errorf("checkcommand=\": %q", c.Virtuals[0].CheckCommand)
	}
	c = parseCase(t, "checktimeout=x1000000\n"+v, "")
	if c != nil && c.Virtuals[0].CheckTimeout != 1e6*time.Second {
		t.Errorf("checktimeout=x1000000: %v", c.Virtuals[0].CheckTimeout)
	}
}

// Real servers at one address on different ports are different servers;
// the same address and port twice is one, with a note.
func TestRealServersByAddressAndPort(t *testing.T) {
	c := parseCase(t, "virtual=1.2.3.4:80\n\treal=1.2.3.5:80 masq\n\treal=1.2.3.5:81 masq\n\treal=1.2.3.5:80 masq\n", "")
	if c == nil {
		return
	}
	if r := c.Virtuals[0].Reals; len(r) != 2 || r[0].Addr.Port() != 80 || r[1].Addr.Port() != 81 {
		t.Errorf("reals %+v", r)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "f.cf:4: real server 1.2.3.5:80 is already listed at line 2") {
		t.Errorf("notes %q", c.Notes)
	}
	// Notes of one line stay in the order the line made them.
	c = parseCase(t, "virtual=1.2.3.4:80\n\treal=1.2.3.5:80 masq\n\treal=1.2.3.6:80 masq\n\treal=1.2.3.5->1.2.3.6:80 masq\n", "")
	if c != nil && (len(c.Notes) != 2 || !strings.Contains(c.Notes[0], "1.2.3.5:80 is already listed") || !strings.Contains(c.Notes[1], "1.2.3.6:80 is already listed")) {
		t.Errorf("notes %q, want 1.2.3.5's then 1.2.3.6's", c.Notes)
	}
}

// Per-service checkcount and failurecount override the global ones, a
// failurecount of 1 included; without them the global ones apply.
func TestCountsOverrideGlobals(t *testing.T) {
	c := parseCase(t, "checkcount=2\nfailurecount=3\nvirtual=1.2.3.4:80\n\tfailurecount=1\nvirtual=1.2.3.4:81\n\tcheckcount=4\n", "")
	if c == nil {
		return
	}
	if v := c.Virtuals[0]; v.FailureCount != 1 || v.CheckCount != 2 {
		t.Errorf("first service: failurecount %d checkcount %d, want 1 and the global 2", v.FailureCount, v.CheckCount)
	}
	if v := c.Virtuals[1]; v.FailureCount != 3 || v.CheckCount != 4 {
		t.Errorf("second service: failurecount %d checkcount %d, want the global 3 and 4", v.FailureCount, v.CheckCount)
	}
}

// portsResolver knows one port for TCP only and one for UDP only.
type portsResolver struct{ NumericResolver }

func (portsResolver) LookupPort(proto, name string) (uint16, error) {
	switch {
	case name == "tcponly" && proto == "tcp":
		return 7001, nil
	case name == "udponly" && proto == "udp":
		return 7002, nil
	}
	return NumericResolver{}.LookupPort(proto, name)
}

// A global fallback's port must be a port of TCP or of UDP (ldirectord
// resolves it for both when it reads the line, the services' protocols
// being unknown yet), then of each service's protocol; one without a port
// takes the service's.
func TestGlobalFallbackPort(t *testing.T) {
	const tcp = "virtual=1.2.3.4:80\n\treal=1.2.3.5:80 masq\n"
	const udp = "virtual=1.2.3.4:53\n\treal=1.2.3.5:53 masq\n\tprotocol=udp\n"
	for _, c := range []struct{ text, err string }{
		{"fallback=1.2.3.9\n" + tcp, ""},
		{"fallback=1.2.3.9:8080\n" + tcp, ""},
		{"fallback=1.2.3.9:tcponly\n" + tcp, ""},
		{"fallback=1.2.3.9:udponly\n" + udp, ""},
		{"fallback=1.2.3.9:udponly\n" + tcp, "f.cf:1: invalid port for fallback server (udponly)"},
		{"fallback=1.2.3.9:nosuch\n" + tcp, "f.cf:1: invalid port for fallback server (nosuch)"},
	} {
		c2, err := ParseWith("f.cf", strings.NewReader(c.text), portsResolver{})
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%q: %v, want %q", c.text, err, c.err)
		}
		if err == nil && strings.HasPrefix(c.text, "fallback=1.2.3.9\n") && c2.Virtuals[0].Fallback.Addr.String() != "1.2.3.9:80" {
			t.Errorf("a fallback without a port: %v, want the service's port", c2.Virtuals[0].Fallback.Addr)
		}
	}
}

// SystemResolver reads ports as numbers up to 65535 or as service names
// of /etc/services, for TCP, UDP or either ("" as real= gives it).
func TestSystemResolverPorts(t *testing.T) {
	if _, err := os.Stat("/etc/services"); err != nil {
		t.Skip("no /etc/services")
	}
	r := SystemResolver{Timeout: 2 * time.Second}
	for _, c := range []struct {
		proto, name string
		port        uint16
		ok          bool
	}{
		{"tcp", "65535", 65535, true},
		{"tcp", "65536", 0, false},
		{"", "0", 0, true},
		{"tcp", "http", 80, true},
		{"", "http", 80, true},
		{"udp", "syslog", 514, true},
		{"tcp", "syslog", 514, true}, // the tcp alias of shell
		{"udp", "tftp", 69, true},
		{"tcp", "tftp", 0, false}, // UDP only
		{"", "tftp", 69, true},
		{"tcp", "amqp", 5672, true},
		{"udp", "amqp", 0, false}, // TCP only
		{"tcp", "nosuchservice", 0, false},
	} {
		p, err := r.LookupPort(c.proto, c.name)
		if (err == nil) != c.ok || c.ok && p != c.port {
			t.Errorf("LookupPort(%q, %q) = %d, %v; want %d ok=%v", c.proto, c.name, p, err, c.port, c.ok)
		}
	}
	if a, err := r.LookupHost("127.0.0.1"); err != nil || a != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("LookupHost(127.0.0.1) = %v, %v", a, err)
	}
}
