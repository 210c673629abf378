package fence

import (
	"strings"
	"testing"
)

func FuzzParseAgentList(f *testing.F) {
	f.Add("1,web1\n2,db1,ON\n", ",")
	f.Add("N/A\n", ",")
	f.Add("a:b:c\n\n:x\n", ":")
	f.Fuzz(func(t *testing.T, s, sep string) {
		plugs, err := ParseAgentList(s, sep)
		if err != nil {
			return
		}
		for _, p := range plugs {
			if p.Plug == "" || strings.ContainsAny(p.Plug, "\n") {
				t.Fatalf("bad plug %q from %q", p.Plug, s)
			}
		}
	})
}

func FuzzParseAgentMetadata(f *testing.F) {
	f.Add([]byte(`<resource-agent name="x"><parameters><parameter name="plug" required="1"><content type="string" default="a"/></parameter></parameters><actions><action name="on"/></actions></resource-agent>`))
	f.Add([]byte(`<?xml version="1.0" ?><resource-agent name="" />`))
	f.Add([]byte(`<<<`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseAgentMetadata(b)
		if err != nil {
			return
		}
		if m.Name == "" {
			t.Fatal("metadata without a name accepted")
		}
		for _, p := range m.Parameters {
			if p.Name == "" || !m.HasParameter(p.Name) {
				t.Fatalf("parameter %+v", p)
			}
		}
	})
}

// parseStdin is fencing.py's _parse_input_stdin, for the round trip.
func parseStdin(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, "=")
		out[name] = value
	}
	return out
}

func FuzzStdin(f *testing.F) {
	f.Add("ip", "198.18.0.1", "passwd", "a=b c")
	f.Add("action", "off\nplug=x", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		opts := map[string]string{k1: v1, k2: v2}
		s, err := Stdin(opts)
		if err != nil {
			return
		}
		got := parseStdin(s)
		for k, v := range opts {
			// fencing.py strips each line: edge white space of a value is
			// lost, and surrounding quotes removed; neither injects an option.
			if strings.TrimSpace(v) != v {
				continue
			}
			if got[k] != v {
				t.Fatalf("option %q=%q read back as %q from %q", k, v, got[k], s)
			}
		}
		if len(got) != len(opts) {
			t.Fatalf("%d options written, %d read back from %q", len(opts), len(got), s)
		}
	})
}

func FuzzSplitGlueParams(f *testing.F) {
	f.Add("ipaddr login password", "10.0.0.3 admin my secret")
	f.Add("a", "")
	f.Fuzz(func(t *testing.T, names, params string) {
		ns := strings.Fields(names)
		uniq := map[string]bool{}
		for _, n := range ns {
			if uniq[n] {
				return // a plugin's names are distinct
			}
			uniq[n] = true
		}
		m, err := SplitGlueParams(ns, params)
		if err != nil {
			if len(strings.Fields(params)) >= len(ns) {
				t.Fatalf("%d words for %d names refused: %v", len(strings.Fields(params)), len(ns), err)
			}
			return
		}
		for i, n := range ns {
			if _, ok := m[n]; !ok {
				t.Fatalf("name %s missing", n)
			}
			if i < len(ns)-1 && strings.ContainsAny(m[n], " \t\n\r\f") {
				t.Fatalf("value %q of %s holds a delimiter", m[n], n)
			}
		}
	})
}

func FuzzParseHostList(f *testing.F) {
	f.Add("node1\nnode2 node1\n")
	f.Fuzz(func(t *testing.T, s string) {
		seen := map[string]bool{}
		for _, h := range ParseHostList(s) {
			if h == "" || seen[h] || strings.ContainsAny(h, " \t\n") {
				t.Fatalf("bad host %q in %q", h, s)
			}
			seen[h] = true
		}
	})
}
