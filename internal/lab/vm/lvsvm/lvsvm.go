// Package lvsvm is the LVS guest of the VM tests and benchmarks:
// Debian's kernel with IPVS and the modules the LVS tests use, a static
// lubdub, and Debian's ipvsadm, ip and nft with their libraries
// (internal/lab/vm); a shell prelude that builds topologies inside the
// guest (segments are bridges in namespaces of their own, hosts are
// namespaces attached by veth pairs, addresses from 198.18.0.0/15); and
// the sections a script prints ("### NAME" ... "### rc=N"), parsed.
package lvsvm

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab/vm"
)

// Build makes the guest's image in dir (which the caller removes): a
// static lubdub built from the main package at mainPkg (a path, such as
// ../../cmd/lubdub), every IPVS scheduler's module but the ftp helper's
// and SIP's persistence engine, nf_conntrack, veth, bridge, ipip, softdog
// and nf_tables. Errors wrapping vm.ErrUnavailable mean no VM here (no
// QEMU, no kernel package).
func Build(ctx context.Context, dir, mainPkg string) (*vm.Image, error) {
	k, err := vm.FetchKernel(ctx, vm.CacheDir())
	if err != nil {
		return nil, err
	}
	bin, err := vm.BuildStatic(ctx, dir, "lubdub", mainPkg)
	if err != nil {
		return nil, err
	}
	spec := vm.Spec{
		Modules:  []string{"ip_vs", "nf_conntrack", "veth", "bridge", "ipip", "softdog", "nf_tables"},
		Programs: []string{"/usr/sbin/ipvsadm", "/usr/bin/ip", "/usr/sbin/nft"},
		Files:    []vm.File{{Guest: "/usr/sbin/lubdub", Host: bin, Mode: 0o755}},
	}
	for _, name := range k.Modules("ip_vs_*") {
		if name != "ip_vs_ftp" && name != "ip_vs_pe_sip" {
			spec.Modules = append(spec.Modules, name)
		}
	}
	return vm.New(ctx, dir, spec)
}

// Prelude defines the guest script's helpers; a script starts with it.
// run NAME CMD... prints a section.
const Prelude = `
set -u
VIP=198.18.0.10
# busybox sh prefers its own ip applet; iproute2's is needed for netns
ip() { /usr/bin/ip "$@"; }
run() { n=$1; shift; echo "### $n"; "$@" 2>&1; echo "### rc=$?"; }
# segment NAME: a bridge "sw" in namespace NAME
segment() { ip netns add "$1"; ip -n "$1" link set lo up; ip -n "$1" link add name sw type bridge; ip -n "$1" link set sw up; }
# host NAME
host() { ip netns add "$1"; ip -n "$1" link set lo up; }
# attach HOST IFACE SEGMENT ADDR
attach() {
	ip -n "$1" link add "$2" type veth peer name "$1-$2" netns "$3"
	ip -n "$3" link set "$1-$2" master sw up
	ip -n "$1" addr add "$4/24" brd + dev "$2"
	ip -n "$1" link set "$2" up
}
on() { n=$1; shift; ip netns exec "$n" "$@"; }
# serve HOST NAME: busybox httpd on port 80 answering NAME
# (its pid in /run/httpd.HOST)
serve() {
	mkdir -p "/www/$2"; echo "$2" > "/www/$2/index.html"
	# not through a function, so that $! is httpd's pid (ip execs it)
	/usr/bin/ip netns exec "$1" httpd -f -p 80 -h "/www/$2" & echo $! > "/run/httpd.$1"
	for i in $(seq 50); do on "$1" netstat -ltn | grep -q ':80 ' && return; sleep 0.1; done
	echo "serve: httpd on $1 did not listen" >&2
}
# until N CMD...: run CMD every 0.2 s until it succeeds, at most N times
until_ok() { n=$1; shift; for i in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
# get HOST [ADDR]: one HTTP request to ADDR ($VIP) port 80; prints the
# answer's body (busybox's static wget crashes in this initramfs, nc
# does not)
get() { printf 'GET / HTTP/1.0\r\n\r\n' | on "$1" nc -w 2 "${2:-$VIP}" 80 2>/dev/null | tail -n 1; }
# fetch HOST N: N requests for http://$VIP/, a new connection each; the
# answers on one line (FAIL for none)
fetch() {
	out=""
	for i in $(seq "$2"); do
		a=$(get "$1"); out="$out ${a:-FAIL}"
	done
	echo $out
}
`

