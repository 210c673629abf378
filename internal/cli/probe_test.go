package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An answer whose body is cut short (the web server stopped between its
// headers and its body, as during a move) is a failure, not a good
// answer with an empty page.
func TestProbeBodyCutShort(t *testing.T) {
	cut := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cut {
			w.Write([]byte("node1\n"))
			return
		}
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("no"))
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	p := &prober{out: &out, start: time.Now(),
		client: &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}}}
	for i, want := range []bool{true, false, true} {
		cut = !want
		if got := p.once(context.Background(), srv.URL); got != want {
			t.Fatalf("request %d: answered %v, want %v:\n%s", i, got, want, out.String())
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], " fail body: ") || !strings.Contains(lines[2], " ok node1 (outage ") {
		t.Errorf("probe printed:\n%s\nwant node1, a failure, then node1 ending an outage", out.String())
	}
}
