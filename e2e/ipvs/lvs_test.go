package ipvs

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab/vm/lvsvm"
)

// natLab is the seed's LVS-NAT setup: a client on the public segment, a
// director holding the VIP on both segments, two real servers on the
// private segment routing through the director; each real server's web
// server answers with its name.
const natLab = `
segment pub; segment priv
host client; host client2; host dir; host rs1; host rs2
attach client eth0 pub 198.18.0.100
attach client2 eth0 pub 198.18.0.101
attach dir eth0 pub $VIP
attach dir eth1 priv 198.18.1.254
on dir sysctl -qw net.ipv4.ip_forward=1
attach rs1 eth0 priv 198.18.1.11
attach rs2 eth0 priv 198.18.1.12
for r in rs1 rs2; do ip -n $r route add default via 198.18.1.254; serve $r $r; done
`

// sameAs checks that lubdub lvs printed what ipvsadm printed for the same
// kernel table (sections NAME and NAME-ipvsadm).
func sameAs(t *testing.T, s lvsvm.Sections, name string) string {
	t.Helper()
	got, want := s.OK(t, name), s.OK(t, name+"-ipvsadm")
	if got != want {
		t.Errorf("%s: lubdub lvs printed\n%s\nipvsadm printed\n%s", name, got, want)
	}
	return got
}

func alternating(answers string, n int, names ...string) bool {
	f := strings.Fields(answers)
	if len(f) != n {
		return false
	}
	for i, a := range f {
		if a != f[i%len(names)] || (i > 0 && a == f[i-1]) {
			return false
		}
		ok := false
		for _, n := range names {
			ok = ok || a == n
		}
		if !ok {
			return false
		}
	}
	return true
}

func count(answers, name string) int {
	return len(regexp.MustCompile(`\b`+name+`\b`).FindAllString(answers, -1))
}

