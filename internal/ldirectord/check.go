package ldirectord

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Check runs a virtual service's check against one real server, as
// ldirectord's _check_real does, over real sockets or the configured
// script; ctx carries the check's time limit (Virtual.Timeout). For
// checktype=N (combined) the caller picks connect or negotiate and passes
// a copy of v with that CheckType.
func Check(ctx context.Context, v *Virtual, r Real) error {
	switch v.CheckType {
	case CheckConnect:
		if v.Key.Proto == "UDP" {
			// check_connect cannot connect UDP: ldirectord pings.
			return ping(ctx, r.Addr.Addr(), v.CheckTimeout, v.CheckCount)
		}
		return connect(ctx, CheckTarget(v, r))
	case CheckPing:
		return ping(ctx, r.Addr.Addr(), v.CheckTimeout, v.CheckCount)
	case CheckExternal, CheckExternalPerl:
		return external(ctx, v, r)
	case CheckNegotiate, CheckCombined:
		request, receive := v.Request, v.ReceiveRE
		if r.Request != "" {
			request, receive = r.Request, r.ReceiveRE
		}
		switch v.Service {
		case "http", "https", "http_proxy":
			return negotiateHTTP(ctx, v, r, request, receive)
		case "simpletcp":
			return negotiateTCP(ctx, CheckTarget(v, r), request, receive)
		case "none":
			return nil // check_none: up without a check
		}
		// A service lubdub does not speak: reachability only.
		if v.Key.Proto == "UDP" {
			return ping(ctx, r.Addr.Addr(), v.CheckTimeout, v.CheckCount)
		}
		return connect(ctx, CheckTarget(v, r))
	case CheckOff:
		return errors.New("checktype=off")
	}
	return nil
}

// CheckTarget is where a check connects, as ld_checkport decides:
// checkport=, else the real server's port, else the service's well-known
// port. A real server without a port whose service has none is checked
// at the virtual service's port (ldirectord would try port 0 and fail).
func CheckTarget(v *Virtual, r Real) netip.AddrPort {
	port := v.CheckPort
	if port == 0 && r.PortGiven {
		port = r.Addr.Port()
	}
	if port == 0 {
		port = servicePort(v.Service)
	}
	if port == 0 {
		port = r.Addr.Port()
	}
	return netip.AddrPortFrom(r.Addr.Addr(), port)
}

func connect(ctx context.Context, a netip.AddrPort) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.String())
	if err != nil {
		return err
	}
	return c.Close()
}

// MaxRedirects is LWP::UserAgent's default max_redirect, which
// ldirectord's check_http does not change.
const MaxRedirects = 7

// HTTPURL is the address check_http asks, as ld_setup builds it.
func HTTPURL(v *Virtual, r Real, request string) string {
	scheme := v.Service
	if scheme == "http_proxy" {
		scheme = "http"
	}
	uri := strings.TrimPrefix(request, "/")
	if r.Request != "" && strings.Contains(r.Request, scheme+"://") {
		return uri
	}
	if r.Request == "" && v.Service == "http_proxy" {
		return uri
	}
	return fmt.Sprintf("%s://%s/%s", scheme, CheckTarget(v, r), uri)
}

// negotiateHTTP is check_http: the real server is up when the answer is
// a success (2xx, after following up to seven redirects, as LWP does) and
// its body matches receive= (when one is given); negotiatetimeout bounds
// the whole exchange. The certificate of an https server is not checked.
func negotiateHTTP(ctx context.Context, v *Virtual, r Real, request string, receive *regexp.Regexp) error {
	u := HTTPURL(v, r, request)
	req, err := http.NewRequestWithContext(ctx, v.HTTPMethod, u, nil)
	if err != nil {
		return fmt.Errorf("request %q: %w", u, err)
	}
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // as ldirectord: health, not identity
	if v.Service == "http_proxy" {
		proxy := &url.URL{Scheme: "http", Host: CheckTarget(v, r).String(), Path: "/"}
		tr.Proxy = http.ProxyURL(proxy)
	} else {
		req.Host = v.VirtualHost
		if req.Host == "" {
			req.Host = r.Addr.Addr().String()
		}
	}
	req.Header.Set("User-Agent", "lubdub-ldirectord")
	client := &http.Client{Transport: tr, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if len(via) > MaxRedirects {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s", v.HTTPMethod, u, resp.Status)
	}
	if receive == nil || receive.String() == "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && !receive.Match(body) {
		return fmt.Errorf("%s %s: reading the answer: %w", v.HTTPMethod, u, err)
	}
	if !receive.Match(body) {
		return fmt.Errorf("%s %s: %s, answer does not match %q", v.HTTPMethod, u, resp.Status, receive)
	}
	return nil
}

