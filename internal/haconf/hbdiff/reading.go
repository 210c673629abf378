package hbdiff

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/lubdub/lubdub/internal/haconf"
)

// Reading is what a parser made of a configuration directory.
type Reading struct {
	Accepted bool
	// Params are the directive values as recorded for cl_status
	// hbparameter (Heartbeat's dump_config), defaults included.
	Params map[string]string
	Nodes  []string // in ha.cf order
	Media  []string // "bcast eth0", in ha.cf order
	Auth   string   // the signing key: "1 sha1"
	Errors []string // why it was refused, for the report
}

var (
	dumpParamRE = regexp.MustCompile(`^([a-z_0-9]+)\t(.*?)\t#\t`)
	dumpNodeRE  = regexp.MustCompile(`^node (\S+)\t#`)
	dumpMediaRE = regexp.MustCompile(`^# .* heartbeat channel -+$`)
	authRE      = regexp.MustCompile(`AUTH: i=(\d+): .*authname=(\S+)`)
	signRE      = regexp.MustCompile(`Outbound signing method is (\d+)`)
	hbErrorRE   = regexp.MustCompile(`(?:ERROR|WARN): (.*)`)
)

// FromHeartbeat reads Heartbeat's verdict, its -v dump (stdout) and its
// log.
func FromHeartbeat(accepted bool, dump, log string) Reading {
	r := Reading{Accepted: accepted, Params: map[string]string{}}
	lines := strings.Split(dump, "\n")
	for i, l := range lines {
		if m := dumpParamRE.FindStringSubmatch(l); m != nil {
			r.Params[m[1]] = m[2]
		} else if m := dumpNodeRE.FindStringSubmatch(l); m != nil {
			r.Nodes = append(r.Nodes, m[1])
		} else if dumpMediaRE.MatchString(l) && i+1 < len(lines) {
			r.Media = append(r.Media, lines[i+1])
		}
	}
	keys := map[string]string{}
	for _, m := range authRE.FindAllStringSubmatch(log, -1) {
		keys[m[1]] = m[2]
	}
	if m := signRE.FindStringSubmatch(log); m != nil {
		r.Auth = m[1] + " " + keys[m[1]]
	}
	if !accepted {
		seen := map[string]bool{}
		for _, m := range hbErrorRE.FindAllStringSubmatch(log, -1) {
			if seen[m[1]] || strings.Contains(m[1], "Core dumps") || strings.Contains(m[1], "core_") || strings.Contains(m[1], "Logging daemon") {
				continue
			}
			seen[m[1]] = true
			r.Errors = append(r.Errors, m[1])
		}
	}
	return r
}

// FromLubdub reads lubdub's Config and Report the same way.
func FromLubdub(c *haconf.Config, rep *haconf.Report) Reading {
	r := Reading{Accepted: len(rep.Errors) == 0, Params: map[string]string{}}
	for k, v := range c.Params {
		r.Params[k] = v
	}
	// Heartbeat's node table holds the ping nodes too, and its media the
	// ping and ping_group lines, in file order.
	r.Nodes = append(r.Nodes, c.Nodes...)
	pings := c.PingNodes
	for _, m := range c.Media {
		for len(pings) > 0 && pings[0].Line < m.Line {
			r.Media = append(r.Media, pingMedium(pings[0]))
			pings = pings[1:]
		}
		r.Media = append(r.Media, m.Type+" "+m.Dev)
	}
	for _, p := range pings {
		r.Media = append(r.Media, pingMedium(p))
	}
	for _, p := range c.PingNodes {
		r.Nodes = append(r.Nodes, p.Name)
	}
	if c.Keys != nil {
		if k, ok := c.Keys.Keys[c.Keys.Send]; ok {
			r.Auth = fmt.Sprintf("%d %s", k.Index, k.Method)
		}
	}
	for _, d := range rep.Errors {
		r.Errors = append(r.Errors, d.String())
	}
	return r
}

// Compare lists how lub differs from hb: the verdict and, when both
// accepted, each parameter Heartbeat records, the nodes, the media and the
// signing key. Parameters listed in ignore are skipped.
func Compare(hb, lub Reading, ignore map[string]bool) []string {
	if hb.Accepted != lub.Accepted {
		return []string{fmt.Sprintf("verdict: heartbeat %s, lubdub %s", verdict(hb), verdict(lub))}
	}
	if !hb.Accepted {
		return nil
	}
	var d []string
	names := make([]string, 0, len(hb.Params))
	for k := range hb.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if ignore[k] {
			continue
		}
		if lv, ok := lub.Params[k]; !ok || lv != hb.Params[k] {
			if !ok {
				lv = "(none)"
			}
			d = append(d, fmt.Sprintf("hbparameter %s: heartbeat %q, lubdub %q", k, hb.Params[k], lv))
		}
	}
	if a, b := strings.Join(hb.Nodes, ","), strings.Join(lub.Nodes, ","); a != b {
		if strings.Join(dedupe(hb.Nodes), ",") == b {
			d = append(d, fmt.Sprintf("nodes: heartbeat lists a node more than once (%s), lubdub once each", a))
		} else {
			d = append(d, fmt.Sprintf("nodes: heartbeat %s, lubdub %s", a, b))
		}
	}
	if a, b := strings.Join(hb.Media, ","), strings.Join(lub.Media, ","); a != b {
		d = append(d, fmt.Sprintf("media: heartbeat %s, lubdub %s", a, b))
	}
	// Heartbeat names its keys only in debug lines, which a debug 0 in
	// the file silences.
	if hb.Auth != "" && hb.Auth != lub.Auth {
		d = append(d, fmt.Sprintf("signing key: heartbeat %q, lubdub %q", hb.Auth, lub.Auth))
	}
	return d
}

func verdict(r Reading) string {
	if r.Accepted {
		return "accepted"
	}
	if len(r.Errors) > 0 {
		return "refused (" + strings.Join(r.Errors, "; ") + ")"
	}
	return "refused"
}

func dedupe(names []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// OnlyDeliberate reports whether every difference in diffs is one of the
// deliberate ones (as random combinations produce them).
func OnlyDeliberate(diffs []string) bool {
	for _, d := range diffs {
		known := false
		for _, dd := range Deliberate {
			if dd.Diff != lubdubRefuses && dd.Diff != lubdubAccepts && strings.Contains(d, dd.Diff) {
				known = true
			}
		}
		if !known {
			return false
		}
	}
	return len(diffs) > 0
}

// pingMedium is a ping node's medium as Heartbeat names it.
func pingMedium(p haconf.PingNode) string {
	if p.Group {
		return "ping_group " + p.Name
	}
	return "ping " + p.Name
}
