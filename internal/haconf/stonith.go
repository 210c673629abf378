package haconf

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// StonithDevice is a stonith or stonith_host line of ha.cf, read as
// Heartbeat 3.0.6 reads it (config.c's set_stonith_info and
// set_stonith_host_info):
//
//	stonith TYPE CONFIGFILE
//	stonith_host FROMHOST TYPE PARAMS...
//
// Heartbeat keeps one device: the last line that applies to the local
// node (a stonith line, or a stonith_host line whose FROMHOST is the
// local node or *). Config.StonithFor picks it.
type StonithDevice struct {
	Line int
	// FromHost is stonith_host's first word, lower-cased: the node that
	// uses the device, or "*" for every node. Empty for a stonith line.
	FromHost string
	// Type is the cluster-glue plugin: "baytech", "external/ipmi", ...
	Type string
	// ConfigFile is stonith's CONFIGFILE: its first line that is not a
	// comment holds the parameters, in the plugin's order.
	ConfigFile string
	// Params is stonith_host's PARAMS...: the rest of the line as
	// Heartbeat passes it to cluster-glue, the plugin's parameters in the
	// order stonith -t TYPE -n prints, the last one taking the rest of
	// the line (trailing blanks included).
	Params string
	// Names and Values are the parameters split among the plugin's names
	// (filled when Options.Stonith could say them).
	Names  []string
	Values map[string]string
}

// AppliesTo reports whether the line is used by node (lower case).
func (s StonithDevice) AppliesTo(node string) bool {
	return s.FromHost == "" || s.FromHost == "*" || s.FromHost == node
}

func (s StonithDevice) String() string {
	if s.FromHost == "" {
		return fmt.Sprintf("stonith %s %s (ha.cf line %d)", s.Type, s.ConfigFile, s.Line)
	}
	params := "(no parameters)"
	if s.Params != "" {
		params = fmt.Sprintf("with %d parameter word(s)", len(strings.Fields(s.Params)))
		if len(s.Names) > 0 {
			params = "with " + strings.Join(s.Names, ", ")
		}
	}
	return fmt.Sprintf("stonith_host %s %s %s (ha.cf line %d)", s.FromHost, s.Type, params, s.Line)
}

// StonithFor returns the device Heartbeat would use on node: the last
// stonith or stonith_host line that applies to it.
func (c *Config) StonithFor(node string) (StonithDevice, bool) {
	node = strings.ToLower(node)
	for i := len(c.Stonith) - 1; i >= 0; i-- {
		if c.Stonith[i].AppliesTo(node) {
			return c.Stonith[i], true
		}
	}
	return StonithDevice{}, false
}

// StonithPlugins answers what Heartbeat asks cluster-glue while it reads
// ha.cf. internal/fence implements it with cluster-glue's stonith command.
type StonithPlugins interface {
	// ConfigNames returns a plugin type's parameter names in order, or an
	// error wrapping ErrUnknownStonithType.
	ConfigNames(typ string) ([]string, error)
}

// ErrUnknownStonithType is what StonithPlugins.ConfigNames wraps for a
// type cluster-glue does not have.
var ErrUnknownStonithType = errors.New("unknown stonith type")

// Heartbeat's limits (MAXLINE and HOSTLENG in heartbeat.h): a stonith type
// of MAXLINE bytes or more, and a host name of HOSTLENG or more, are
// refused.
const (
	hbMaxLine  = 5120
	hbHostLeng = 100
)

// wholeLineValue is the value of a whole-line directive as Heartbeat's
// parse_config hands it over: the line cut at the first CR or LF and at
// the first #, without leading white space, the directive's name and the
// delimiters after it. Trailing blanks stay.
func wholeLineValue(orig string) string {
	bp := strings.TrimLeft(orig, whitespace)
	if k := strings.IndexByte(bp, '#'); k >= 0 {
		bp = bp[:k]
	}
	if k := strings.IndexAny(bp, "\r\n"); k >= 0 {
		bp = bp[:k]
	}
	k := strings.IndexAny(bp, whitespace)
	if k < 0 {
		return ""
	}
	return strings.TrimLeft(bp[k:], delims)
}

// nextToken splits off a token ending at white space, after skipping
// white space (strspn/strcspn on WHITESPACE).
func nextToken(s string) (tok, rest string) {
	s = strings.TrimLeft(s, whitespace)
	k := strings.IndexAny(s, whitespace)
	if k < 0 {
		return s, ""
	}
	return s[:k], s[k:]
}

