// Package watchdog tests lubdub's watchdog for real: this machine's kernel
// has no softdog, so each test boots Debian's own kernel under QEMU
// (internal/lab/vm) with softdog loaded, runs the static lubdub inside it
// against /dev/watchdog, and watches the guest reset. QEMU runs with
// -no-reboot, so a reset ends the run; the console (which outlives the
// guest) shows softdog's "Initiating system reboot" and the script's last
// lines. Each test is one boot; they run in parallel. They skip, saying
// why, where the VM cannot be had.
package watchdog

import (
	"context"
	"os"
	"regexp"
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
	os.Exit(vm.TestMain(m, "watchdog", func(ctx context.Context, dir string) (*vm.Image, error) {
		bin, err := vm.BuildStatic(ctx, dir, "lubdub", "../../cmd/lubdub")
		if err != nil {
			return nil, err
		}
		return vm.New(ctx, dir, vm.Spec{
			Modules:  []string{"softdog", "veth", "bridge"},
			Programs: []string{"/usr/bin/ip"},
			Files:    []vm.File{{Guest: "/usr/sbin/lubdub", Host: bin, Mode: 0o755}},
		})
	}, &image, &skipWhy))
}

// Timings of the clusters in the guest: Heartbeat's rule sets the
// watchdog's timeout to deadtime + 10 ms rounded up, 2 s. Generous for
// TCG on a shared machine: a guest stalled for 2 s would reset.
const (
	keepalive      = "250ms"
	deadtime       = 1500 * time.Millisecond
	watchdogSecs   = 2
	deadtimeHacf   = "1500ms"
	resetMessage   = "softdog: Initiating system reboot"
	resetSlackSecs = 3.0 // TCG on a loaded machine: timers fire late
)

// boot runs script (after the prelude) in a fresh guest that is expected
// to reset before the script ends, and returns what it printed.
func boot(t *testing.T, script string) *vm.Result {
	t.Helper()
	if image == nil {
		t.Skip(skipWhy)
	}
	t.Parallel()
	res, err := image.Run(context.Background(), prelude+script, vm.RunOptions{Timeout: 3 * time.Minute, ExpectReset: true, Cmdline: "loglevel=3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VM ran for %s", res.Elapsed.Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the guest's console:\n%s", res.Console)
		}
	})
	return res
}

// marks are the script's "@@ NAME VALUE" lines, the last of each name.
func marks(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "@@" {
			m[f[1]] = strings.Join(f[2:], " ")
		}
	}
	return m
}

// seconds reads a mark holding /proc/uptime's seconds.
func seconds(t *testing.T, m map[string]string, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(m[name], 64)
	if err != nil {
		t.Fatalf("mark %s = %q: %v", name, m[name], err)
	}
	return v
}

// resetAt finds softdog's reset on the console: its kernel time stamp,
// seconds since boot as /proc/uptime counts them.
var resetAt = regexp.MustCompile(`\[\s*([0-9]+\.[0-9]+)\] ` + resetMessage)

// expectReset checks that the watchdog reset the guest, within `within`
// seconds of the script's mark `from`.
func expectReset(t *testing.T, res *vm.Result, from string, within float64) {
	t.Helper()
	m := marks(res.Output)
	if !res.Reset {
		t.Fatalf("the guest did not reset: the script ran to its end (exit %d):\n%s", res.Exit, res.Output)
	}
	at := resetAt.FindStringSubmatch(res.Console)
	if at == nil {
		t.Fatalf("the guest reset, but not by softdog (no %q on the console)", resetMessage)
	}
	if _, ok := m["notreset"]; ok {
		t.Fatalf("the guest lived on for the whole bounded wait before it reset")
	}
	reset, _ := strconv.ParseFloat(at[1], 64)
	took := reset - seconds(t, m, from)
	t.Logf("reset %.2f s after %s", took, from)
	if took > within || took < 0 {
		t.Errorf("the guest reset %.2f s after %s, want within %.1f s", took, from, within)
	}
}

