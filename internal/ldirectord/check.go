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
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Check runs a virtual service's check against one real server, over real
// sockets or the configured script; ctx carries the check timeout.
func Check(ctx context.Context, v *Virtual, r Real) error {
	port := r.Addr.Port()
	if v.CheckPort != 0 {
		port = v.CheckPort
	}
	target := netip.AddrPortFrom(r.Addr.Addr(), port)
	switch v.CheckType {
	case CheckConnect:
		if v.Key.Proto == "UDP" {
			return ping(ctx, r.Addr.Addr())
		}
		return connect(ctx, target)
	case CheckPing:
		return ping(ctx, r.Addr.Addr())
	case CheckExternal:
		return external(ctx, v, r)
	case CheckNegotiate:
		request, receive := v.Request, v.ReceiveRE
		if r.Request != "" {
			request = r.Request
		}
		if r.ReceiveRE != nil {
			receive = r.ReceiveRE
		}
		switch v.Service {
		case "http", "https":
			return negotiateHTTP(ctx, v, target, request, receive)
		case "simpletcp":
			return negotiateTCP(ctx, target, request, receive)
		}
		return connect(ctx, target)
	}
	return nil
}

func connect(ctx context.Context, a netip.AddrPort) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.String())
	if err != nil {
		return err
	}
	return c.Close()
}

func negotiateHTTP(ctx context.Context, v *Virtual, a netip.AddrPort, request string, receive *regexp.Regexp) error {
	url := request
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		url = fmt.Sprintf("%s://%s/%s", v.Service, a, strings.TrimPrefix(request, "/"))
	}
	req, err := http.NewRequestWithContext(ctx, v.HTTPMethod, url, nil)
	if err != nil {
		return fmt.Errorf("request %q: %w", url, err)
	}
	if v.VirtualHost != "" {
		req.Host = v.VirtualHost
	}
	req.Header.Set("User-Agent", "lubdub-ldirectord")
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // as ldirectord: health, not identity
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if receive != nil {
		if !receive.Match(body) {
			return fmt.Errorf("GET %s: HTTP %d, answer does not match %q", url, resp.StatusCode, receive)
		}
		return nil
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

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
	if request != "" {
		if _, err := io.WriteString(c, strings.ReplaceAll(request, `\n`, "\n")); err != nil {
			return err
		}
	}
	var got []byte
	br := bufio.NewReader(c)
	buf := make([]byte, 4096)
	for len(got) < 64*1024 {
		n, err := br.Read(buf)
		got = append(got, buf[:n]...)
		if receive.Match(got) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("answer %q does not match %q: %w", truncate(got), receive, err)
		}
	}
	return fmt.Errorf("answer does not match %q", receive)
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// ping sends ICMP echo requests until a reply comes or ctx ends.
func ping(ctx context.Context, a netip.Addr) error {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return fmt.Errorf("opening ICMP socket: %w", err)
	}
	defer c.Close()
	var idb [2]byte
	rand.Read(idb[:])
	id := int(binary.BigEndian.Uint16(idb[:]))
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultCheckTimeout)
	}
	dst := &net.IPAddr{IP: a.AsSlice()}
	buf := make([]byte, 1500)
	for seq := 1; time.Now().Before(deadline); seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("lubdub")}}
		b, _ := msg.Marshal(nil)
		if _, err := c.WriteTo(b, dst); err != nil {
			return fmt.Errorf("ping %s: %w", a, err)
		}
		c.SetReadDeadline(minTime(deadline, time.Now().Add(time.Second)))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break // next echo, or the deadline
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && from.String() == a.String() {
				return nil
			}
		}
	}
	return fmt.Errorf("ping %s: no reply", a)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// external runs checkcommand VIP VPORT RIP RPORT; exit 0 is healthy. The
// command runs in its own process group, killed whole at the timeout.
func external(ctx context.Context, v *Virtual, r Real) error {
	vip, vport := v.Key.Addr.Addr().String(), strconv.Itoa(int(v.Key.Addr.Port()))
	if v.Key.Proto == "FWM" {
		vip, vport = strconv.Itoa(int(v.Key.FWMark)), "0"
	}
	cmd := exec.Command(v.CheckCommand, vip, vport, r.Addr.Addr().String(), strconv.Itoa(int(r.Addr.Port())))
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
			return fmt.Errorf("checkcommand %s exited %d", v.CheckCommand, ee.ExitCode())
		}
		return err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("checkcommand %s: no answer within %s", v.CheckCommand, v.CheckTimeout)
	}
}
