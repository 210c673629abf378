package ipvs

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// natLab is the seed's LVS-NAT setup: a client on the public segment, a
// director holding the VIP on both segments, two real servers on the
// private segment routing through the director; each real server's web
// server answers with its name.
const natLab = `
segment pub; segment priv
host client; host dir; host rs1; host rs2
attach client eth0 pub 198.18.0.100
ip -n client addr add 198.18.0.101/24 brd + dev eth0
attach dir eth0 pub $VIP
attach dir eth1 priv 198.18.1.254
on dir sysctl -qw net.ipv4.ip_forward=1
attach rs1 eth0 priv 198.18.1.11
attach rs2 eth0 priv 198.18.1.12
for r in rs1 rs2; do ip -n $r route add default via 198.18.1.254; serve $r $r; done
`

// sameAs checks that lubdub lvs printed what ipvsadm printed for the same
// kernel table (sections NAME and NAME-ipvsadm).
func sameAs(t *testing.T, s sections, name string) string {
	t.Helper()
	got, want := s.ok(t, name), s.ok(t, name+"-ipvsadm")
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

func count(answers, name string) int { return len(regexp.MustCompile(`\b`+name+`\b`).FindAllString(answers, -1)) }

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
run stats on dir lubdub lvs -L -n --stats
run stats-ipvsadm on dir ipvsadm -L -n --stats
run conns on dir lubdub lvs -L -n -c
run conns-ipvsadm on dir ipvsadm -L -n -c
run rate on dir lubdub lvs -L -n --rate
run rate-ipvsadm on dir ipvsadm -L -n --rate
run zero-one on dir lubdub lvs -Z -t $VIP:80
run zeroed-one on dir ipvsadm -L -n --stats
fetch client 2 >/dev/null
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
a=$(printf 'GET / HTTP/1.0\r\n\r\n' | on client nc -w 2 -s 198.18.0.101 $VIP 80 | tail -n 1)
run persist-other-client echo $a
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
		s.ok(t, n)
	}
	if got := s.ok(t, "rr"); !alternating(got, 6, "rs1", "rs2") {
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
	conns := s.ok(t, "conns")
	if a, b := expiry.ReplaceAllString(conns, "$1xx:xx"), expiry.ReplaceAllString(s.ok(t, "conns-ipvsadm"), "$1xx:xx"); a != b {
		t.Errorf("-L -n -c: lubdub lvs printed\n%s\nipvsadm\n%s", conns, s.ok(t, "conns-ipvsadm"))
	}
	if strings.Count(conns, "TIME_WAIT") != 6 || !strings.Contains(conns, "198.18.0.100:") {
		t.Errorf("-L -n -c lists not the client's 6 connections:\n%s", conns)
	}
	rate := s.ok(t, "rate")
	if !strings.Contains(rate, "CPS    InPPS   OutPPS    InBPS   OutBPS") || !strings.Contains(rate, "TCP  198.18.0.10:80") ||
		strings.Count(rate, "\n") != strings.Count(s.ok(t, "rate-ipvsadm"), "\n") {
		t.Errorf("--rate:\n%s\nipvsadm:\n%s", rate, s.ok(t, "rate-ipvsadm"))
	}
	s.ok(t, "zero-one")
	if f := strings.Fields(strings.Split(s.ok(t, "zeroed-one"), "\n")[3]); len(f) < 4 || f[2] != "0" {
		t.Errorf("-Z -t left the service's counters: %v", f)
	}
	s.ok(t, "zero")
	for _, l := range strings.Split(s.ok(t, "zeroed"), "\n")[3:] {
		if f := strings.Fields(l); len(f) >= 3 && (f[len(f)-5] != "0") {
			t.Errorf("-Z left counters:\n%s", s.ok(t, "zeroed"))
			break
		}
	}
	if z := s.get(t, "zero-missing"); z.Code != 1 || !strings.Contains(z.Out, "No such service") {
		t.Errorf("-Z of a missing service: exit %d, %q; ipvsadm says No such service and exits 1", z.Code, z.Out)
	}

	save := sameAs(t, s, "save")
	if save != "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1\n-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1\n" {
		t.Errorf("-S -n:\n%s", save)
	}
	s.ok(t, "clear")
	if c := s.ok(t, "cleared"); c != "" {
		t.Errorf("after -C the kernel still has\n%s", c)
	}
	s.ok(t, "restore")
	if r := s.ok(t, "restored"); r != save {
		t.Errorf("-R of -S's output gave\n%s\nwant\n%s", r, save)
	}

	s.ok(t, "persist")
	if l := sameAs(t, s, "persist-list"); !strings.Contains(l, "TCP  198.18.0.10:80 rr persistent 60 mask 255.255.255.0\n") {
		t.Errorf("persistent service listed as\n%s", l)
	}
	p := strings.Fields(s.ok(t, "persist-fetch"))
	if len(p) != 4 || p[0] != p[1] || p[1] != p[2] || p[2] != p[3] || p[0] == "FAIL" {
		t.Errorf("persistent service: answers %v, want one server throughout", p)
	} else if o := strings.TrimSpace(s.ok(t, "persist-other-client")); o != p[0] {
		t.Errorf("-M 255.255.255.0: a client in the same /24 went to %q, the first to %q", o, p[0])
	}
	s.ok(t, "unpersist")

	s.ok(t, "weight0")
	if got := s.ok(t, "weight0-fetch"); got != "rs1 rs1 rs1 rs1\n" {
		t.Errorf("with rs2 at weight 0: answers %q, want only rs1", got)
	}
	sameAs(t, s, "weight0-list")
	s.ok(t, "weight1")

	s.ok(t, "local")
	if got := s.ok(t, "local-fetch"); count(got, "dir") != 2 || count(got, "rs1") != 2 || count(got, "rs2") != 2 {
		t.Errorf("with the director as a third real server: answers %q, want each twice", got)
	}
	if l := sameAs(t, s, "local-list"); !strings.Contains(l, "  -> 198.18.1.254:80              Local   1      ") {
		t.Errorf("the director's own address is not listed as Local:\n%s", l)
	}
	s.ok(t, "local-del")

	s.ok(t, "default-sched")
	if l := sameAs(t, s, "default-sched-save"); !strings.Contains(l, "-A -t 198.18.0.10:81 -s wlc\n") {
		t.Errorf("-A without -s:\n%s", l)
	}
	s.ok(t, "delete")
}