// A running daemon keeps the guest alive well past the device's timeout,
// which it set from deadtime (Heartbeat's rule, read back in sysfs); a
// clean SIGTERM disarms the device (magic close) and the guest lives on;
// a SIGSTOPped daemon feeds it no more and the guest resets within the
// timeout.
func TestWatchdogResetsStoppedDaemon(t *testing.T) {
	res := boot(t, `
ip link add eth0 type veth peer name eth0p
ip addr add 198.18.0.1/24 brd + dev eth0
ip link set eth0 up; ip link set eth0p up
cluster /etc/ha.d vm "" "watchdog /dev/watchdog\n"
start_lubdub /etc/ha.d vm
wd_state active || fail "the watchdog is not active with lubdub running"
echo "@@ timeout $(cat /sys/class/watchdog/watchdog0/timeout)"
echo "@@ armed $(up)"
sleep 3
echo "@@ alive_fed $(up)"
kill -TERM "$pid"
for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "lubdub still runs 5 s after SIGTERM"
echo "@@ state_after_sigterm $(cat /sys/class/watchdog/watchdog0/state)"
sleep 3
echo "@@ alive_after_sigterm $(up)"
start_lubdub /etc/ha.d vm
wd_state active || fail "the watchdog is not active with lubdub running again"
sleep 1
echo "@@ sigstop $(up)"
kill -STOP "$pid"
await_reset 15
`)
	m := marks(res.Output)
	if m["timeout"] != strconv.Itoa(watchdogSecs) {
		t.Errorf("/sys/class/watchdog/watchdog0/timeout = %q, want %d (deadtime %s + 10 ms, rounded up)", m["timeout"], watchdogSecs, deadtime)
	}
	if _, ok := m["alive_fed"]; !ok {
		t.Fatalf("the guest reset while lubdub ran and fed the watchdog:\n%s", res.Output)
	}
	if m["state_after_sigterm"] != "inactive" {
		t.Errorf("watchdog state after a clean SIGTERM = %q, want inactive (magic close)", m["state_after_sigterm"])
	}
	if _, ok := m["alive_after_sigterm"]; !ok {
		t.Fatalf("the guest reset after a clean SIGTERM:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "disarmed (magic close)") {
		t.Errorf("lubdub's log does not say it disarmed the watchdog")
	}
	expectReset(t, res, "sigstop", watchdogSecs+resetSlackSecs)
}

// Watchdog self-fencing: in a three-node cluster in the guest, node n1
// holds a group whose stop fails. Cut off from the other two, it loses
// quorum, cannot stop the group (it is blocked), stops feeding the
// watchdog and is reset about deadtime + the watchdog's timeout after the
// cut. Before the cut, holding the group with quorum, it fed it.
func TestWatchdogStarvesWithoutQuorum(t *testing.T) {
	res := boot(t, `
segment sw
for i in 1 2 3; do host n$i; attach n$i eth0 sw 198.18.0.$i; done
cluster /etc/ha-n1 "n1 n2 n3" "n1 failstop" "watchdog /dev/watchdog\n"
cluster /etc/ha-n2 "n1 n2 n3" "n1 failstop"
cluster /etc/ha-n3 "n1 n2 n3" "n1 failstop"
echo "stop_retries 0" >> /etc/ha-n1/lubdub.cf
on n2 lubdub run -c /etc/ha-n2 --node n2 --state-dir /var/lib/lubdub-n2 --socket /run/lubdub-n2.sock 2>/tmp/n2.log &
on n3 lubdub run -c /etc/ha-n3 --node n3 --state-dir /var/lib/lubdub-n3 --socket /run/lubdub-n3.sock 2>/tmp/n3.log &
NS=n1 start_lubdub /etc/ha-n1 n1
for i in $(seq 150); do [ -f /etc/ha-n1/running ] && break; sleep 0.1; done
[ -f /etc/ha-n1/running ] || { tail -n 20 /tmp/n2.log; fail "n1 did not start its group in 15 s"; }
echo "@@ holding $(up)"
sleep 3
echo "@@ alive_holding $(up)"
ip -n n1 link set eth0 down
echo "@@ cut $(up)"
await_reset 20
`)
	m := marks(res.Output)
	if _, ok := m["alive_holding"]; !ok {
		t.Fatalf("the guest reset while n1 held its group with quorum:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "no longer fed: this node lost quorum and still holds groups") {
		t.Errorf("n1's log does not say why it stopped feeding the watchdog")
	}
	expectReset(t, res, "cut", deadtime.Seconds()+watchdogSecs+resetSlackSecs)
}

// prelude: helpers for the guest's scripts. cluster DIR NODES GROUP
// [HACF] writes a configuration directory (HACF: more ha.cf lines) with a
// resource.d script failstop whose stop always fails; start_lubdub DIR NODE starts lubdub (in
// namespace $NS if set), its log on the console, its pid in $pid, and
// waits until it has armed the watchdog; await_reset N waits N seconds (the
// bound on a reset that does not come), then prints "@@ notreset".
const prelude = `
set -u
ip() { /usr/bin/ip "$@"; }
up() { cut -d" " -f1 /proc/uptime; }
fail() { echo "FAIL: $*"; exit 1; }
on() { n=$1; shift; ip netns exec "$n" "$@"; }
segment() { ip netns add "$1"; ip -n "$1" link set lo up; ip -n "$1" link add name sw type bridge; ip -n "$1" link set sw up; }
host() { ip netns add "$1"; ip -n "$1" link set lo up; }
attach() {
	ip -n "$1" link add "$2" type veth peer name "$1-$2" netns "$3"
	ip -n "$3" link set "$1-$2" master sw up
	ip -n "$1" addr add "$4/24" brd + dev "$2"
	ip -n "$1" link set "$2" up
}
cluster() {
	mkdir -p "$1/resource.d"
	printf 'keepalive ` + keepalive + `\ndeadtime ` + deadtimeHacf + `\nwarntime 1\ninitdead 3\nbcast eth0\nnode %s\n%b' "$2" "${4:-}" > "$1/ha.cf"
	printf 'auth 1\n1 sha256 watchdog-vm-test\n' > "$1/authkeys"; chmod 600 "$1/authkeys"
	echo "$3" > "$1/haresources"
	printf 'monitor_interval 0\nstop_timeout 5s\n' > "$1/lubdub.cf"
	cat > "$1/resource.d/failstop" <<'EOF'
#!/bin/sh
f="$HA_DIR/running"
case "$1" in
start) touch "$f" ;;
stop) echo "failstop: this stop fails"; exit 1 ;;
status) if [ -f "$f" ]; then echo running; else echo stopped; fi ;;
esac
exit 0
EOF
	chmod 755 "$1/resource.d/failstop"
}
wd_state() { for i in $(seq 100); do [ "$(cat /sys/class/watchdog/watchdog0/state 2>/dev/null)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
start_lubdub() {
	if [ -n "${NS:-}" ]; then
		/usr/bin/ip netns exec "$NS" lubdub run -c "$1" --node "$2" --state-dir "/var/lib/lubdub-$2" --socket "/run/lubdub-$2.sock" &
	else
		lubdub run -c "$1" --node "$2" --state-dir "/var/lib/lubdub-$2" --socket "/run/lubdub-$2.sock" &
	fi
	pid=$!
	wd_state active || fail "lubdub did not arm the watchdog in 10 s"
}
await_reset() { sleep "$1"; echo "@@ notreset"; }
`
