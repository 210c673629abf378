package haconf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Fencing in lubdub.cf: devices and Pacemaker's fencing topology.
//
//	fence_device NAME AGENT [key=value ...]
//	fencing_level NODE INDEX DEVICE[,DEVICE...]
//
// fence_device defines a device. AGENT is one of:
//
//	fence_NAME (or a path to it)  a Red Hat style agent (fence-agents):
//	                              the key=value pairs go to its standard input
//	external/NAME                 a cluster-glue external plugin, called
//	                              directly, the pairs in its environment
//	glue:TYPE                     any cluster-glue plugin through its stonith
//	                              command (glue:baytech, glue:external/ipmi),
//	                              the pairs as stonith -E takes them
//
// Values may be double-quoted to hold blanks ("a b"); \" and \\ inside
// quotes stand for " and \. Keys that start with pcmk_ are lubdub's, as in
// Pacemaker, and are not passed to the device: pcmk_host_list=n1,n2 (the
// nodes the device fences; without it the device is asked),
// pcmk_host_map=n1:plug1;n2:plug2 (a node's plug, for fence_* agents),
// pcmk_host_argument=plug|port|none, pcmk_reboot_timeout,
// pcmk_monitor_timeout and pcmk_list_timeout (Heartbeat times, default
// 60s), pcmk_delay_base (a delay before this device fences, against both
// nodes of a pair shooting each other).
//
// fencing_level is Pacemaker's fencing-level (target NODE, index INDEX,
// devices DEVICE,...): a node's levels are tried in ascending INDEX (1 to
// 9) until one succeeds, and a level succeeds only when every one of its
// devices does. The device of ha.cf's stonith/stonith_host lines that
// this node uses is named "ha.cf" and may appear in a level. A node
// without levels is fenced by every device that lists it, in file order
// (ha.cf's device first), each a level of its own: Pacemaker's behaviour
// without a topology.
//
// In Pacemaker's CIB, "fence_device ipmi2 fence_ipmilan ip=198.18.0.12
// pcmk_host_list=node2" is <primitive id="ipmi2" class="stonith"
// type="fence_ipmilan"> with those instance attributes, and
// "fencing_level node2 1 ipmi2" is <fencing-level id="fl-node2-1"
// target="node2" index="1" devices="ipmi2"/> (pcs stonith level add 1
// node2 ipmi2).

// FenceDevice is a fence_device line.
type FenceDevice struct {
	Line  int
	Name  string
	Agent string // as written
	// Kind is "agent" (fence_*), "external" (external/NAME called
	// directly) or "glue" (through cluster-glue's stonith command).
	Kind string
	// Plugin is the agent or plugin: "fence_ipmilan", "external/ipmi",
	// "baytech".
	Plugin string
	Params map[string]string // passed to the device

	HostList       []string          // pcmk_host_list
	HostMap        map[string]string // pcmk_host_map
	HostArgument   string            // pcmk_host_argument
	RebootTimeout  time.Duration     // pcmk_reboot_timeout, also for off and on
	MonitorTimeout time.Duration     // pcmk_monitor_timeout
	ListTimeout    time.Duration     // pcmk_list_timeout
	DelayBase      time.Duration     // pcmk_delay_base
}

// FencingLevel is a fencing_level line.
type FencingLevel struct {
	Line    int
	Node    string
	Index   int
	Devices []string
}

// HacfDevice is the name a fencing_level gives ha.cf's stonith device.
const HacfDevice = "ha.cf"

