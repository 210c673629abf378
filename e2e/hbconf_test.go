package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/fence"
	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/haconf/hbdiff"
	"github.com/lubdub/lubdub/internal/lab"
)

// needHeartbeat skips (or, in CI, fails) when Debian's heartbeat is absent.
func needHeartbeat(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(lab.HeartbeatBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Heartbeat is not installed (%v): .ci/run must install Debian's heartbeat package", err)
		}
		t.Skipf("Heartbeat is not installed (apt-get install heartbeat): %v", err)
	}
}

// hbChecker is a host with eth0 (198.18.200.1) and eth1 (198.18.201.1),
// the interfaces the variants name, and a Heartbeat checker in it.
func hbChecker(t *testing.T) *lab.HeartbeatChecker {
	l := newLab(t)
	must(t, l.Segment("br0", 200))
	must(t, l.Segment("br1", 201))
	h := addHost(t, l, "cfg", 1, "br0", "br1")
	c, err := h.NewHeartbeatChecker()
	must(t, err)
	t.Cleanup(c.Close)
	return c
}

// differ runs one variant through Heartbeat and lubdub and returns how
// lubdub's reading differs from Heartbeat's.
func differ(t *testing.T, c *lab.HeartbeatChecker, v hbdiff.Variant) (hb, lub hbdiff.Reading, diffs []string) {
	t.Helper()
	hv, err := c.Check(hbdiff.Node, v.Files, v.Modes, 10*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	hb = hbdiff.FromHeartbeat(hv.Accepted, hv.Dump, hv.Log)
	if _, ok := hb.Params["debug"]; ok && !hasDirective(v.Files["ha.cf"], "debug") {
		hb.Params["debug"] = "0" // what it records without the checker's -d
	}
	cfg, rep := haconf.Load(c.Dir(), haconf.Options{Node: hbdiff.Node, Stonith: fence.NewGluePlugins(nil)})
	lub = hbdiff.FromLubdub(cfg, rep)
	return hb, lub, hbdiff.Compare(hb, lub, hbdiff.Ignored)
}

// The configuration parsers against Heartbeat 3.0.6's, variant by variant:
// the verdict and the reading must agree, except for the deliberate
// differences (doc/differences.md), which must still differ as described.
// CI runs a sample; LUBDUB_HBDIFF=full runs the whole catalog and
// LUBDUB_HBDIFF_RANDOM=N (with LUBDUB_HBDIFF_SEED) adds N random
// combinations.
func TestConfigDifferentialHeartbeat(t *testing.T) {
	needHeartbeat(t)
	c := hbChecker(t)
	variants := hbdiff.Sample()
	if os.Getenv("LUBDUB_HBDIFF") == "full" {
		variants = hbdiff.Catalog()
	}
	if n, _ := strconv.Atoi(os.Getenv("LUBDUB_HBDIFF_RANDOM")); n > 0 {
		seed, _ := strconv.ParseInt(os.Getenv("LUBDUB_HBDIFF_SEED"), 10, 64)
		variants = append(variants, hbdiff.Random(seed, n)...)
	}
	start := time.Now()
	agree := 0
	for _, v := range variants {
		hb, lub, diffs := differ(t, c, v)
		if part := deliberatePart(v); part != "" {
			// A combination with a deliberate difference in it: lubdub
			// may differ for that part's reason; not compared.
			t.Logf("%s: not compared (contains the deliberate difference %s)", v.Name, part)
			continue
		}
		if want, deliberate := hbdiff.Deliberate[v.Name]; deliberate {
			if got := strings.Join(diffs, "; "); !strings.Contains(got, want.Diff) {
				t.Errorf("%s: deliberate difference %q not seen; differences now: %q", v.Name, want.Diff, got)
			}
			continue
		}
		if hbdiff.OnlyDeliberate(diffs) {
			t.Logf("%s: only deliberate differences: %s", v.Name, strings.Join(diffs, "; "))
			continue
		}
		if len(diffs) != 0 {
			t.Errorf("%s: %s\n  heartbeat: %q\n  lubdub: %q", v.Name, strings.Join(diffs, "; "), hb.Errors, lub.Errors)
			continue
		}
		agree++
	}
	t.Logf("%d variants in %v, %d agree, %d deliberate differences", len(variants), time.Since(start).Round(time.Millisecond), agree, len(variants)-agree)
}

func hasDirective(hacf, name string) bool {
	for _, l := range strings.Split(hacf, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// Every case in internal/haconf/hbdiff/testdata says what Heartbeat 3.0.6
// made of its files: check that against Heartbeat itself (the unit test
// TestCasesAsHeartbeat in internal/haconf checks lubdub against the same
// lines).
func TestConfigCasesHeartbeat(t *testing.T) {
	needHeartbeat(t)
	cases, err := hbdiff.LoadCases("../internal/haconf/hbdiff/testdata")
	must(t, err)
	c := hbChecker(t)
	for _, tc := range cases {
		hv, err := c.Check(hbdiff.Node, tc.Variant.Files, tc.Variant.Modes, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		hb := hbdiff.FromHeartbeat(hv.Accepted, hv.Dump, hv.Log)
		if _, ok := hb.Params["debug"]; ok && !hasDirective(tc.Variant.Files["ha.cf"], "debug") {
			hb.Params["debug"] = "0"
		}
		heartbeatOnly := tc
		heartbeatOnly.NoWarnings, heartbeatOnly.ErrorText = false, ""
		if d := heartbeatOnly.Check(hb, nil); len(d) != 0 {
			t.Errorf("%s: Heartbeat does not read it as the case says: %s\n  heartbeat: %q", tc.Name, strings.Join(d, "; "), hb.Errors)
		}
	}
}

func deliberatePart(v hbdiff.Variant) string {
	for _, p := range v.Parts {
		if _, ok := hbdiff.Deliberate[p]; ok {
			return p
		}
	}
	return ""
}
