package haconf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/fence"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/haconf/hbdiff"
)

// Every case in hbdiff/testdata is read by lubdub as Heartbeat 3.0.6 read
// it: verdict, error or warning, and what it read (the end-to-end test
// TestConfigCasesHeartbeat checks each expectation against Heartbeat
// itself). The cases are haconf's tests: they run with its package, so
// that a change to haconf that reads a file otherwise than Heartbeat fails
// here.
func TestCasesAsHeartbeat(t *testing.T) {
	cases, err := hbdiff.LoadCases("hbdiff/testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases in hbdiff/testdata", len(cases))
	}
	// Heartbeat asks cluster-glue about stonith types and parameters;
	// lubdub does too, when cluster-glue is installed.
	plugins := fence.NewGluePlugins(nil)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if plugins == nil && strings.HasPrefix(c.Name, "stonith") {
				t.Skip("cluster-glue is not installed: stonith lines cannot be checked as Heartbeat checks them")
			}
			cfg, rep := haconf.Load(writeVariant(t, c.Variant), haconf.Options{Node: hbdiff.Node, Stonith: plugins})
			var warnings []string
			for _, w := range rep.Warnings {
				warnings = append(warnings, w.Msg)
			}
			if d := c.Check(hbdiff.FromLubdub(cfg, rep), warnings); len(d) != 0 {
				t.Errorf("%s\n%s", c.Doc, strings.Join(d, "\n"))
			}
		})
	}
}

// writeVariant writes a variant's files as a configuration directory,
// each at its mode (authkeys 0600 unless the variant says otherwise).
func writeVariant(t *testing.T, v hbdiff.Variant) string {
	t.Helper()
	dir := t.TempDir()
	for f, text := range v.Files {
		mode := os.FileMode(0o644)
		if f == "authkeys" {
			mode = 0o600
		}
		if m, ok := v.Modes[f]; ok {
			mode = m
		}
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
