package ipvssync

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab/vm/lvsvm"
	"github.com/lubdub/lubdub/internal/probe"
)

// The connection survives the active director's crash: IPVS's sync
// daemons, swapped with the group by LVSSyncDaemonSwap, carry the
// client's session into the standby's table (ipvsadm -L -c lists it
// there before the crash); the standby takes the VIP and the gateway, and
// the session goes on after a stall, with the same real server and no
// line lost (lubdub probe --echo ends at the first lost, repeated or
// refused line, or a reset). Then the control: the crashed director
// returns as the standby, its backup daemon is stopped, and a second
// session dies at the second crash, reset: IPVS creates no connection
// for a packet in the middle of one, and the new director's own stack
// answers it.
func TestSyncedConnectionSurvivesCrash(t *testing.T) {
	s := lvsvm.Boot(t, image, skipWhy, lvsvm.TwoDirectors+`
daemon dir1; daemon dir2
d1up() { holds dir1 && on dir1 ipvsadm -L -n | grep -q 198.18.1.12:7; }
run dir1-active until_ok 150 d1up
d2backup() { on dir2 ipvsadm -L --daemon | grep -q "^backup sync daemon (mcast=eth1"; }
run dir2-backup until_ok 50 d2backup
run daemons-dir1 on dir1 lubdub lvs -L --daemon
run daemons-dir2 on dir2 lubdub lvs -L --daemon
/usr/bin/ip netns exec client lubdub probe --echo --interval 50ms --timeout 300ms --duration 60s $VIP:7 >/tmp/probe.log 2>&1 &
pp=$!
synced() { on dir2 ipvsadm -L -n -c | grep -q "ESTABLISHED 198.18.0.100:"; }
run synced until_ok 75 synced
run conns-dir1 on dir1 ipvsadm -L -n -c
run conns-dir2 on dir2 lubdub lvs -L -n -c
run conns-dir2-ipvsadm on dir2 ipvsadm -L -n -c
# The crash: dir1's lubdub killed, its links cut.
kill -9 $(cat /run/lubdub.dir1)
ip -n dir1 link set eth0 down; ip -n dir1 link set eth1 down
# What the probe printed up to the crash.
run crash cat /tmp/probe.log
seen=$(wc -l </tmp/probe.log)
run dir2-holds until_ok 75 holds dir2
resumed() { tail -n +$((seen + 1)) /tmp/probe.log | grep -q "(outage"; }
run resumed until_ok 75 resumed
sleep 2
run daemons-after on dir2 lubdub lvs -L --daemon
run service-after on dir2 ipvsadm -L -n
kill $pp; wait $pp; prc=$?
echo "### probe"; cat /tmp/probe.log; echo "### rc=$prc"

# dir1 returns: its new lubdub stops what the killed one left running (the
# VIP, the gateway, the master daemon) before it joins, and stays the
# standby with the backup daemon.
ip -n dir1 link set eth0 up; ip -n dir1 link set eth1 up
daemon dir1
d1standby() { on dir1 ipvsadm -L --daemon | grep -q "^backup" && ! on dir1 ipvsadm -L --daemon | grep -q "^master" && ! holds dir1; }
run dir1-standby until_ok 100 d1standby
# The control: with dir1's backup daemon stopped, a second session gets no
# entry there, and dies when dir2 crashes in turn.
on dir1 ipvsadm --stop-daemon backup
/usr/bin/ip netns exec client lubdub probe --echo --interval 50ms --timeout 300ms --duration 60s $VIP:7 >/tmp/probe2.log 2>&1 &
pp2=$!
flows() { grep -q " ok rs" /tmp/probe2.log; }
run second-flows until_ok 50 flows
sleep 3 # what the sync would take
run conns-dir1-unsynced on dir1 ipvsadm -L -n -c
run conns-dir2-second on dir2 ipvsadm -L -n -c
kill -9 $(cat /run/lubdub.dir2)
ip -n dir2 link set eth0 down; ip -n dir2 link set eth1 down
run dir1-holds until_ok 75 holds dir1
ended() { ! kill -0 $pp2 2>/dev/null; }
run second-ended until_ok 75 ended
wait $pp2; prc=$?
echo "### probe2"; cat /tmp/probe2.log; echo "### rc=$prc"
kill $(cat /run/lubdub.dir1); sleep 1
echo "### dir1.log"; cat /tmp/dir1.log; echo "### rc=0"
echo "### dir2.log"; cat /tmp/dir2.log; echo "### rc=0"
`, 4*time.Minute)
	s.OK(t, "dir1-active")
	s.OK(t, "dir2-backup")
	if d := s.OK(t, "daemons-dir1"); d != "master sync daemon (mcast=eth1, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" {
		t.Errorf("dir1, active, runs\n%s", d)
	}
	if d := s.OK(t, "daemons-dir2"); d != "backup sync daemon (mcast=eth1, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" {
		t.Errorf("dir2, standby, runs\n%s", d)
	}
	s.OK(t, "synced")
	out := s.OK(t, "probe")
	answers := probe.Answers(out)
	if len(answers) == 0 {
		t.Fatalf("the session had no answer:\n%s", out)
	}
	server := answers[0]
	for _, a := range answers {
		if a != server {
			t.Errorf("the session moved from %s to %s:\n%s", server, a, out)
		}
	}
	// The standby's entry names the client, the VIP and the session's
	// real server, as lubdub lvs and ipvsadm list it.
	rs := map[string]string{"rs1": "198.18.1.11", "rs2": "198.18.1.12"}[server]
	entry := regexp.MustCompile(`(?m)^TCP +\d\d:\d\d +ESTABLISHED (198\.18\.0\.100:\d+) +198\.18\.0\.10:7 +` + regexp.QuoteMeta(rs) + `:7$`)
	c2 := s.OK(t, "conns-dir2")
	if rs == "" || !entry.MatchString(c2) {
		t.Errorf("dir2's -L -n -c lists no synced entry of the session (served by %s):\n%s", server, c2)
	}
	expiry := regexp.MustCompile(`(?m)^(\S+ +)\d\d:\d\d`)
	if a, b := expiry.ReplaceAllString(c2, "$1xx:xx"), expiry.ReplaceAllString(s.OK(t, "conns-dir2-ipvsadm"), "$1xx:xx"); a != b {
		t.Errorf("dir2's -L -n -c: lubdub lvs printed\n%s\nipvsadm\n%s", c2, s.OK(t, "conns-dir2-ipvsadm"))
	}
	s.OK(t, "dir2-holds")
	s.OK(t, "resumed")
	if d := s.OK(t, "daemons-after"); d != "master sync daemon (mcast=eth1, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" {
		t.Errorf("dir2 after the takeover runs\n%s", d)
	}
	if l := s.OK(t, "service-after"); !strings.Contains(l, "TCP  198.18.0.10:7 rr") {
		t.Errorf("dir2 after the takeover:\n%s", l)
	}
	o := probe.Outages(out)
	if strings.Contains(out, "fail EOF") || strings.Contains(out, "fail connection") || len(o) == 0 {
		t.Fatalf("the session did not go on after the crash:\n%s", out)
	}
	// The stall across the crash is the first one the probe reported
	// after it; shorter ones before it are the emulated machine's
	// hiccups.
	takeover := stallAfter(out, s.OK(t, "crash"))
	t.Logf("the session stalled %.2fs across the crash (deadtime 3 s); %d stalls in all", takeover.Seconds(), len(o))
	if takeover == 0 || takeover > 10*time.Second {
		t.Errorf("takeover stall %s, want one within a few deadtimes:\n%s", takeover, out)
	}

	s.OK(t, "dir1-standby")
	s.OK(t, "second-flows")
	// The second session is the one dir2 lists established besides the
	// first (whose entry dir1 still has from before its crash).
	first := entry.FindStringSubmatch(c2)
	var second []string
	for _, m := range established.FindAllStringSubmatch(s.OK(t, "conns-dir2-second"), -1) {
		if first == nil || m[1] != first[1] {
			second = append(second, m[1])
		}
	}
	if len(second) != 1 {
		t.Errorf("dir2 lists sessions %v besides the first, want one:\n%s", second, s.OK(t, "conns-dir2-second"))
	} else if c := s.OK(t, "conns-dir1-unsynced"); strings.Contains(c, second[0]+" ") {
		t.Errorf("dir1 got the second session's entry without its backup daemon:\n%s", c)
	}
	s.OK(t, "dir1-holds")
	s.OK(t, "second-ended")
	p2 := s.Get(t, "probe2")
	if p2.Code != 1 || !strings.Contains(p2.Out, "fail connection reset") {
		t.Errorf("without sync, the session across the crash: exit %d, want 1 and a reset:\n%s", p2.Code, p2.Out)
	}
}

// established matches an established entry of ipvsadm -L -n -c, the
// client's address and port captured.
var established = regexp.MustCompile(`(?m)^TCP +\d\d:\d\d +ESTABLISHED (198\.18\.0\.100:\d+) +198\.18\.0\.10:7 `)

// stallAfter is the first stall the probe's output reports after what it
// had printed before the crash.
func stallAfter(out, before string) time.Duration {
	if !strings.HasPrefix(out, before) {
		return 0
	}
	o := probe.Outages(out[len(before):])
	if len(o) == 0 {
		return 0
	}
	return o[0]
}
