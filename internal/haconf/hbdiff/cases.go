package hbdiff

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Case is one testdata file: a configuration directory and what
// Heartbeat 3.0.6 made of it, as lubdub must read it too.
//
// The file is a comment (what it checks and Heartbeat's source for it),
// expectation lines, then the files, each after a "-- NAME --" line:
//
//	verdict: accepted | refused
//	param NAME: VALUE      (cl_status hbparameter -p NAME)
//	nodes: a,b
//	media: bcast eth0,ucast eth0
//	auth: 1 sha1
//	mode authkeys: 0620
//	lubdub warnings: none  (lubdub only: no warning either)
//	lubdub error: TEXT     (lubdub only: a refusal names this)
type Case struct {
	Name       string
	Doc        string
	Variant    Variant
	Want       Reading // Params, Nodes, Media, Auth as far as given
	NoWarnings bool
	ErrorText  string
}

// LoadCases reads every *.txt case under dir.
func LoadCases(dir string) ([]Case, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	var out []Case
	for _, p := range paths {
		c, err := loadCase(p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func loadCase(path string) (Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Case{}, err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".txt")
	c := Case{Name: name, Variant: Variant{Name: name, Files: map[string]string{}, Modes: map[string]os.FileMode{}}, Want: Reading{Params: map[string]string{}}}
	file := ""
	verdict := false
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	lineNo := 0
	for sc.Scan() {
		lineNo++
		l := sc.Text()
		if strings.HasPrefix(l, "-- ") && strings.HasSuffix(l, " --") {
			file = strings.TrimSuffix(strings.TrimPrefix(l, "-- "), " --")
			c.Variant.Files[file] += ""
			continue
		}
		if file != "" {
			c.Variant.Files[file] += strings.ReplaceAll(l, `\r`, "\r") + "\n"
			continue
		}
		bad := func() error { return fmt.Errorf("%s:%d: cannot read %q", path, lineNo, l) }
		k, v, ok := strings.Cut(l, ": ")
		switch {
		case !ok:
			c.Doc += l + "\n"
		case k == "verdict":
			if v != "accepted" && v != "refused" {
				return c, bad()
			}
			c.Want.Accepted, verdict = v == "accepted", true
		case strings.HasPrefix(k, "param "):
			c.Want.Params[strings.TrimPrefix(k, "param ")] = v
		case k == "nodes":
			c.Want.Nodes = strings.Split(v, ",")
		case k == "media":
			c.Want.Media = strings.Split(v, ",")
		case k == "auth":
			c.Want.Auth = v
		case strings.HasPrefix(k, "mode "):
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return c, bad()
			}
			c.Variant.Modes[strings.TrimPrefix(k, "mode ")] = os.FileMode(m)
		case k == "lubdub warnings" && v == "none":
			c.NoWarnings = true
		case k == "lubdub error":
			c.ErrorText = v
		default:
			c.Doc += l + "\n"
		}
	}
	if !verdict {
		return c, fmt.Errorf("%s: no verdict line", path)
	}
	// "-- NAME --" with nothing after it is an empty file; a file the
	// case does not list is absent.
	return c, sc.Err()
}

// Check lists how a reading differs from the case's expectations (the
// reading's warnings and errors come with it for the lubdub-only lines).
func (c Case) Check(r Reading, warnings []string) []string {
	var d []string
	if r.Accepted != c.Want.Accepted {
		d = append(d, fmt.Sprintf("verdict %s, want %s", verdict(r), verdict(c.Want)))
	}
	for k, v := range c.Want.Params {
		if r.Params[k] != v {
			d = append(d, fmt.Sprintf("param %s = %q, want %q", k, r.Params[k], v))
		}
	}
	if c.Want.Nodes != nil && strings.Join(r.Nodes, ",") != strings.Join(c.Want.Nodes, ",") {
		d = append(d, fmt.Sprintf("nodes %v, want %v", r.Nodes, c.Want.Nodes))
	}
	if c.Want.Media != nil && strings.Join(r.Media, ",") != strings.Join(c.Want.Media, ",") {
		d = append(d, fmt.Sprintf("media %v, want %v", r.Media, c.Want.Media))
	}
	if c.Want.Auth != "" && r.Auth != c.Want.Auth {
		d = append(d, fmt.Sprintf("auth %q, want %q", r.Auth, c.Want.Auth))
	}
	if c.NoWarnings && len(warnings) > 0 {
		d = append(d, fmt.Sprintf("warnings %q, want none", warnings))
	}
	if c.ErrorText != "" && !strings.Contains(strings.Join(r.Errors, "\n"), c.ErrorText) {
		d = append(d, fmt.Sprintf("errors %q, want one saying %q", r.Errors, c.ErrorText))
	}
	return d
}
