package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/lvs"
)

// memDP is an in-memory data path: the command's logic without a kernel.
type memDP struct {
	t     lvs.Table
	syncs int
}

func (m *memDP) Name() string { return "memory" }
func (m *memDP) Load(keys []lvs.Key, _ bool) (*lvs.Table, error) {
	out := &lvs.Table{}
	for _, s := range m.t.Clone().Services {
		if keys == nil {
			out.Services = append(out.Services, s)
			continue
		}
		for _, k := range keys {
			if k == s.Key {
				out.Services = append(out.Services, s)
			}
		}
	}
	return out, nil
}
func (m *memDP) Sync(old, new *lvs.Table) error {
	m.syncs++
	keep := &lvs.Table{}
	for _, s := range m.t.Services {
		gone := false
		for _, o := range old.Services {
			gone = gone || o.Key == s.Key
		}
		if !gone {
			keep.Services = append(keep.Services, s)
		}
	}
	m.t.Services = append(keep.Services, new.Clone().Services...)
	return nil
}
func (m *memDP) Zero([]lvs.Key) error { return nil }
func (m *memDP) Close() error         { return nil }

func lvsRun(t *testing.T, dp *memDP, stdin string, args ...string) (string, error) {
	t.Helper()
	c, err := lvs.Parse(args)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = runLVS(&Env{Stdout: &out, Stderr: &out}, dp, c, strings.NewReader(stdin))
	return out.String(), err
}

func TestLVSRestoreIsAllOrNothing(t *testing.T) {
	dp := &memDP{}
	if _, err := lvsRun(t, dp, "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -m\n-a -t 198.18.0.99:80 -r 198.18.1.2 -m\n", "-R"); err == nil ||
		!strings.Contains(err.Error(), "Service not defined") {
		t.Fatalf("got %v", err)
	}
	if dp.syncs != 0 || len(dp.t.Services) != 0 {
		t.Fatalf("a failed restore changed the kernel: %d syncs, %v", dp.syncs, dp.t.Services)
	}
	if _, err := lvsRun(t, dp, "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -m\n", "-R"); err != nil {
		t.Fatal(err)
	}
	if dp.syncs != 1 {
		t.Errorf("restore took %d transactions, want 1", dp.syncs)
	}
	out, err := lvsRun(t, dp, "", "-S", "-n")
	if err != nil || out != "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 1\n" {
		t.Errorf("-S: %q %v", out, err)
	}
	if _, err := lvsRun(t, dp, "", "-A", "-t", "198.18.0.10:80", "-s", "rr"); err == nil || err.Error() != "Service already exists" {
		t.Errorf("second -A: %v", err)
	}
	if _, err := lvsRun(t, dp, "", "-L", "-n", "-t", "198.18.0.11:80"); err == nil || err.Error() != "No such service" {
		t.Errorf("-L of a missing service: %v", err)
	}
}