// The seed's three ipvsadm lines typed into lubdub lvs on Debian's kernel
// (IPVS), then everything a user does with ipvsadm on that table; each
// listing is compared with what Debian's ipvsadm prints for the same
// kernel table.
func TestSeedNAT(t *testing.T) {
	s := boot(t, natLab+`
run add-service on dir lubdub lvs -A -t $VIP:80 -s rr
run add-rs1 on dir lubdub lvs -a -t $VIP:80 -r 198.18.1.11:80 -m
run add-rs2 on dir lubdub lvs -a -t $VIP:80 -r 198.18.1.12:80 -m
run rr fetch client 6
run list on dir lubdub lvs -L -n
run list-ipvsadm on dir ipvsadm -L -n
sleep 3 # IPVS updates the counters it reports every 2 s
run stats on dir lubdub lvs -L -n --stats
run stats-ipvsadm on dir ipvsadm -L -n --stats
run conns on dir lubdub lvs -L -n -c
run conns-ipvsadm on dir ipvsadm -L -n -c
# --rate shows IPVS's own estimates, which move every 2 s: take lubdub's
# and ipvsadm's listings back to back until a pair falls between two
# moves (at most 5 tries).
for i in 1 2 3 4 5; do
	r1=$(on dir lubdub lvs -L -n --rate 2>&1); r2=$(on dir ipvsadm -L -n --rate 2>&1)
	[ "$r1" = "$r2" ] && break
done
run rate echo "$r1"
run rate-ipvsadm echo "$r2"
# IPVS folds new counts into what it reports every 2 s; wait for that
# before zeroing, or they come back after.
sleep 3
run zero-one on dir lubdub lvs -Z -t $VIP:80
run zeroed-one on dir ipvsadm -L -n --stats
fetch client 2 >/dev/null
sleep 3
run zero on dir lubdub lvs -Z
run zeroed on dir ipvsadm -L -n --stats
run zero-missing on dir lubdub lvs -Z -t $VIP:81

on dir lubdub lvs -S -n > /tmp/saved
run save on dir lubdub lvs -S -n
run save-ipvsadm on dir ipvsadm -S -n
run clear on dir lubdub lvs -C
run cleared on dir ipvsadm -S -n
run restore on dir sh -c 'lubdub lvs -R < /tmp/saved'
run restored on dir ipvsadm -S -n

run persist on dir lubdub lvs -E -t $VIP:80 -s rr -p 60 -M 255.255.255.0
run persist-list on dir lubdub lvs -L -n
run persist-list-ipvsadm on dir ipvsadm -L -n
run persist-fetch fetch client 4
run persist-other-client get client2
run unpersist on dir lubdub lvs -E -t $VIP:80 -s rr

run weight0 on dir lubdub lvs -e -t $VIP:80 -r 198.18.1.12:80 -m -w 0
run weight0-fetch fetch client 4
run weight0-list on dir lubdub lvs -L -n
run weight0-list-ipvsadm on dir ipvsadm -L -n
run weight1 on dir lubdub lvs -e -t $VIP:80 -r 198.18.1.12:80 -m -w 1

# The seed's layout: the director is a real server too.
serve dir dir
run local on dir lubdub lvs -a -t $VIP:80 -r 198.18.1.254:80 -m
run local-fetch fetch client 6
run local-list on dir lubdub lvs -L -n
run local-list-ipvsadm on dir ipvsadm -L -n
run local-del on dir lubdub lvs -d -t $VIP:80 -r 198.18.1.254:80

run default-sched on dir lubdub lvs -A -t $VIP:81
run default-sched-save on dir lubdub lvs -S -n
run default-sched-save-ipvsadm on dir ipvsadm -S -n
run delete on dir lubdub lvs -D -t $VIP:81
`, 4*time.Minute)
	for _, n := range []string{"add-service", "add-rs1", "add-rs2"} {
		s.OK(t, n)
	}
	if got := s.OK(t, "rr"); !alternating(got, 6, "rs1", "rs2") {
		t.Errorf("round robin: answers %q, want rs1 and rs2 alternating", got)
	}
	list := sameAs(t, s, "list")
	if want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  198.18.0.10:80 rr\n" +
		"  -> 198.18.1.11:80               Masq    1      0          3         \n" +
		"  -> 198.18.1.12:80               Masq    1      0          3         \n"; list != want {
		t.Errorf("-L -n:\n%s\nwant\n%s", list, want)
	}
	stats := sameAs(t, s, "stats")
	if f := strings.Fields(strings.Split(stats, "\n")[3]); len(f) < 4 || f[2] != "6" || f[3] == "0" {
		t.Errorf("--stats does not count 6 connections:\n%s", stats)
	}
	expiry := regexp.MustCompile(`(?m)^(\S+ )\d\d:\d\d`)
	conns := s.OK(t, "conns")
	if a, b := expiry.ReplaceAllString(conns, "$1xx:xx"), expiry.ReplaceAllString(s.OK(t, "conns-ipvsadm"), "$1xx:xx"); a != b {
		t.Errorf("-L -n -c: lubdub lvs printed\n%s\nipvsadm\n%s", conns, s.OK(t, "conns-ipvsadm"))
	}
	if strings.Count(conns, "TIME_WAIT") != 6 || !strings.Contains(conns, "198.18.0.100:") {
		t.Errorf("-L -n -c lists not the client's 6 connections:\n%s", conns)
	}
	want := sameAs(t, s, "rate")
	if !strings.Contains(want, "CPS    InPPS   OutPPS    InBPS   OutBPS") || !strings.Contains(want, "TCP  198.18.0.10:80") {
		t.Errorf("--rate:\n%s", want)
	}
	s.OK(t, "zero-one")
	if f := strings.Fields(strings.Split(s.OK(t, "zeroed-one"), "\n")[3]); len(f) < 4 || f[2] != "0" {
		t.Errorf("-Z -t left the service's counters: %v", f)
	}
	s.OK(t, "zero")
	for _, l := range strings.Split(s.OK(t, "zeroed"), "\n")[3:] {
		if f := strings.Fields(l); len(f) >= 3 && (f[len(f)-5] != "0") {
			t.Errorf("-Z left counters:\n%s", s.OK(t, "zeroed"))
			break
		}
	}
	if z := s.Get(t, "zero-missing"); z.Code != 255 || !strings.Contains(z.Out, "No such service") {
		t.Errorf("-Z of a missing service: exit %d, %q; ipvsadm says No such service and exits 255", z.Code, z.Out)
	}

	save := sameAs(t, s, "save")
	if save != "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1\n-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1\n" {
		t.Errorf("-S -n:\n%s", save)
	}
	s.OK(t, "clear")
	if c := s.OK(t, "cleared"); c != "" {
		t.Errorf("after -C the kernel still has\n%s", c)
	}
	s.OK(t, "restore")
	if r := s.OK(t, "restored"); r != save {
		t.Errorf("-R of -S's output gave\n%s\nwant\n%s", r, save)
	}

	s.OK(t, "persist")
	if l := sameAs(t, s, "persist-list"); !strings.Contains(l, "TCP  198.18.0.10:80 rr persistent 60 mask 255.255.255.0\n") {
		t.Errorf("persistent service listed as\n%s", l)
	}
	p := strings.Fields(s.OK(t, "persist-fetch"))
	if len(p) != 4 || p[0] != p[1] || p[1] != p[2] || p[2] != p[3] || p[0] == "FAIL" {
		t.Errorf("persistent service: answers %v, want one server throughout", p)
	} else if o := strings.TrimSpace(s.OK(t, "persist-other-client")); o != p[0] {
		t.Errorf("-M 255.255.255.0: a client in the same /24 went to %q, the first to %q", o, p[0])
	}
	s.OK(t, "unpersist")

	s.OK(t, "weight0")
	if got := s.OK(t, "weight0-fetch"); got != "rs1 rs1 rs1 rs1\n" {
		t.Errorf("with rs2 at weight 0: answers %q, want only rs1", got)
	}
	sameAs(t, s, "weight0-list")
	s.OK(t, "weight1")

	s.OK(t, "local")
	if got := s.OK(t, "local-fetch"); count(got, "dir") != 2 || count(got, "rs1") != 2 || count(got, "rs2") != 2 {
		t.Errorf("with the director as a third real server: answers %q, want each twice", got)
	}
	// Debian's kernel reports the forwarding method it was given (Masq)
	// for a real server on the director; old kernels said Local.
	if l := sameAs(t, s, "local-list"); !strings.Contains(l, "  -> 198.18.1.254:80              Masq    1      ") {
		t.Errorf("the director's own address is not listed:\n%s", l)
	}
	s.OK(t, "local-del")

	s.OK(t, "default-sched")
	if l := sameAs(t, s, "default-sched-save"); !strings.Contains(l, "-A -t 198.18.0.10:81 -s wlc\n") {
		t.Errorf("-A without -s:\n%s", l)
	}
	s.OK(t, "delete")
}

