package ldirectord

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// inNewNetns runs the test again, as a whole process, inside a network
// namespace of its own (with its loopback up), and reports its result: an
// HTTP client dials from threads of its own, which a namespace entered
// by one thread would not cover.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Getenv("LUBDUB_TEST_IN_NETNS") == "1" {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			t.Fatalf("loopback: %v", err)
		}
		f()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	ns := fmt.Sprintf("ldbchk%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "LUBDUB_TEST_IN_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in namespace %s: %v\n%s", ns, err, out)
	}
}

func check(v *Virtual, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Check(ctx, v, Real{Addr: netip.MustParseAddrPort(addr)})
}

// The checks run over real sockets and a real script, against servers on
// the loopback of a private namespace.
func TestChecksAgainstRealServers(t *testing.T) {
	inNewNetns(t, func() {
		web, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer web.Close()
		go http.Serve(web, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/broken" {
				http.Error(w, "no", http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "Test Page for %s", r.Host)
		}))
		banner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer banner.Close()
		go func() {
			for {
				c, err := banner.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				fmt.Fprintf(c, "+OK you said %s", strings.TrimSpace(string(buf[:n])))
				c.Close()
			}
		}()
		webAddr, bannerAddr := web.Addr().String(), banner.Addr().String()
		closed := "127.0.0.1:1"

		connect := &Virtual{CheckType: CheckConnect}
		if err := check(connect, webAddr, time.Second); err != nil {
			t.Errorf("connect to a listening port: %v", err)
		}
		if err := check(connect, closed, time.Second); err == nil {
			t.Error("connect to a closed port passed")
		}

		http := &Virtual{CheckType: CheckNegotiate, Service: "http", HTTPMethod: "GET", Request: "index.html",
			ReceiveRE: regexp.MustCompile(`Test Page for www\.x\.y\.z`), VirtualHost: "www.x.y.z"}
		if err := check(http, webAddr, time.Second); err != nil {
			t.Errorf("negotiate http with virtualhost: %v", err)
		}
		http.VirtualHost = ""
		if err := check(http, webAddr, time.Second); err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Errorf("negotiate http, wrong answer: %v", err)
		}
		http.ReceiveRE, http.Request = nil, "/broken"
		if err := check(http, webAddr, time.Second); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
			t.Errorf("negotiate http, HTTP 500: %v", err)
		}

		tcp := &Virtual{CheckType: CheckNegotiate, Service: "simpletcp", Request: `hello\n`, ReceiveRE: regexp.MustCompile(`\+OK you said hello`)}
		if err := check(tcp, bannerAddr, time.Second); err != nil {
			t.Errorf("simpletcp: %v", err)
		}
		tcp.ReceiveRE = regexp.MustCompile(`-ERR`)
		if err := check(tcp, bannerAddr, time.Second); err == nil {
			t.Error("simpletcp with a wrong answer passed")
		}

		ping := &Virtual{CheckType: CheckPing}
		if err := check(ping, "127.0.0.1:0", time.Second); err != nil {
			t.Errorf("ping the loopback: %v", err)
		}
		if err := check(ping, "198.18.255.254:0", 300*time.Millisecond); err == nil {
			t.Error("ping of an address nobody has passed")
		}

		dir := t.TempDir()
		script := func(name, body string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}
		ext := &Virtual{CheckType: CheckExternal, Key: connect.Key, CheckTimeout: 300 * time.Millisecond}
		ext.Key.Addr = netip.MustParseAddrPort("198.18.0.10:80")
		ext.CheckCommand = script("ok", `[ "$1 $2 $3 $4" = "198.18.0.10 80 127.0.0.1 8080" ]`)
		if err := check(ext, "127.0.0.1:8080", time.Second); err != nil {
			t.Errorf("external check with ldirectord's four arguments: %v", err)
		}
		ext.CheckCommand = script("fail", "exit 3")
		if err := check(ext, "127.0.0.1:8080", time.Second); err == nil || !strings.Contains(err.Error(), "exited 3") {
			t.Errorf("failing external check: %v", err)
		}
		ext.CheckCommand = script("hang", "sleep 30")
		start := time.Now()
		if err := check(ext, "127.0.0.1:8080", 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no answer") {
			t.Errorf("hanging external check: %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("a hanging check script held the checker %s", time.Since(start))
		}
	})
}
