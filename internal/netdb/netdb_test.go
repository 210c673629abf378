package netdb

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const services = `# comment
tcpmux		1/tcp				# TCP port service multiplexer
http		80/tcp		www		# WorldWideWeb HTTP
https		443/tcp
https		443/udp
broken		x/tcp
kerberos	88/tcp		kerberos5 krb5 kerberos-sec
syslog		514/udp
shell		514/tcp		cmd
`

func testDB(t *testing.T) *DB {
	f := filepath.Join(t.TempDir(), "services")
	if err := os.WriteFile(f, []byte(services), 0o644); err != nil {
		t.Fatal(err)
	}
	return &DB{ServicesFile: f, Timeout: time.Second, Resolver: &net.Resolver{PreferGo: true}}
}

func TestServices(t *testing.T) {
	d := testDB(t)
	for _, tc := range []struct {
		name, proto string
		port        uint16
		ok          bool
	}{
		{"http", "tcp", 80, true}, {"www", "tcp", 80, true}, {"http", "udp", 0, false},
		{"krb5", "tcp", 88, true}, {"syslog", "udp", 514, true}, {"cmd", "tcp", 514, true}, {"broken", "tcp", 0, false},
	} {
		if p, ok := d.LookupPort(tc.name, tc.proto); p != tc.port || ok != tc.ok {
			t.Errorf("LookupPort(%s, %s) = %d %v, want %d %v", tc.name, tc.proto, p, ok, tc.port, tc.ok)
		}
	}
	for _, tc := range []struct {
		port  uint16
		proto string
		name  string
	}{{80, "tcp", "http"}, {514, "tcp", "shell"}, {514, "udp", "syslog"}, {8080, "tcp", ""}} {
		if n, _ := d.ServiceName(tc.port, tc.proto); n != tc.name {
			t.Errorf("ServiceName(%d/%s) = %q, want %q", tc.port, tc.proto, n, tc.name)
		}
	}
}

// Hosts: the machine's resolver reads /etc/hosts first; localhost is in
// every /etc/hosts.
func TestHosts(t *testing.T) {
	d := testDB(t)
	if a, ok := d.LookupHost("localhost"); !ok || a != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("LookupHost(localhost) = %v %v", a, ok)
	}
	if _, ok := d.LookupHost("no-such-host.invalid"); ok {
		t.Error("an unknown name resolved")
	}
	if n, ok := d.HostName(netip.MustParseAddr("127.0.0.1")); !ok || !strings.HasPrefix(n, "localhost") {
		t.Errorf("HostName(127.0.0.1) = %q %v", n, ok)
	}
}

func FuzzParseServices(f *testing.F) {
	f.Add(services)
	f.Fuzz(func(t *testing.T, s string) {
		for _, sv := range ParseServices(strings.NewReader(s)) {
			if sv.Name == "" || sv.Proto == "" || strings.ContainsAny(sv.Name, " \t#") {
				t.Fatalf("bad entry %+v", sv)
			}
		}
	})
}