// Every scheduler IPVS has, on the seed's setup with rs1 at weight 3 and
// rs2 at 1, each judged by who answers eight new connections from one
// client; then a firewall-mark service (-f) fed by an nftables rule on
// the director, as the LVS HOWTO feeds it with iptables.
func TestSchedulersAndMarks(t *testing.T) {
	scheds := []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}
	script := natLab + `
on dir lubdub lvs -A -t $VIP:80 -s rr
on dir lubdub lvs -a -t $VIP:80 -r 198.18.1.11:80 -m -w 3
on dir lubdub lvs -a -t $VIP:80 -r 198.18.1.12:80 -m -w 1
`
	for _, sc := range scheds {
		script += "run " + sc + " on dir lubdub lvs -E -t $VIP:80 -s " + sc + "\n" +
			"run " + sc + "-fetch fetch client 8\n" +
			"run " + sc + "-list on dir lubdub lvs -L -n -t $VIP:80\n" +
			"run " + sc + "-list-ipvsadm on dir ipvsadm -L -n -t $VIP:80\n"
	}
	script += `
run fwm-del on dir lubdub lvs -D -t $VIP:80
cat > /tmp/mark.nft <<'NFT'
table ip lvsmark {
	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		ip daddr 198.18.0.10 tcp dport 80 meta mark set 7
	}
}
NFT
run fwm-nft on dir nft -f /tmp/mark.nft
run fwm-add on dir lubdub lvs -A -f 7 -s rr
run fwm-rs1 on dir lubdub lvs -a -f 7 -r 198.18.1.11:80 -m
run fwm-rs2 on dir lubdub lvs -a -f 7 -r 198.18.1.12:80 -m
run fwm-fetch fetch client 4
run fwm-list on dir lubdub lvs -L -n
run fwm-list-ipvsadm on dir ipvsadm -L -n
run fwm-save on dir lubdub lvs -S -n
run fwm-save-ipvsadm on dir ipvsadm -S -n
`
	s := boot(t, script, 5*time.Minute)
	for _, sc := range scheds {
		s.OK(t, sc)
		got := s.OK(t, sc+"-fetch")
		rs1, rs2 := count(got, "rs1"), count(got, "rs2")
		if rs1+rs2 != 8 {
			t.Errorf("-s %s: answers %q, want 8 answers from rs1 and rs2", sc, got)
			continue
		}
		var ok bool
		switch sc {
		case "rr":
			ok = alternating(got, 8, "rs1", "rs2")
		case "wrr":
			ok = rs1 == 6 && rs2 == 2
		case "wlc":
			ok = rs1 > rs2
		case "lc":
			ok = rs1 > 0 && rs2 > 0
		case "sed", "fo", "ovf":
			// No connection is active between two requests: the
			// heaviest server takes them all.
			ok = rs1 == 8
		default: // lblc, lblcr, dh, sh, mh, nq: one client, one server
			ok = rs1 == 8 || rs2 == 8
		}
		if !ok {
			t.Errorf("-s %s with weights 3 (rs1) and 1 (rs2): answers %q", sc, got)
		}
		if l := sameAs(t, s, sc+"-list"); !strings.Contains(l, "TCP  198.18.0.10:80 "+sc+"\n") {
			t.Errorf("-s %s listed as\n%s", sc, l)
		}
	}
	for _, n := range []string{"fwm-del", "fwm-nft", "fwm-add", "fwm-rs1", "fwm-rs2"} {
		s.OK(t, n)
	}
	if got := s.OK(t, "fwm-fetch"); !alternating(got, 4, "rs1", "rs2") {
		t.Errorf("firewall-mark service: answers %q, want rs1 and rs2 alternating", got)
	}
	if l := sameAs(t, s, "fwm-list"); !strings.Contains(l, "FWM  7 rr\n") {
		t.Errorf("-f 7 listed as\n%s", l)
	}
	if l := sameAs(t, s, "fwm-save"); l != "-A -f 7 -s rr\n-a -f 7 -r 198.18.1.11:80 -m -w 1\n-a -f 7 -r 198.18.1.12:80 -m -w 1\n" {
		t.Errorf("-f 7 saved as\n%s", l)
	}
}

