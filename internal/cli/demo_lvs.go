package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lubdub/lubdub/internal/lab"
	"github.com/lubdub/lubdub/internal/probe"
)

const demoGW = "198.18.1.254"

const demoLdirectordCf = `checkinterval=1
checktimeout=1
quiescent=no

virtual=198.18.0.10:80
	real=198.18.1.11:80 masq
	real=198.18.1.12:80 masq
	service=http
	scheduler=rr
	protocol=tcp
	checktype=negotiate
	request="/"
	receive="rs[0-9]"
`

// runLVS is the demo's second act, the seed's LVS director: two directors
// in a lubdub cluster share the VIP, the real servers' gateway and the
// virtual service (ldirectord::ldirectord.cf); two real servers answer
// with their names. It shows round robin, ipvsadm's table, a real server
// dying and coming back, and the active director crashing.
func (d *demo) runLVS(ctx context.Context) error {
	l, err := lab.New(d.dir)
	if err != nil {
		return fmt.Errorf("building the LVS demo network: %w", err)
	}
	d.lvsLab = l
	if err := l.Segment("pub", 0); err != nil {
		return err
	}
	if err := l.Segment("priv", 1); err != nil {
		return err
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	hacf := "keepalive 100ms\ndeadtime 300ms\ninitdead 5000ms\nbcast eth0 eth1\nauto_failback on\nnode dir1 dir2\n"
	haresources := "dir1 IPaddr2::" + demoVIP + "/24/eth0 IPaddr2::" + demoGW + "/24/eth1 ldirectord::ldirectord.cf\n"
	fmt.Fprintf(d.out, "\nlubdub demo, part 2: the seed's LVS director. Two directors (dir1, dir2) on the client's segment\n")
	fmt.Fprintf(d.out, "(198.18.0.0/24) and the real servers' (198.18.1.0/24); the real servers rs1 and rs2 route through\n")
	fmt.Fprintf(d.out, "%s, an address that moves with the VIP. This kernel has no IPVS: lubdub uses nftables.\n\n", demoGW)
	fmt.Fprintf(d.out, "haresources:\n  %s\nldirectord.cf:\n  %s\n", strings.TrimSpace(haresources),
		strings.ReplaceAll(strings.TrimSpace(demoLdirectordCf), "\n", "\n  "))
	host := l.AddHost
	dirs := map[string]*demoNode{}
	for i, name := range []string{"dir1", "dir2"} {
		h, err := host(name, i+1, "pub", "priv")
		if err != nil {
			return err
		}
		if err := h.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
			return err
		}
		n := &demoNode{name: name, host: h, dir: filepath.Join(d.dir, name), state: filepath.Join(d.dir, name+"-state"), sock: filepath.Join(d.dir, name+".sock")}
		files := map[string]string{
			"ha.cf": hacf, "haresources": haresources, "ldirectord.cf": demoLdirectordCf,
			"authkeys":  "auth 1\n1 sha256 " + hex.EncodeToString(secret) + "\n",
			"lubdub.cf": "monitor_interval 1s\n",
		}
		for f, body := range files {
			mode := os.FileMode(0o644)
			if f == "authkeys" {
				mode = 0o600
			}
			os.MkdirAll(n.dir, 0o755)
			if err := os.WriteFile(filepath.Join(n.dir, f), []byte(body), mode); err != nil {
				return err
			}
		}
		dirs[name] = n
		d.nodes[name] = n
	}
	var servers []*lab.Proc
	var reals []*lab.Host
	for i, name := range []string{"rs1", "rs2"} {
		h, err := host(name, 11+i, "priv")
		if err != nil {
			return err
		}
		if _, errOut, code := h.Output(5*time.Second, "ip", "route", "add", "default", "via", demoGW); code != 0 {
			return fmt.Errorf("%s: route: %s", name, errOut)
		}
		p, err := h.Start(name+"-web.log", d.self, "serve", "--listen", ":80", name)
		if err != nil {
			return err
		}
		servers, reals = append(servers, p), append(reals, h)
	}
	client, err := host("client", 100, "pub")
	if err != nil {
		return err
	}
	d.say("dir1 198.18.0.1 / 198.18.1.1, dir2 198.18.0.2 / 198.18.1.2, rs1 198.18.1.11, rs2 198.18.1.12, client 198.18.0.100")
	for _, n := range []string{"dir1", "dir2"} {
		if err := d.startNode(dirs[n]); err != nil {
			return err
		}
	}
	p, err := client.Start("lvs-client.log", d.self, "probe", "--interval", "20ms", "--timeout", "300ms", "http://"+demoVIP+"/")
	if err != nil {
		return err
	}
	var steps [][2]string
	balanced := func(from int, timeout time.Duration) error {
		return d.wait(ctx, timeout, func() bool {
			a := probe.Answers(p.Output()[from:])
			if len(a) < 4 {
				return false
			}
			a = a[len(a)-4:]
			return a[0] != a[1] && a[1] != a[2] && a[2] != a[3]
		})
	}
	listed := func(h *lab.Host, real string) bool {
		out, _, _ := h.Output(5*time.Second, d.self, "lvs", "-L", "-n")
		return strings.Contains(out, "-> "+real+":")
	}
	showTable := func(on *demoNode) {
		out, _, _ := on.host.Output(5*time.Second, d.self, "lvs", "-L", "-n")
		fmt.Fprintf(d.out, "\n$ ipvsadm -L -n   # lubdub lvs, on %s\n%s\n", on.name, out)
	}
	outageSince := func(from int) string {
		if o := probe.Outages(p.Output()[from:]); len(o) > 0 {
			return fmt.Sprintf("%.3fs", o[len(o)-1].Seconds())
		}
		return "none"
	}
	if err := balanced(0, 20*time.Second); err != nil {
		return fmt.Errorf("the client was not balanced over rs1 and rs2: %w", err)
	}
	a := probe.Answers(p.Output())
	d.say("dir1 holds the VIP, the gateway and the virtual service; the client's answers alternate: %s", strings.Join(a[max(0, len(a)-6):], " "))
	showTable(dirs["dir1"])
	d.pause(ctx, time.Second)

	d.say("rs1's web server is killed")
	from := len(p.Output())
	killed := time.Now()
	servers[0].Signal(syscall.SIGKILL)
	servers[0].Wait(5 * time.Second)
	if err := d.wait(ctx, 10*time.Second, func() bool { return !listed(dirs["dir1"].host, "198.18.1.11") }); err != nil {
		return fmt.Errorf("rs1 was not taken out: %w", err)
	}
	gone := time.Since(killed)
	six, _, _ := client.Output(10*time.Second, d.self, "probe", "--count", "6", "--interval", "10ms", "--timeout", "1s", "http://"+demoVIP+"/")
	d.say("ldirectord took rs1 out %.2fs after it died (checkinterval 1 + checktimeout 1); six new requests are all served by %s",
		gone.Seconds(), strings.Join(uniq(probe.Answers(six)), ", "))
	steps = append(steps, [2]string{"rs1 dies: taken out of the table", fmt.Sprintf("%.2fs (requests sent to rs1 meanwhile failed; client outage %s)", gone.Seconds(), outageSince(from))})

	d.say("rs1's web server starts again")
	if servers[0], err = reals[0].Start("rs1-web.log", d.self, "serve", "--listen", ":80", "rs1"); err != nil {
		return err
	}
	back := time.Now()
	if err := d.wait(ctx, 10*time.Second, func() bool { return listed(dirs["dir1"].host, "198.18.1.11") }); err != nil {
		return fmt.Errorf("rs1 did not return: %w", err)
	}
	returned := time.Since(back)
	steps = append(steps, [2]string{"rs1 returns: back in the table", fmt.Sprintf("%.2fs", returned.Seconds())})
	if err := balanced(len(p.Output()), 10*time.Second); err != nil {
		return err
	}
	d.say("rs1 is back in the table after %.2fs; answers alternate again", returned.Seconds())
	d.pause(ctx, time.Second)

	d.say("crash: lubdub on dir1 is killed (SIGKILL) and both its links are cut")
	from = len(p.Output())
	dirs["dir1"].host.Cut("eth0")
	dirs["dir1"].host.Cut("eth1")
	dirs["dir1"].proc.Signal(syscall.SIGKILL)
	dirs["dir1"].proc.Wait(5 * time.Second)
	if err := balanced(from, 20*time.Second); err != nil {
		return fmt.Errorf("dir2 did not take over: %w", err)
	}
	d.say("dir2 took the VIP, the gateway and the virtual service; the client is balanced again (outage %s)", outageSince(from))
	steps = append(steps, [2]string{"crash of director dir1", "client outage " + outageSince(from)})
	showTable(dirs["dir2"])

	fmt.Fprintf(d.out, "timeline (LVS):\n\n| step | measured |\n| --- | --- |\n")
	for _, s := range steps {
		fmt.Fprintf(d.out, "| %s | %s |\n", s[0], s[1])
	}
	fmt.Fprintln(d.out)
	return nil
}

// uniq lists the distinct strings in order of first appearance.
func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
