package ldirectord

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/lubdub/lubdub/internal/testkit"
)

func check(v *Virtual, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Check(ctx, v, Real{Addr: netip.MustParseAddrPort(addr), PortGiven: true})
}

// The checks run over real sockets and real scripts, against servers on
// the loopback of a private namespace, and decide as ldirectord's
// check_* functions do.
func TestChecksAgainstRealServers(t *testing.T) {
	testkit.Isolated(t, func() {
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "Test Page for %s", r.Host) })
		mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Test Page", http.StatusInternalServerError)
		})
		mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Test Page", http.StatusNotFound) })
		mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated); fmt.Fprint(w, "made") })
		mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/", http.StatusMovedPermanently) })
		mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
		// /chain/N redirects N times, then answers.
		mux.HandleFunc("/chain/", func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/chain/"))
			if n > 0 {
				http.Redirect(w, r, "/chain/"+strconv.Itoa(n-1), http.StatusFound)
				return
			}
			fmt.Fprint(w, "Test Page at the end")
		})
		mux.HandleFunc("/299", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299); fmt.Fprint(w, "Test Page") })
		mux.HandleFunc("/300", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(300); fmt.Fprint(w, "Test Page") })
		web, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer web.Close()
		go http.Serve(web, mux)
		tlsSrv := httptest.NewUnstartedServer(mux)
		tlsSrv.StartTLS()
		defer tlsSrv.Close()
		proxied := make(chan string, 4)
		proxy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		go http.Serve(proxy, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			proxied <- r.RequestURI
			fmt.Fprint(w, "via proxy")
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
				go func() {
					defer c.Close()
					got, _ := io.ReadAll(c) // the check closes its side after the request
					fmt.Fprintf(c, "220 banner\r\n+OK you said %s\r\n", strings.TrimSpace(string(got)))
				}()
			}
		}()
		webAddr, bannerAddr, proxyAddr := web.Addr().String(), banner.Addr().String(), proxy.Addr().String()
		tlsAddr := strings.TrimPrefix(tlsSrv.URL, "https://")
		closed := "127.0.0.1:1"

		connect := &Virtual{CheckType: CheckConnect, Key: lvs.Key{Proto: "TCP"}}
		up := func(what string, v *Virtual, addr string, want bool) {
			t.Helper()
			err := check(v, addr, 2*time.Second)
			if (err == nil) != want {
				t.Errorf("%s: verdict up=%v (%v), ldirectord says up=%v", what, err == nil, err, want)
			}
		}
		// down: the check fails, and its error (ldirectord's log line)
		// says why.
		down := func(what string, v *Virtual, addr, why string) {
			t.Helper()
			err := check(v, addr, 2*time.Second)
			if err == nil || !strings.Contains(err.Error(), why) {
				t.Errorf("%s: %v, want a failure saying %q", what, err, why)
			}
		}
		up("connect to a listening port", connect, webAddr, true)
		up("connect to a closed port", connect, closed, false)

		http := func(service, request, receive, vhost string) *Virtual {
			v := &Virtual{CheckType: CheckNegotiate, Key: lvs.Key{Proto: "TCP"}, Service: service, HTTPMethod: "GET", Request: request, VirtualHost: vhost}
			if receive != "" {
				v.Receive, v.ReceiveRE = receive, regexp.MustCompile(receive)
			}
			return v
		}
		up("http 200, receive matches (virtualhost as Host)", http("http", "/index.html", `Test Page for www\.x\.y\.z`, "www.x.y.z"), webAddr, true)
		down("http 200, receive does not match (Host is the real server)", http("http", "/index.html", `www\.x\.y\.z`, ""), webAddr, "200 OK, answer does not match")
		up("http 200, no receive", http("http", "/", "", ""), webAddr, true)
		up("http 201 (is_success)", http("http", "/created", "", ""), webAddr, true)
		up("http 500, body matches receive", http("http", "/broken", "Test Page", ""), webAddr, false)
		up("http 404, body matches receive", http("http", "/missing", "Test Page", ""), webAddr, false)
		up("http 404, no receive", http("http", "/missing", "", ""), webAddr, false)
		up("http 301 followed to a 200", http("http", "/moved", "Test Page", ""), webAddr, true)
		up("http redirect loop (LWP stops after 7)", http("http", "/loop", "", ""), webAddr, false)
		up("http 7 redirects, then 200 (LWP's max_redirect)", http("http", "/chain/7", "Test Page", ""), webAddr, true)
		up("http 8 redirects, then 200", http("http", "/chain/8", "", ""), webAddr, false)
		up("http 299 (is_success)", http("http", "/299", "Test Page", ""), webAddr, true)
		up("http 300 without a Location", http("http", "/300", "", ""), webAddr, false)
		up("http to a closed port", http("http", "/", "", ""), closed, false)
		up("https, self-signed certificate", http("https", "/", "Test Page", ""), tlsAddr, true)
		up("https spoken to a plain http server", http("https", "/", "", ""), webAddr, false)
		// A virtual service on port 443 without service= is checked with
		// TLS, as ldirectord's ld_port_to_service makes it https.
		https443, err := ParseWith("f.cf", strings.NewReader("virtual=198.18.0.10:443\n\treal=127.0.0.1:1 masq\n\tchecktype=negotiate\n\treceive=\"Test Page\"\n"), NumericResolver{})
		if err != nil {
			t.Fatal(err)
		}
		up("virtual port 443, no service=: https to a TLS server", https443.Virtuals[0], tlsAddr, true)
		up("virtual port 443, no service=: https to a plain http server", https443.Virtuals[0], webAddr, false)
		pv := http("http_proxy", "/http://www.example.com/status", "via proxy", "")
		up("http_proxy: the real server is asked as a proxy", pv, proxyAddr, true)
		if got := <-proxied; got != "http://www.example.com/status" {
			t.Errorf("http_proxy asked %q", got)
		}
		head := http("http", "/", "", "")
		head.HTTPMethod = "HEAD"
		up("httpmethod=HEAD", head, webAddr, true)

		tcp := &Virtual{CheckType: CheckNegotiate, Key: lvs.Key{Proto: "TCP"}, Service: "simpletcp", Request: `/hello\n`}
		tcp.ReceiveRE = regexp.MustCompile(`^\+OK you said hello`)
		up("simpletcp, the second line matches (request without its /)", tcp, bannerAddr, true)
		tcp.ReceiveRE = regexp.MustCompile(`banner.*OK`)
		up("simpletcp, a pattern across lines (ldirectord matches line by line)", tcp, bannerAddr, false)
		tcp.ReceiveRE = regexp.MustCompile(`-ERR`)
		down("simpletcp, no line matches", tcp, bannerAddr, `no line of the answer matches "-ERR" (last: "+OK you said hello\r\n")`)
		greeting := &Virtual{CheckType: CheckNegotiate, Key: lvs.Key{Proto: "TCP"}, Service: "simpletcp", ReceiveRE: regexp.MustCompile(`^220 `)}
		up("simpletcp, request=\"\": nothing sent, the greeting read", greeting, bannerAddr, true)
		tcp.ReceiveRE = nil
		up("simpletcp, no receive: any line", tcp, bannerAddr, true)
		up("simpletcp, closed port", tcp, closed, false)

		none := &Virtual{CheckType: CheckNegotiate, Key: lvs.Key{Proto: "TCP"}, Service: "none"}
		up("negotiate, service=none: check_none, up without a check", none, closed, true)
		smtp := &Virtual{CheckType: CheckNegotiate, Key: lvs.Key{Proto: "TCP"}, Service: "smtp"}
		up("negotiate smtp (not spoken): connect to a listening port", smtp, webAddr, true)
		up("negotiate smtp (not spoken): closed port", smtp, closed, false)

		ping := &Virtual{CheckType: CheckPing, CheckTimeout: time.Second, CheckCount: 1}
		up("ping the loopback", ping, "127.0.0.1:0", true)
		ping.CheckTimeout = 0
		up("ping with no checktimeout: ldirectord's default", ping, "127.0.0.1:0", true)
		// 198.18.255.254 is on a link where nothing answers (a veth
		// pair whose other end has no address), so the requests go out
		// and no reply comes.
		for _, c := range [][]string{{"link", "add", "silent0", "type", "veth", "peer", "name", "silent1"}, {"addr", "add", "198.18.255.1/24", "brd", "+", "dev", "silent0"},
			{"link", "set", "silent0", "up"}, {"link", "set", "silent1", "up"}} {
			if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
				t.Fatalf("ip %v: %v: %s", c, err, out)
			}
		}
		ping.CheckTimeout = 200 * time.Millisecond
		down("ping an address nobody has", ping, "198.18.255.254:0", "no reply (1 attempt(s) of 200ms)")
		// checkcount attempts of checktimeout each, then down: not the
		// whole time the caller allows.
		ping.CheckCount = 2
		start := time.Now()
		down("ping, 2 attempts of 200 ms, nobody answers", ping, "198.18.255.254:0", "no reply (2 attempt(s) of 200ms)")
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("2 ping attempts of 200 ms took %s", took)
		}
		ping.CheckCount = 1
		// A host that ignores pings is down, though the loopback shows
		// this host's own echo request.
		if err := os.WriteFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		up("ping a host that ignores pings", ping, "127.0.0.1:0", false)
		if err := os.WriteFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		udp := &Virtual{CheckType: CheckConnect, Key: lvs.Key{Proto: "UDP"}, CheckTimeout: time.Second, CheckCount: 1}
		up("connect on a UDP service pings", udp, "127.0.0.1:53", true)

		dir := t.TempDir()
		script := func(name, body string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}
		ext := &Virtual{CheckType: CheckExternal, Key: lvs.Key{Proto: "TCP", Addr: netip.MustParseAddrPort("198.18.0.10:80")}, CheckTimeout: 300 * time.Millisecond}
		ext.CheckCommand = script("ok", `[ "$1 $2 $3 $4" = "198.18.0.10 80 127.0.0.1 8080" ]`)
		up("external, ldirectord's four arguments", ext, "127.0.0.1:8080", true)
		ext.CheckCommand = script("noport", `[ "$1 $2 $3 $4" = "198.18.0.10 80 127.0.0.1 0" ]`)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := Check(ctx, ext, Real{Addr: netip.MustParseAddrPort("127.0.0.1:80")}); err != nil {
			t.Errorf("external, a real server written without a port gets 0: %v", err)
		}
		cancel()
		ext.CheckCommand = script("fail", "exit 3")
		up("external exits 3", ext, "127.0.0.1:8080", false)
		ext.CheckCommand = script("signal", "kill -9 $$")
		up("external killed by a signal ($? >> 8 is 0)", ext, "127.0.0.1:8080", true)
		ext.CheckCommand = filepath.Join(dir, "absent")
		up("external that cannot run", ext, "127.0.0.1:8080", false)
		// external-perl: the file runs inside perl (it needs no #! line,
		// nor the execute bit), with the same four arguments.
		perl := filepath.Join(dir, "check.pl")
		os.WriteFile(perl, []byte(`exit(($ARGV[2] eq "127.0.0.1" && $ARGV[3] eq "8080") ? 0 : 1);`+"\n"), 0o644)
		xp := &Virtual{CheckType: CheckExternalPerl, CheckCommand: perl, Key: ext.Key, CheckTimeout: 5 * time.Second}
		up("external-perl, exit 0", xp, "127.0.0.1:8080", true)
		up("external-perl, exit 1", xp, "127.0.0.1:8081", false)
		// A command that outlasts checktimeout is killed with what it
		// started (its process group).
		pidFile := filepath.Join(dir, "child.pid")
		ext.CheckCommand = script("forker", "sleep 30 &\necho $! > "+pidFile+"\nwait")
		up("external that forks and hangs", ext, "127.0.0.1:8080", false)
		if b, err := os.ReadFile(pidFile); err != nil {
			t.Errorf("the forking check wrote no pid: %v", err)
		} else if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); !gone(pid, 2*time.Second) {
			t.Errorf("the hanging check's child %d still runs after the check gave up", pid)
		}
		ext.CheckCommand = script("hang", "sleep 30")
		start = time.Now()
		if err := check(ext, "127.0.0.1:8080", 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no answer") {
			t.Errorf("hanging external check: %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("a hanging check script held the checker %s", time.Since(start))
		}
	})
}

// gone waits up to timeout for pid to end (a zombie counts as ended).
func gone(pid int, timeout time.Duration) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
	}
	return false
}