// oneSegment is the layout of direct routing and tunnelling: client,
// director and real servers on one segment; the director holds the VIP,
// each real server answers for it without announcing it (arp_ignore,
// arp_announce), and answers the client directly.
const oneSegment = `
segment pub
host client; host dir; host rs1; host rs2
attach client eth0 pub 198.18.0.100
attach dir eth0 pub 198.18.0.1
ip -n dir addr add $VIP/24 brd + dev eth0
for r in rs1 rs2; do
	on $r sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
	serve $r $r
done
attach rs1 eth0 pub 198.18.0.11
attach rs2 eth0 pub 198.18.0.12
`

// Direct routing (-g, ipvsadm's default): the real servers hold the VIP
// on lo; the director only forwards the client's packets, the answers go
// straight back.
func TestDirectRouting(t *testing.T) {
	s := boot(t, oneSegment+`
for r in rs1 rs2; do ip -n $r addr add $VIP/32 dev lo; done
run add on dir lubdub lvs -A -t $VIP:80 -s rr
run add-rs1 on dir lubdub lvs -a -t $VIP:80 -r 198.18.0.11
run add-rs2 on dir lubdub lvs -a -t $VIP:80 -r 198.18.0.12:80 -g
run fetch fetch client 6
run list on dir lubdub lvs -L -n
run list-ipvsadm on dir ipvsadm -L -n
sleep 3 # IPVS updates the counters it reports every 2 s
run stats on dir lubdub lvs -L -n --stats
run stats-ipvsadm on dir ipvsadm -L -n --stats
`, 2*time.Minute)
	for _, n := range []string{"add", "add-rs1", "add-rs2"} {
		s.OK(t, n)
	}
	if got := s.OK(t, "fetch"); !alternating(got, 6, "rs1", "rs2") {
		t.Errorf("direct routing: answers %q, want rs1 and rs2 alternating", got)
	}
	if l := sameAs(t, s, "list"); !strings.Contains(l, "  -> 198.18.0.11:80               Route   1") ||
		!strings.Contains(l, "  -> 198.18.0.12:80               Route   1") {
		t.Errorf("-g real servers listed as\n%s", l)
	}
	// The answers bypass the director: it counts packets in, none out.
	if f := strings.Fields(strings.Split(sameAs(t, s, "stats"), "\n")[3]); len(f) < 5 || f[2] != "6" || f[3] == "0" || f[4] != "0" {
		t.Errorf("--stats with direct routing: %v, want 6 connections, packets in, none out", f)
	}
}