// TwoDirectors is the seed's NAT setup with two lubdub directors: the
// client (198.18.0.100) on the public segment, dir1 (198.18.0.1,
// 198.18.1.1) and dir2 (.2) on both, the real servers rs1 and rs2
// (198.18.1.11, .12) routing through 198.18.1.254, an address of the
// group, so that their default route follows the director. The real
// servers run lubdub serve --echo on port 7, naming themselves. Each
// director's configuration is in /etc/lubdub/DIR: keepalive 500ms,
// deadtime 3 (the emulated machine is slow, its timers late when the host
// is busy), auto_failback off; the group (preferring dir1) holds an
// ldirectord.cf balancing port 7 round robin over both on IPVS,
// LVSSyncDaemonSwap::master::eth1 (the sync daemons on the real servers'
// segment), then the VIP and the gateway: addresses last, as Heartbeat's
// LVS examples have them, since IPVS hooks into the stack only once it
// has a service (ip_vs_register_hooks; Debian 12's 6.1 does so), and a
// synced connection's packet that reached the VIP before would be
// answered by the director's own stack, with a reset. daemon DIR starts lubdub on DIR (its pid in
// /run/lubdub.DIR, its log in /tmp/DIR.log); holds DIR says whether DIR
// has the VIP.
const TwoDirectors = `
GW=198.18.1.254
segment pub; segment priv
host client; host dir1; host dir2; host rs1; host rs2
attach client eth0 pub 198.18.0.100
attach dir1 eth0 pub 198.18.0.1
attach dir1 eth1 priv 198.18.1.1
attach dir2 eth0 pub 198.18.0.2
attach dir2 eth1 priv 198.18.1.2
attach rs1 eth0 priv 198.18.1.11
attach rs2 eth0 priv 198.18.1.12
for d in dir1 dir2; do on $d sysctl -qw net.ipv4.ip_forward=1; done
for r in rs1 rs2; do
	ip -n $r route add default via $GW
	/usr/bin/ip netns exec $r lubdub serve --echo --listen :7 $r >/tmp/$r.log 2>&1 &
done
for d in dir1 dir2; do
	mkdir -p /etc/lubdub/$d
	cat >/etc/lubdub/$d/ha.cf <<'CF'
keepalive 500ms
deadtime 3
warntime 1500ms
initdead 6
bcast eth0 eth1
auto_failback off
node dir1 dir2
CF
	printf 'auth 1\n1 sha256 lubdub-vm-sync\n' >/etc/lubdub/$d/authkeys
	chmod 600 /etc/lubdub/$d/authkeys
	echo "dir1 ldirectord::ldirectord.cf LVSSyncDaemonSwap::master::eth1 IPaddr2::$VIP/24/eth0 IPaddr2::$GW/24/eth1" >/etc/lubdub/$d/haresources
	printf 'lvs_datapath ipvs\nmonitor_interval 1s\n' >/etc/lubdub/$d/lubdub.cf
	cat >/etc/lubdub/$d/ldirectord.cf <<'CF'
checkinterval=1
checktimeout=1
quiescent=no
virtual=198.18.0.10:7
	real=198.18.1.11:7 masq
	real=198.18.1.12:7 masq
	scheduler=rr
	protocol=tcp
	checktype=connect
CF
done
daemon() {
	/usr/bin/ip netns exec $1 lubdub run -c /etc/lubdub/$1 --node $1 --state-dir /run/state-$1 --socket /run/$1.sock >/tmp/$1.log 2>&1 &
	echo $! >/run/lubdub.$1
}
holds() { ip -n $1 -4 addr show dev eth0 | grep -q "inet $VIP/"; }
`

// Section is what one section of the script printed.
type Section struct {
	Out  string // stdout and stderr
	Code int
}

// Sections are a script's sections by name.
type Sections map[string]Section

// ParseSections reads "### NAME" ... "### rc=N" blocks.
func ParseSections(out string) Sections {
	s := Sections{}
	name, body := "", []string{}
	for _, l := range strings.SplitAfter(out, "\n") {
		t := strings.TrimSuffix(l, "\n")
		switch {
		case name == "" && strings.HasPrefix(t, "### ") && !strings.HasPrefix(t, "### rc="):
			name, body = strings.TrimPrefix(t, "### "), nil
		case name != "" && strings.HasPrefix(t, "### rc="):
			code, _ := strconv.Atoi(strings.TrimPrefix(t, "### rc="))
			s[name] = Section{Out: strings.Join(body, ""), Code: code}
			name = ""
		case name != "":
			body = append(body, l)
		}
	}
	return s
}

// Boot runs script, after the prelude, in a fresh boot of im and returns
// its sections; with no image it skips the test, saying why. A script
// that exits non-zero fails the test; so does every later failure, with
// the guest's whole output logged.
func Boot(t testing.TB, im *vm.Image, skipWhy, script string, timeout time.Duration) Sections {
	t.Helper()
	if im == nil {
		t.Skip(skipWhy)
	}
	res, err := im.Run(context.Background(), Prelude+script, vm.RunOptions{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VM ran for %s", res.Elapsed.Round(100*time.Millisecond))
	if res.Exit != 0 {
		t.Fatalf("the script exited %d:\n%s", res.Exit, res.Output)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the guest's output:\n%s", res.Output)
		}
	})
	return ParseSections(res.Output)
}

// Get returns a section, failing the test if the script never ran it.
func (s Sections) Get(t testing.TB, name string) Section {
	t.Helper()
	sec, ok := s[name]
	if !ok {
		t.Fatalf("the script printed no section %q", name)
	}
	return sec
}

// OK returns a section's output, failing the test if it exited non-zero.
func (s Sections) OK(t testing.TB, name string) string {
	t.Helper()
	sec := s.Get(t, name)
	if sec.Code != 0 {
		t.Errorf("%s: exit %d:\n%s", name, sec.Code, sec.Out)
	}
	return sec.Out
}