// SplitWords splits a lubdub.cf line into words: white space separates
// them, double quotes keep blanks in a word, and inside quotes \" and \\
// are " and \.
func SplitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuote && ch == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			i++
			cur.WriteByte(s[i])
		case ch == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (ch == ' ' || ch == '\t' || ch == '\r'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			if ch == '\n' || ch == 0 {
				return nil, fmt.Errorf("a line break or NUL byte cannot be part of a value")
			}
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("a double quote is not closed")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

var validName = func(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// parseFenceDevice reads the words of a fence_device line.
func parseFenceDevice(file string, line int, words []string, r *Report) (FenceDevice, bool) {
	d := FenceDevice{Line: line, Params: map[string]string{}}
	if len(words) < 3 {
		r.errorf(file, line, "fence_device takes NAME AGENT [key=value ...] (for example: fence_device ipmi2 fence_ipmilan ip=198.18.0.12 username=admin password=secret lanplus=1 pcmk_host_list=node2)")
		return d, false
	}
	d.Name, d.Agent = words[1], words[2]
	ok := true
	if !validName(d.Name) || d.Name == HacfDevice {
		r.errorf(file, line, "fence_device: %q is not a usable device name (letters, digits, '-', '_', '.'; %q is ha.cf's device)", d.Name, HacfDevice)
		ok = false
	}
	a := d.Agent
	base := a[strings.LastIndexByte(a, '/')+1:]
	switch {
	case strings.HasPrefix(a, "glue:"):
		d.Kind, d.Plugin = "glue", strings.TrimPrefix(a, "glue:")
		if d.Plugin == "" || strings.HasPrefix(d.Plugin, "-") || strings.ContainsAny(d.Plugin, " \t") {
			r.errorf(file, line, "fence_device %s: %q names no cluster-glue type (glue:TYPE, for example glue:baytech; stonith -L lists them)", d.Name, a)
			ok = false
		}
	case strings.HasPrefix(a, "external/") && !strings.Contains(strings.TrimPrefix(a, "external/"), "/"):
		d.Kind, d.Plugin = "external", a
		if a == "external/" {
			r.errorf(file, line, "fence_device %s: external/ needs a plugin name (ls /usr/lib/stonith/plugins/external)", d.Name)
			ok = false
		}
	case strings.HasPrefix(base, "fence_") && (!strings.Contains(a, "/") || strings.HasPrefix(a, "/")):
		d.Kind, d.Plugin = "agent", a
	default:
		r.errorf(file, line, "fence_device %s: agent %q is neither a fence_* agent, external/NAME nor glue:TYPE", d.Name, a)
		ok = false
	}
	for _, kv := range words[3:] {
		k, v, found := strings.Cut(kv, "=")
		if !found || k == "" {
			r.errorf(file, line, "fence_device %s: %q is not key=value", d.Name, kv)
			ok = false
			continue
		}
		if !validName(k) {
			r.errorf(file, line, "fence_device %s: %q is not a parameter name", d.Name, k)
			ok = false
			continue
		}
		dur := func(dst *time.Duration) {
			t, err := ParseTime(v)
			if err != nil {
				r.errorf(file, line, "fence_device %s: %s: %v", d.Name, k, err)
				ok = false
				return
			}
			*dst = t
		}
		if _, dup := d.Params[k]; dup {
			r.errorf(file, line, "fence_device %s: %s is given twice", d.Name, k)
			ok = false
		}
		switch k {
		case "pcmk_host_list":
			for _, h := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
				d.HostList = append(d.HostList, strings.ToLower(h))
			}
		case "pcmk_host_map":
			d.HostMap = map[string]string{}
			for _, pair := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
				n, plug, found := strings.Cut(pair, ":")
				if !found || n == "" || plug == "" {
					r.errorf(file, line, "fence_device %s: pcmk_host_map entry %q is not node:plug", d.Name, pair)
					ok = false
					continue
				}
				d.HostMap[strings.ToLower(n)] = plug
			}
		case "pcmk_host_argument":
			d.HostArgument = v
		case "pcmk_reboot_timeout":
			dur(&d.RebootTimeout)
		case "pcmk_monitor_timeout":
			dur(&d.MonitorTimeout)
		case "pcmk_list_timeout":
			dur(&d.ListTimeout)
		case "pcmk_delay_base":
			dur(&d.DelayBase)
		default:
			if strings.HasPrefix(k, "pcmk_") {
				r.errorf(file, line, "fence_device %s: %s is not a setting lubdub knows (pcmk_host_list, pcmk_host_map, pcmk_host_argument, pcmk_reboot_timeout, pcmk_monitor_timeout, pcmk_list_timeout, pcmk_delay_base)", d.Name, k)
				ok = false
				continue
			}
			if k == "action" || k == "nodename" {
				r.errorf(file, line, "fence_device %s: %s is set by lubdub for each call", d.Name, k)
				ok = false
				continue
			}
			d.Params[k] = v
		}
	}
	if d.HostArgument != "" && d.Kind != "agent" {
		r.errorf(file, line, "fence_device %s: pcmk_host_argument applies to fence_* agents only", d.Name)
		ok = false
	}
	if len(d.HostMap) > 0 && d.Kind != "agent" {
		r.errorf(file, line, "fence_device %s: pcmk_host_map applies to fence_* agents only (cluster-glue plugins take node names)", d.Name)
		ok = false
	}
	return d, ok
}

