package ipvs

import (
	"strings"
	"testing"
	"time"
)

// natLab is the seed's LVS-NAT setup: a client on the public segment, a
// director holding the VIP on both segments, two real servers on the
// private segment routing through the director.
const natLab = `
segment pub; segment priv
host client; host dir; host rs1; host rs2
attach client eth0 pub 198.18.0.100
attach dir eth0 pub $VIP
attach dir eth1 priv 198.18.1.254
on dir sysctl -qw net.ipv4.ip_forward=1
attach rs1 eth0 priv 198.18.1.11
attach rs2 eth0 priv 198.18.1.12
for r in rs1 rs2; do ip -n $r route add default via 198.18.1.254; serve $r $r; done
`

// The seed's three ipvsadm lines typed into lubdub lvs on Debian's kernel
// (IPVS): round robin alternates, the table lists as ipvsadm lists it.
func TestSeedNAT(t *testing.T) {
	s := boot(t, natLab+`
run add-service on dir lubdub lvs -A -t $VIP:80 -s rr
run add-rs1 on dir lubdub lvs -a -t $VIP:80 -r 198.18.1.11:80 -m
run add-rs2 on dir lubdub lvs -a -t $VIP:80 -r 198.18.1.12:80 -m
run fetch fetch client 6
run list on dir lubdub lvs -L -n
run ipvsadm-save on dir ipvsadm -S -n
`, 2*time.Minute)
	s.ok(t, "add-service")
	s.ok(t, "add-rs1")
	s.ok(t, "add-rs2")
	if got := strings.TrimSpace(s.ok(t, "fetch")); got != "rs1 rs2 rs1 rs2 rs1 rs2" && got != "rs2 rs1 rs2 rs1 rs2 rs1" {
		t.Errorf("round robin: answers %q, want rs1 and rs2 alternating", got)
	}
	t.Log(s.ok(t, "list"))
	t.Log(s.ok(t, "ipvsadm-save"))
}
