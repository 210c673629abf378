// Package ipvs tests lubdub's LVS director against a kernel with IPVS:
// Debian's own kernel booted under QEMU (internal/lab/vm), with the
// static lubdub, Debian's ipvsadm, ip and nft inside. Each test is one
// boot running a shell script that builds network namespaces and veth
// pairs inside the guest, sends real traffic with busybox's wget and
// httpd, and reports sections that the test then checks. The tests skip,
// saying why, where the VM cannot be had (no QEMU, no kernel package).
package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab/vm"
)

var (
	image   *vm.Image
	skipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipWhy = "the IPVS tests need root (the kernel package is fetched with apt)"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "lubdub-ipvs-vm")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "lubdub")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "../../cmd/lubdub")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("building a static lubdub: %v\n%s", err, out)
		return 1
	}
	spec := vm.Spec{
		Modules:  []string{"ip_vs", "nf_conntrack", "veth", "bridge", "ipip", "softdog", "nf_tables"},
		Programs: []string{"/usr/sbin/ipvsadm", "/usr/bin/ip", "/usr/sbin/nft"},
		Files:    []vm.File{{Guest: "/usr/sbin/lubdub", Host: bin, Mode: 0o755}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Every scheduler IPVS has: the kernel package's ip_vs_* modules that
	// are not the ftp helper or the SIP persistence engine.
	k, err := vm.FetchKernel(ctx, vm.CacheDir())
	if err == nil {
		for _, name := range k.Modules("ip_vs_*") {
			if name != "ip_vs_ftp" && name != "ip_vs_pe_sip" {
				spec.Modules = append(spec.Modules, name)
			}
		}
		image, err = vm.New(ctx, dir, spec)
	}
	switch {
	case errors.Is(err, vm.ErrUnavailable):
		skipWhy = err.Error()
	case err != nil:
		fmt.Println("building the VM image:", err)
		return 1
	}
	return m.Run()
}

// boot runs script (after the prelude) in a fresh VM and returns its
// sections.
func boot(t *testing.T, script string, timeout time.Duration) sections {
	t.Helper()
	if image == nil {
		t.Skip(skipWhy)
	}
	res, err := image.Run(context.Background(), prelude+script, vm.RunOptions{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VM ran for %s", res.Elapsed.Round(100*time.Millisecond))
	if res.Exit != 0 {
		t.Fatalf("the script exited %d:\n%s", res.Exit, res.Output)
	}
	secs := parseSections(res.Output)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the guest's output:\n%s", res.Output)
		}
	})
	return secs
}

// section is what one `run NAME cmd...` in the script printed.
type section struct {
	Out  string // stdout and stderr
	Code int
}

type sections map[string]section

// parseSections reads "### NAME" ... "### rc=N" blocks.
func parseSections(out string) sections {
	s := sections{}
	name, body := "", []string{}
	for _, l := range strings.SplitAfter(out, "\n") {
		t := strings.TrimSuffix(l, "\n")
		switch {
		case name == "" && strings.HasPrefix(t, "### ") && !strings.HasPrefix(t, "### rc="):
			name, body = strings.TrimPrefix(t, "### "), nil
		case name != "" && strings.HasPrefix(t, "### rc="):
			code, _ := strconv.Atoi(strings.TrimPrefix(t, "### rc="))
			s[name] = section{Out: strings.Join(body, ""), Code: code}
			name = ""
		case name != "":
			body = append(body, l)
		}
	}
	return s
}

// get returns a section, failing the test if the script never ran it.
func (s sections) get(t *testing.T, name string) section {
	t.Helper()
	sec, ok := s[name]
	if !ok {
		t.Fatalf("the script printed no section %q", name)
	}
	return sec
}

// ok returns a section's output, failing the test if it exited non-zero.
func (s sections) ok(t *testing.T, name string) string {
	t.Helper()
	sec := s.get(t, name)
	if sec.Code != 0 {
		t.Errorf("%s: exit %d:\n%s", name, sec.Code, sec.Out)
	}
	return sec.Out
}

// prelude builds topologies in the guest: segments are bridges in
// namespaces of their own, hosts are namespaces attached by veth pairs;
// addresses come from 198.18.0.0/15. run prints a section.
const prelude = `
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
