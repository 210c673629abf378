package haconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plugins answers as cluster-glue's stonith -t TYPE -n does.
type plugins map[string][]string

func (p plugins) ConfigNames(typ string) ([]string, error) {
	if n, ok := p[typ]; ok {
		return n, nil
	}
	return nil, fmt.Errorf("stonith -t %s -n exited 8: %w", typ, ErrUnknownStonithType)
}

var gluePlugins = plugins{
	"null":          {"hostlist"},
	"baytech":       {"ipaddr", "login", "password"},
	"external/ipmi": {"hostname", "ipaddr", "userid", "passwd", "interface"},
	"meatware":      {"hostlist"},
}

func TestStonithAsHeartbeatReadsIt(t *testing.T) {
	cfgDir := t.TempDir()
	cfgFile := filepath.Join(cfgDir, "baytech.cfg")
	os.WriteFile(cfgFile, []byte("# the switch\n\n10.0.0.3 admin sec ret\nignored line\n"), 0o600)
	empty := filepath.Join(cfgDir, "empty.cfg")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	cases := []struct {
		name, lines string
		errs        []string // substrings of errors, in order
		warns       []string
		devices     int
	}{
		{name: "star", lines: "stonith_host * baytech 10.0.0.3 admin secret word\n", devices: 1},
		{name: "this node, upper case", lines: "stonith_host NODE1 null node2\n", devices: 1},
		{name: "other node: Heartbeat skips it, lubdub warns", lines: "stonith_host node2 nosuch x\n", devices: 0,
			warns: []string{"for node node2 (Heartbeat on this node skips the line): stonith_host: invalid stonith type nosuch"}},
		{name: "unknown type", lines: "stonith_host * nosuch x y\n", errs: []string{"invalid stonith type nosuch"}},
		{name: "too few params", lines: "stonith_host * baytech 10.0.0.3 admin\n", errs: []string{"invalid stonith configuration: 2 parameter(s) given, 3 needed"}},
		{name: "no type", lines: "stonith_host *   \n", errs: []string{"no stonith type given"}},
		{name: "no host", lines: "stonith_host\n", errs: []string{"no host given"}},
		{name: "config file", lines: "stonith baytech " + cfgFile + "\n", devices: 1},
		{name: "config file missing", lines: "stonith baytech /nonexistent/x.cfg\n", errs: []string{"invalid stonith config file \"/nonexistent/x.cfg\""}},
		{name: "config file without parameters", lines: "stonith baytech " + empty + "\n", errs: []string{"has no line of parameters"}},
		{name: "not a node", lines: "stonith_host node9 null a\n", devices: 1, warns: []string{"node9 is not a cluster node"}},
		{name: "comment leaves the blank", lines: "stonith_host * null node2 # power switch\n", devices: 1, warns: []string{"the blanks at the end of the line belong to the last parameter"}},
		{name: "two devices: the last is used", lines: "stonith_host * null node2\nstonith_host node1 meatware node2\n", devices: 2,
			warns: []string{"stonith_host null is not used on node1: Heartbeat keeps only the last stonith device that applies (line 4)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"ha.cf": "node node1 node2\nbcast eth0\n" + tc.lines, "authkeys": goodAuth})
			c, r := Load(dir, Options{Node: "node1", Stonith: gluePlugins})
			check := func(kind string, got []Diag, want []string) {
				if len(got) != len(want) {
					t.Fatalf("%s = %v; want %d containing %q", kind, got, len(want), want)
				}
				for i := range want {
					if !strings.Contains(got[i].Msg, want[i]) || got[i].Line < 3 {
						t.Errorf("%s[%d] = %v; want %q at line 3 or later", kind, i, got[i], want[i])
					}
				}
			}
			check("errors", r.Errors, tc.errs)
			var warns []Diag
			for _, w := range r.Warnings {
				if !strings.Contains(w.Msg, "initdead") {
					warns = append(warns, w)
				}
			}
			check("warnings", warns, tc.warns)
			if len(c.Stonith) != tc.devices {
				t.Errorf("devices = %+v; want %d", c.Stonith, tc.devices)
			}
		})
	}
}

func TestStonithReading(t *testing.T) {
	dir := write(t, map[string]string{"ha.cf": "node node1 node2\nbcast eth0\nstonith_host\t*  baytech 10.0.0.3, admin my  secret\r\nstonith_host node2 null node1\n", "authkeys": goodAuth})
	c, r := Load(dir, Options{Node: "node1", Stonith: gluePlugins})
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	d, ok := c.StonithFor("node1")
	if !ok || d.Line != 3 || d.FromHost != "*" || d.Type != "baytech" || d.Params != "10.0.0.3, admin my  secret" {
		t.Fatalf("node1 uses %+v", d)
	}
	// The comma is no delimiter for cluster-glue: it stays in the address.
	if d.Values["ipaddr"] != "10.0.0.3," || d.Values["login"] != "admin" || d.Values["password"] != "my  secret" {
		t.Errorf("values %q", d.Values)
	}
	if d2, _ := c.StonithFor("NODE2"); d2.Line != 4 || d2.Type != "null" {
		t.Errorf("node2 uses %+v", d2)
	}
	// Without cluster-glue to ask, the lines are kept unchecked, with a note.
	c, r = Load(dir, Options{Node: "node1"})
	if r.Err() != nil || len(c.Stonith) != 2 || c.Stonith[0].Values != nil {
		t.Errorf("without a checker: %v %+v", r.Err(), c.Stonith)
	}
	noted := false
	for _, n := range r.Notes {
		noted = noted || strings.Contains(n.Msg, "checked when cluster-glue is installed")
	}
	if !noted {
		t.Errorf("no note that stonith lines were not checked: %v", r.Notes)
	}
}

func FuzzStonithLine(f *testing.F) {
	f.Add("stonith_host * baytech 10.0.0.3 admin secret")
	f.Add("stonith null /etc/ha.d/x.cfg")
	f.Add("stonith_host\tnode2 external/ipmi a b c d e f g # x")
	f.Fuzz(func(t *testing.T, line string) {
		r := &Report{}
		c := &Config{Nodes: []string{"node1", "node2"}}
		p := &hacfParser{c: c, r: r, file: "ha.cf", opts: Options{Node: "node1", Stonith: gluePlugins}, node: "node1"}
		name, _ := nextToken(line)
		if name != "stonith" && name != "stonith_host" {
			return
		}
		p.stonithLine(name, wholeLineValue(line), 1)
		for _, d := range c.Stonith {
			if d.Type == "" || strings.ContainsAny(d.Type, whitespace) {
				t.Fatalf("type %q from %q", d.Type, line)
			}
			if d.FromHost != strings.ToLower(d.FromHost) {
				t.Fatalf("host %q not lower case", d.FromHost)
			}
			if d.FromHost != "" && d.Values != nil && len(d.Values) != len(gluePlugins[d.Type]) {
				t.Fatalf("values %v for %s", d.Values, d.Type)
			}
		}
	})
}
