// Package netdb turns host and service names into addresses and ports and
// back, as the C library's gethostbyname, getservbyname and their reverses
// do for ipvsadm and ldirectord: services from /etc/services, hosts from
// /etc/hosts and DNS through Go's resolver, each look-up bounded in time.
package netdb

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Service is one /etc/services entry.
type Service struct {
	Name    string
	Port    uint16
	Proto   string // "tcp", "udp", ...
	Aliases []string
}

// ParseServices reads /etc/services' format: "name port/proto [aliases...]",
// '#' starting a comment. Malformed lines are skipped, as the C library
// skips them.
func ParseServices(r io.Reader) []Service {
	var out []Service
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ps, proto, ok := strings.Cut(f[1], "/")
		if !ok || proto == "" {
			continue
		}
		p, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			continue
		}
		out = append(out, Service{Name: f[0], Port: uint16(p), Proto: strings.ToLower(proto), Aliases: f[2:]})
	}
	return out
}

// DB answers look-ups. Its zero value is not usable; use System.
type DB struct {
	ServicesFile string        // /etc/services
	Timeout      time.Duration // for each host look-up
	Resolver     *net.Resolver

	once     sync.Once
	services []Service
}

// System is the machine's own: /etc/services, /etc/hosts and DNS as
// /etc/nsswitch.conf says, at most 2 s a host look-up.
func System() *DB {
	return &DB{ServicesFile: "/etc/services", Timeout: 2 * time.Second, Resolver: net.DefaultResolver}
}

func (d *DB) load() {
	d.once.Do(func() {
		f, err := os.Open(d.ServicesFile)
		if err != nil {
			return
		}
		defer f.Close()
		d.services = ParseServices(f)
	})
}

// LookupPort returns the port of a service name (or alias) for proto
// ("tcp" or "udp"), as getservbyname does.
func (d *DB) LookupPort(name, proto string) (uint16, bool) {
	d.load()
	for _, s := range d.services {
		if s.Proto == proto && (s.Name == name || contains(s.Aliases, name)) {
			return s.Port, true
		}
	}
	return 0, false
}

// ServiceName returns the first name of a port for proto, as
// getservbyport does.
func (d *DB) ServiceName(port uint16, proto string) (string, bool) {
	d.load()
	for _, s := range d.services {
		if s.Proto == proto && s.Port == port {
			return s.Name, true
		}
	}
	return "", false
}

// LookupHost returns the first IPv4 address of a host name, as
// gethostbyname's h_addr_list[0].
func (d *DB) LookupHost(name string) (netip.Addr, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	addrs, err := d.Resolver.LookupNetIP(ctx, "ip4", name)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, false
	}
	return addrs[0].Unmap(), true
}

// HostName returns the name of an address, as gethostbyaddr does.
func (d *DB) HostName(a netip.Addr) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	names, err := d.Resolver.LookupAddr(ctx, a.String())
	if err != nil || len(names) == 0 {
		return "", false
	}
	return strings.TrimSuffix(names[0], "."), true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
