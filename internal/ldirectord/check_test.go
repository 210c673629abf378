package ldirectord

import (
	"net/netip"
	"testing"
)

// The address check_http asks, as ld_setup builds it: scheme://target/
// request; a real server's own request that is a whole URL of the scheme
// as it is; with service=http_proxy the request is the URL the proxy is
// asked for.
func TestHTTPURL(t *testing.T) {
	r := Real{Addr: netip.MustParseAddrPort("198.18.1.11:8080"), PortGiven: true}
	for _, c := range []struct {
		service, realRequest, request, want string
	}{
		{"http", "", "/index.html", "http://198.18.1.11:8080/index.html"},
		{"https", "", "/", "https://198.18.1.11:8080/"},
		{"http", "/alive", "/alive", "http://198.18.1.11:8080/alive"},
		{"http", "/http://www.example.com/x", "/http://www.example.com/x", "http://www.example.com/x"},
		{"https", "/http://www.example.com/x", "/http://www.example.com/x", "https://198.18.1.11:8080/http://www.example.com/x"},
		{"http_proxy", "", "/http://www.example.com/status", "http://www.example.com/status"},
		{"http_proxy", "/http://a.example/b", "/http://a.example/b", "http://a.example/b"},
		{"http_proxy", "/status", "/status", "http://198.18.1.11:8080/status"},
	} {
		v := &Virtual{Service: c.service}
		rr := r
		rr.Request = c.realRequest
		if got := HTTPURL(v, rr, c.request); got != c.want {
			t.Errorf("service=%s, real's request %q, request %q: %s, want %s", c.service, c.realRequest, c.request, got, c.want)
		}
	}
}