func (p *hacfParser) stonithLine(name, value string, line int) {
	d := StonithDevice{Line: line}
	rest := value
	if name == "stonith_host" {
		var host string
		host, rest = nextToken(rest)
		if host == "" {
			p.r.errorf(p.file, line, "stonith_host: no host given (stonith_host FROMHOST TYPE PARAMS..., FROMHOST a node or *)")
			return
		}
		if len(host) >= hbHostLeng {
			p.r.errorf(p.file, line, "stonith_host: host name %q is too long (Heartbeat takes fewer than %d characters)", host, hbHostLeng)
			return
		}
		d.FromHost = strings.ToLower(host)
	}
	typ, rest := nextToken(rest)
	d.Type = typ
	// Heartbeat does not read the rest of a stonith_host line meant for
	// another node; lubdub checks it, but only warns.
	other := d.FromHost != "" && d.FromHost != "*" && p.node != "" && d.FromHost != p.node
	report := p.r.errorf
	if other {
		report = func(file string, ln int, format string, a ...any) {
			p.r.warnf(file, ln, "for node %s (Heartbeat on this node skips the line): "+format, append([]any{d.FromHost}, a...)...)
		}
	}
	if typ == "" {
		report(p.file, line, "%s: no stonith type given (stonith -L lists them)", name)
		return
	}
	if len(typ) >= hbMaxLine {
		report(p.file, line, "%s: stonith type too long", name)
		return
	}
	var names []string
	if p.opts.Stonith != nil {
		var err error
		names, err = p.opts.Stonith.ConfigNames(typ)
		if err != nil {
			report(p.file, line, "%s: invalid stonith type %s: %v (stonith -L lists the types)", name, typ, err)
			return
		}
		d.Names = names
	}
	params := strings.TrimLeft(rest, whitespace)
	if name == "stonith" {
		// sscanf("%[^\r\n]"): the rest of the line, blanks and all.
		d.ConfigFile = params
		if d.ConfigFile == "" {
			report(p.file, line, "stonith %s: no configuration file given (stonith TYPE CONFIGFILE)", typ)
			return
		}
		b, err := os.ReadFile(d.ConfigFile)
		if err != nil {
			report(p.file, line, "stonith %s: invalid stonith config file %q: %v", typ, d.ConfigFile, err)
			return
		}
		first, ok := stonithFileLine(string(b))
		if !ok {
			report(p.file, line, "stonith %s: invalid stonith config file %q: it has no line of parameters", typ, d.ConfigFile)
			return
		}
		params = first
	} else {
		d.Params = params
		if strings.TrimRight(params, whitespace) != params && params != "" {
			p.r.warnf(p.file, line, "stonith_host: the blanks at the end of the line belong to the last parameter, as Heartbeat reads it (a comment after the parameters leaves them too)")
		}
	}
	if p.opts.Stonith != nil {
		vals, err := SplitStonithParams(names, params)
		if err != nil {
			report(p.file, line, "%s %s: invalid stonith configuration: %v", name, typ, err)
			return
		}
		d.Values = vals
	} else if len(p.c.Stonith) == 0 {
		p.r.notef(p.file, line, "%s: stonith types and parameters are checked when cluster-glue is installed (lubdub check runs stonith -t TYPE -n)", name)
	}
	p.c.Stonith = append(p.c.Stonith, d)
}

// stonithFileLine is the line cluster-glue's stonith_set_config_file
// reads: the first that is not empty and does not start with #, without
// its newline (lines of 1023 bytes at most, as its fgets buffer).
func stonithFileLine(text string) (string, bool) {
	for _, l := range strings.SplitAfter(text, "\n") {
		if len(l) > 1023 {
			l = l[:1023]
		}
		if l == "" || l[0] == '#' || l[0] == '\n' {
			continue
		}
		return strings.TrimSuffix(l, "\n"), true
	}
	return "", false
}

// SplitStonithParams splits Heartbeat's positional parameters among a
// plugin's names as cluster-glue's stonith1_compat_string_to_NVpair does:
// words separated by white space, the last name taking the rest of the
// string, white space and all. It fails when there are fewer words than
// names (Heartbeat's "Invalid Stonith configuration parameter").
func SplitStonithParams(names []string, params string) (map[string]string, error) {
	const d = " \t\n\r\f"
	out := map[string]string{}
	s := params
	for i, n := range names {
		s = strings.TrimLeft(s, d)
		if s == "" {
			return nil, fmt.Errorf("%d parameter(s) given, %d needed: %s", i, len(names), strings.Join(names, " "))
		}
		if i == len(names)-1 {
			out[n] = s
			break
		}
		k := strings.IndexAny(s, d)
		if k < 0 {
			k = len(s)
		}
		out[n] = s[:k]
		s = s[k:]
	}
	return out, nil
}