// Tunnelling (-i): the director wraps the client's packets in IP-in-IP;
// the real servers hold the VIP on tunl0 and answer directly.
func TestTunnel(t *testing.T) {
	s := boot(t, oneSegment+`
for r in rs1 rs2; do
	ip -n $r link set tunl0 up
	ip -n $r addr add $VIP/32 dev tunl0
	on $r sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0
done
run add on dir lubdub lvs -A -t $VIP:80 -s rr
run add-rs1 on dir lubdub lvs -a -t $VIP:80 -r 198.18.0.11 -i
run add-rs2 on dir lubdub lvs -a -t $VIP:80 -r 198.18.0.12 -i -w 2
run fetch fetch client 6
run list on dir lubdub lvs -L -n
run list-ipvsadm on dir ipvsadm -L -n
run save on dir lubdub lvs -S -n
run save-ipvsadm on dir ipvsadm -S -n
`, 2*time.Minute)
	for _, n := range []string{"add", "add-rs1", "add-rs2"} {
		s.OK(t, n)
	}
	if got := s.OK(t, "fetch"); !alternating(got, 6, "rs1", "rs2") {
		t.Errorf("tunnelling: answers %q, want rs1 and rs2 alternating", got)
	}
	if l := sameAs(t, s, "list"); !strings.Contains(l, "  -> 198.18.0.12:80               Tunnel  2") {
		t.Errorf("-i real servers listed as\n%s", l)
	}
	sameAs(t, s, "save")
}

// ldirectord on IPVS with the classic layout that only IPVS can carry:
// real servers reached by direct routing (gate). A real server whose web
// server dies leaves the table within checkinterval + checktimeout and
// comes back when it returns; SIGTERM takes the service out.
func TestLdirectordGate(t *testing.T) {
	s := boot(t, oneSegment+`
for r in rs1 rs2; do ip -n $r addr add $VIP/32 dev lo; done
cat > /tmp/ldirectord.cf <<'CF'
checkinterval=1
checktimeout=1
quiescent=no
virtual=198.18.0.10:80
	real=198.18.0.11:80 gate
	real=198.18.0.12:80 gate
	service=http
	scheduler=rr
	checktype=negotiate
	request="/"
	receive="rs[0-9]"
CF
run check on dir lubdub ldirectord --check /tmp/ldirectord.cf
/usr/bin/ip netns exec dir lubdub ldirectord /tmp/ldirectord.cf >/tmp/ldirectord.log 2>&1 &
ld=$!
both() { on dir ipvsadm -L -n | grep -q 198.18.0.11 && on dir ipvsadm -L -n | grep -q 198.18.0.12; }
run up until_ok 50 both
run list on dir ipvsadm -L -n
run fetch fetch client 4
kill $(cat /run/httpd.rs2)
gone() { ! on dir ipvsadm -L -n | grep -q 198.18.0.12; }
run rs2-gone until_ok 30 gone
run fetch-without-rs2 fetch client 3
serve rs2 rs2
run rs2-back until_ok 30 both
run fetch-back fetch client 4
kill $ld
empty() { ! on dir ipvsadm -L -n | grep -q TCP; }
run stopped until_ok 30 empty
wait $ld
echo "### log"; cat /tmp/ldirectord.log; echo "### rc=0"
`, 3*time.Minute)
	s.OK(t, "check")
	s.OK(t, "up")
	if l := s.OK(t, "list"); !strings.Contains(l, "  -> 198.18.0.11:80               Route   1") {
		t.Errorf("gate real servers listed as\n%s", l)
	}
	if got := s.OK(t, "fetch"); !alternating(got, 4, "rs1", "rs2") {
		t.Errorf("answers %q, want rs1 and rs2 alternating", got)
	}
	s.OK(t, "rs2-gone")
	if got := s.OK(t, "fetch-without-rs2"); got != "rs1 rs1 rs1\n" {
		t.Errorf("with rs2's web server dead: answers %q", got)
	}
	s.OK(t, "rs2-back")
	if got := s.OK(t, "fetch-back"); !alternating(got, 4, "rs1", "rs2") {
		t.Errorf("after rs2's return: answers %q", got)
	}
	s.OK(t, "stopped")
	if l := s.OK(t, "log"); !strings.Contains(l, "Deleted real server") || !strings.Contains(l, "Added real server") {
		t.Errorf("ldirectord's log lacks Deleted/Added real server:\n%s", l)
	}
}