// negotiateTCP is check_simpletcp: send the request (without its leading
// "/", with \n written as a newline), close the sending side, and read
// the answer line by line; up at the first line receive= matches (any
// line when there is no receive=).
func negotiateTCP(ctx context.Context, a netip.AddrPort, request string, receive *regexp.Regexp) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.String())
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if len(request) > 0 {
		request = request[1:]
	}
	if request != "" {
		if _, err := io.WriteString(c, strings.ReplaceAll(request, `\n`, "\n")); err != nil {
			return err
		}
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	br := bufio.NewReaderSize(c, 4096)
	var last string
	for n := 0; n < 10000; n++ {
		line, err := br.ReadString('\n')
		if line != "" {
			last = line
			if receive == nil || receive.MatchString(line) {
				return nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("no line of the answer matches %q (last: %q)", receive, truncate(last))
			}
			return fmt.Errorf("answer does not match %q: %w", receive, err)
		}
	}
	return fmt.Errorf("no line of the answer matches %q", receive)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ping is check_ping: up to attempts ICMP echo requests, each waiting
// perAttempt for its reply; ctx bounds the whole.
func ping(ctx context.Context, a netip.Addr, perAttempt time.Duration, attempts int) error {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return fmt.Errorf("opening ICMP socket: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	if perAttempt <= 0 {
		perAttempt = DefaultCheckTimeout
	}
	var idb [2]byte
	rand.Read(idb[:])
	id := int(binary.BigEndian.Uint16(idb[:]))
	dst := &net.IPAddr{IP: a.AsSlice()}
	buf := make([]byte, 1500)
	for seq := 1; seq <= max(attempts, 1) && ctx.Err() == nil; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("lubdub")}}
		b, _ := msg.Marshal(nil)
		if _, err := c.WriteTo(b, dst); err != nil {
			return fmt.Errorf("ping %s: %w", a, err)
		}
		deadline := time.Now().Add(perAttempt)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		c.SetReadDeadline(deadline)
		for ctx.Err() == nil {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break // next attempt
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && from.String() == a.String() {
				return nil
			}
		}
	}
	return fmt.Errorf("ping %s: no reply (%d attempt(s) of %s)", a, max(attempts, 1), perAttempt)
}

// ExternalArgs are the four arguments ldirectord gives checkcommand: the
// virtual address (or firewall mark), its port ("0" for a mark), the real
// server's address and its port as written ("0" when not given).
func ExternalArgs(v *Virtual, r Real) []string {
	vip, vport := v.Key.Addr.Addr().String(), strconv.Itoa(int(v.Key.Addr.Port()))
	if v.Key.Proto == "FWM" {
		vip, vport = strconv.Itoa(int(v.Key.FWMark)), "0"
	}
	rport := "0"
	if r.PortGiven {
		rport = strconv.Itoa(int(r.Addr.Port()))
	}
	return []string{vip, vport, r.Addr.Addr().String(), rport}
}

// external is check_external: checkcommand VIP VPORT RIP RPORT, up when
// its exit status is 0; down on another status, when it cannot run, or
// when it outlasts checktimeout (its whole process group is then killed).
// As ldirectord takes `$? >> 8`, a command killed by a signal counts as
// up. checktype=external-perl runs the file with perl.
func external(ctx context.Context, v *Virtual, r Real) error {
	args := ExternalArgs(v, r)
	name := v.CheckCommand
	if v.CheckType == CheckExternalPerl {
		name, args = "perl", append([]string{v.CheckCommand}, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running checkcommand %s: %w", v.CheckCommand, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ee.ExitCode() == -1 {
				return nil // killed by a signal: status 0 to ldirectord
			}
			return fmt.Errorf("checkcommand %s exited %d", v.CheckCommand, ee.ExitCode())
		}
		return err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("checkcommand %s: no answer within %s", v.CheckCommand, v.CheckTimeout)
	}
}

// InMaintenance reports whether maintenancedir holds a file named for the
// real server (ADDRESS:PORT or ADDRESS), as _check_real_for_maintenance
// finds it; ldirectord's look-up of the server's host name is not done.
func InMaintenance(dir string, r Real) bool {
	if dir == "" {
		return false
	}
	port := "0"
	if r.PortGiven {
		port = strconv.Itoa(int(r.Addr.Port()))
	}
	for _, name := range []string{r.Addr.Addr().String() + ":" + port, r.Addr.Addr().String()} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}