// parseFencingLevel reads the words of a fencing_level line.
func parseFencingLevel(file string, line int, words []string, r *Report) (FencingLevel, bool) {
	l := FencingLevel{Line: line}
	if len(words) != 4 {
		r.errorf(file, line, "fencing_level takes NODE INDEX DEVICE[,DEVICE...] (for example: fencing_level node2 1 ipmi2)")
		return l, false
	}
	l.Node = strings.ToLower(words[1])
	n, err := strconv.Atoi(words[2])
	if err != nil || n < 1 || n > 9 {
		r.errorf(file, line, "fencing_level %s: index %q must be 1 to 9 (Pacemaker's range)", l.Node, words[2])
		return l, false
	}
	l.Index = n
	for _, d := range strings.Split(words[3], ",") {
		if d == "" {
			r.errorf(file, line, "fencing_level %s %d: an empty device name in %q", l.Node, n, words[3])
			return l, false
		}
		l.Devices = append(l.Devices, d)
	}
	return l, true
}

// checkFencing cross-checks lubdub.cf's fencing against the nodes and
// ha.cf's device.
func (c *Config) checkFencing(file string, local string, r *Report) {
	t := &c.Fencing
	names := map[string]int{}
	for _, d := range t.Devices {
		if first, dup := names[d.Name]; dup {
			r.errorf(file, d.Line, "fence_device %s is defined twice (first on line %d)", d.Name, first)
			continue
		}
		names[d.Name] = d.Line
		for _, h := range d.HostList {
			if len(c.Nodes) > 0 && !c.HasNode(h) {
				r.warnf(file, d.Line, "fence_device %s: pcmk_host_list names %s, which is not a cluster node", d.Name, h)
			}
		}
	}
	_, hasHacf := c.StonithFor(local)
	if local == "" {
		hasHacf = len(c.Stonith) > 0
	}
	levels := map[string]map[int]int{}
	for _, l := range t.Levels {
		if len(c.Nodes) > 0 && !c.HasNode(l.Node) {
			r.errorf(file, l.Line, "fencing_level: %s is not a cluster node (declared: %s)", l.Node, strings.Join(c.Nodes, ", "))
		}
		if levels[l.Node] == nil {
			levels[l.Node] = map[int]int{}
		}
		if first, dup := levels[l.Node][l.Index]; dup {
			r.errorf(file, l.Line, "fencing_level %s %d is given twice (first on line %d)", l.Node, l.Index, first)
		}
		levels[l.Node][l.Index] = l.Line
		for _, d := range l.Devices {
			if d == HacfDevice {
				if !hasHacf {
					r.errorf(file, l.Line, "fencing_level %s %d: ha.cf has no stonith or stonith_host line for this node", l.Node, l.Index)
				}
				continue
			}
			if _, ok := names[d]; !ok {
				r.errorf(file, l.Line, "fencing_level %s %d: device %s is not defined by a fence_device line", l.Node, l.Index, d)
			}
		}
	}
}

// LevelsOf returns a node's fencing levels in ascending index.
func (t Fencing) LevelsOf(node string) []FencingLevel {
	var out []FencingLevel
	for _, l := range t.Levels {
		if l.Node == strings.ToLower(node) {
			out = append(out, l)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// stripComment cuts a line at the first # outside double quotes.
func stripComment(s string) string {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case '#':
			if !inQuote {
				return s[:i]
			}
		}
	}
	return s
}
