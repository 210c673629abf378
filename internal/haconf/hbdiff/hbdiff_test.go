package hbdiff

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/haconf"
)

// WriteDir writes a variant's files as a configuration directory.
func writeDir(t *testing.T, v Variant) string {
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

func TestBaseAcceptedWithoutWarnings(t *testing.T) {
	cfg, rep := haconf.Load(writeDir(t, Variant{Files: Base()}), haconf.Options{Node: Node})
	if len(rep.Errors) != 0 || len(rep.Warnings) != 0 {
		t.Fatalf("base: errors %v warnings %v", rep.Errors, rep.Warnings)
	}
	if got := FromLubdub(cfg, rep); got.Auth != "1 sha1" || strings.Join(got.Nodes, ",") != "node1,node2" {
		t.Fatalf("base read as %+v", got)
	}
}

// The catalog is fixed (the sample CI runs is a stable subset), its names
// are unique, and random variants depend on the seed only.
func TestGeneratorDeterministic(t *testing.T) {
	a, b := Catalog(), Catalog()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("catalog differs between calls")
	}
	names := map[string]bool{}
	for _, v := range a {
		if names[v.Name] {
			t.Errorf("duplicate variant name %q", v.Name)
		}
		names[v.Name] = true
	}
	if len(a) < 300 {
		t.Errorf("catalog has %d variants", len(a))
	}
	r1, r2, r3 := Random(7, 20), Random(7, 20), Random(8, 20)
	if !reflect.DeepEqual(r1, r2) || reflect.DeepEqual(r1, r3) || len(r1) != 20 {
		t.Fatal("random variants are not a function of the seed")
	}
	for _, v := range Sample() {
		if !names[v.Name] {
			t.Errorf("sample variant %q is not in the catalog", v.Name)
		}
	}
	for name := range Deliberate {
		if !names[name] {
			t.Errorf("deliberate difference %q names no catalog variant", name)
		}
	}
}

func TestFromHeartbeatDump(t *testing.T) {
	dump := "cluster\tlinux-ha\t#\tthe name of cluster\nkeepalive\t500ms\t#\tkeepalive time\n" +
		"node node1\t#\t current status: init\nnode node2\t#\t current status: init\n" +
		"#\n# UDP/IP broadcast heartbeat channel -------------\nbcast eth0\n" +
		"#\n# UDP/IP unicast heartbeat channel -------------\nucast eth1\n#---\n"
	log := "info: AUTH: i=1: key = 0x1, auth=0x2, authname=sha1\ninfo: AUTH: i=2: key = 0x1, auth=0x2, authname=md5\ndebug: Outbound signing method is 2\n"
	r := FromHeartbeat(true, dump, log)
	want := Reading{Accepted: true, Params: map[string]string{"cluster": "linux-ha", "keepalive": "500ms"},
		Nodes: []string{"node1", "node2"}, Media: []string{"bcast eth0", "ucast eth1"}, Auth: "2 md5"}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
}

// Each deliberate difference holds on lubdub's side without Heartbeat:
// lubdub still refuses (or accepts) the variant as doc/differences.md
// says.
func TestDeliberateDifferencesLubdubSide(t *testing.T) {
	byName := map[string]Variant{}
	for _, v := range Catalog() {
		byName[v.Name] = v
	}
	for name, d := range Deliberate {
		v := byName[name]
		_, rep := haconf.Load(writeDir(t, v), haconf.Options{Node: Node})
		refused := len(rep.Errors) > 0
		switch d.Diff {
		case lubdubRefuses:
			if !refused {
				t.Errorf("%s: lubdub accepts it; doc/differences.md says it refuses it (%s)", name, d.Why)
			}
		case lubdubAccepts:
			if refused {
				t.Errorf("%s: lubdub refuses it (%v); doc/differences.md says it accepts it (%s)", name, rep.Errors, d.Why)
			}
		}
	}
}
