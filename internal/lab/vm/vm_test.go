package vm

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func newImage(t *testing.T, spec Spec) *Image {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("VM tests need root (apt-get download into the cache)")
	}
	im, err := New(context.Background(), t.TempDir(), spec)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no VM here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// One boot: the script's output and exit status come back, modules are
// loaded with their dependencies, and a Debian program runs with its
// libraries.
func TestRun(t *testing.T) {
	im := newImage(t, Spec{Modules: []string{"ip_vs_rr"}, Programs: []string{"/usr/sbin/ipvsadm"}})
	res, err := im.Run(context.Background(), `
grep -o '^ip_vs_rr\|^nf_conntrack ' /proc/modules
ipvsadm -A -t 198.18.0.10:80 -s rr && ipvsadm -S -n
echo to-stderr >&2
exit 7
`, RunOptions{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot and script: %s", res.Elapsed)
	if res.Exit != 7 {
		t.Errorf("exit %d, want 7; output:\n%s", res.Exit, res.Output)
	}
	for _, want := range []string{"ip_vs_rr\n", "nf_conntrack \n", "-A -t 198.18.0.10:80 -s rr\n", "to-stderr\n"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output lacks %q:\n%s\nconsole:\n%s", want, res.Output, res.Console)
		}
	}
}

// A guest that never finishes is killed at the timeout, and Run says so.
func TestRunTimeout(t *testing.T) {
	im := newImage(t, Spec{})
	start := time.Now()
	_, err := im.Run(context.Background(), "sleep 600\n", RunOptions{Timeout: 12 * time.Second})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Run returned after %s with a 12 s timeout", d)
	}
}

func TestModuleOrder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	k, err := FetchKernel(context.Background(), CacheDir())
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no kernel package here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	order, err := k.ModuleOrder([]string{"ip_vs", "ipip"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, p := range order {
		pos[strings.TrimSuffix(p[strings.LastIndex(p, "/")+1:], ".ko")] = i + 1
	}
	for _, dep := range [][2]string{{"nf_conntrack", "ip_vs"}, {"libcrc32c", "nf_conntrack"}, {"tunnel4", "ipip"}, {"ip_tunnel", "ipip"}} {
		if pos[dep[0]] == 0 || pos[dep[0]] > pos[dep[1]] {
			t.Errorf("%s must load before %s: %v", dep[0], dep[1], order)
		}
	}
	if _, err := k.ModuleOrder([]string{"no_such_module"}); err == nil {
		t.Error("an unknown module was accepted")
	}
}
