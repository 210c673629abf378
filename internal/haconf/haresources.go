package haconf

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Resource is one haresources resource: Type::arg1::arg2, or an OCF
// agent ocf:PROVIDER:TYPE::name=value (a lubdub extension).
type Resource struct {
	Type     string
	Args     []string
	Provider string      // OCF only
	Params   [][2]string // OCF only, in order
	Raw      string
}

// OCF reports whether the resource is an OCF agent.
func (r Resource) OCF() bool { return r.Provider != "" }

// String is the resource in canonical form: a bare address is shown as
// the IPaddr resource it stands for.
func (r Resource) String() string {
	if r.Type == "IPaddr" && len(r.Args) == 1 && r.Raw == r.Args[0] {
		return "IPaddr::" + r.Raw
	}
	return r.Raw
}

// Group is one haresources line: a preferred node and resources started
// left to right.
type Group struct {
	Node      string
	Resources []Resource
	Line      int
}

// ID names the group by its first resource, as Heartbeat does.
func (g Group) ID() string { return g.Resources[0].Raw }

var (
	typeRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
	paramRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func loadHaresources(file string, c *Config, r *Report) []Group {
	data, err := os.ReadFile(file)
	if err != nil {
		if os.IsNotExist(err) {
			r.notef(file, 0, "no haresources file: this node manages no resources")
			return nil
		}
		r.errorf(file, 0, "cannot read the resource groups: %v", err)
		return nil
	}
	return parseHaresources(file, string(data), c, r)
}

func parseHaresources(file, text string, c *Config, r *Report) []Group {
	var groups []Group
	firsts := map[string]int{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		// A line continues when a backslash is its very last character,
		// as Heartbeat reads it: a backslash followed by blanks (or by the
		// \r of a CRLF file) is not a continuation, and the next line is
		// read as a group of its own.
		logical := lines[i]
		for strings.HasSuffix(logical, `\`) && i+1 < len(lines) {
			logical = strings.TrimSuffix(logical, `\`) + " " + lines[i+1]
			i++
		}
		logical = strings.TrimRight(strings.TrimSuffix(logical, `\`), "\r")
		tokens := strings.Fields(logical)
		for k, t := range tokens {
			if strings.HasPrefix(t, "#") {
				tokens = tokens[:k]
				break
			}
		}
		if len(tokens) == 0 {
			continue
		}
		node := strings.ToLower(tokens[0])
		ok := true
		if len(c.Nodes) > 0 && !c.HasNode(node) {
			r.errorf(file, start, "%s is not a cluster node: a group's first word must be its preferred node, one of %s (ha.cf node lines)", tokens[0], strings.Join(c.Nodes, ", "))
			ok = false
		}
		if len(tokens) == 1 {
			if ok {
				// Heartbeat accepts it; the group would hold nothing.
				r.warnf(file, start, "the line for %s lists no resources and is ignored", node)
			}
			continue
		}
		g := Group{Node: node, Line: start}
		for _, t := range tokens[1:] {
			res, err := ParseResource(t)
			if err != nil {
				r.errorf(file, start, "%v", err)
				ok = false
				continue
			}
			g.Resources = append(g.Resources, res)
		}
		if !ok || len(g.Resources) == 0 {
			continue
		}
		if prev, dup := firsts[g.ID()]; dup {
			r.errorf(file, start, "group %s is already defined on line %d: the first resource names the group and must be unique", g.ID(), prev)
			continue
		}
		firsts[g.ID()] = start
		groups = append(groups, g)
	}
	return groups
}

// ParseResource reads one resource token.
func ParseResource(t string) (Resource, error) {
	if strings.HasPrefix(t, "ocf:") {
		return parseOCF(t)
	}
	parts := strings.Split(t, "::")
	if ip, _, _ := strings.Cut(parts[0], "/"); looksLikeIPv4(ip) {
		if len(parts) != 1 {
			return Resource{}, fmt.Errorf("resource %q: an address takes no ::arguments; write IPaddr::%s", t, parts[0])
		}
		if err := CheckIPSpec(t); err != nil {
			return Resource{}, fmt.Errorf("resource %q: %w", t, err)
		}
		return Resource{Type: "IPaddr", Args: []string{t}, Raw: t}, nil
	}
	if !typeRE.MatchString(parts[0]) {
		return Resource{}, fmt.Errorf("resource %q: %q is not a resource name", t, parts[0])
	}
	for _, a := range parts[1:] {
		if a == "" {
			return Resource{}, fmt.Errorf("resource %q has an empty argument (check the :: separators)", t)
		}
	}
	res := Resource{Type: parts[0], Args: parts[1:], Raw: t}
	if (res.Type == "IPaddr" || res.Type == "IPaddr2") && len(res.Args) > 0 {
		if err := CheckIPSpec(res.Args[0]); err != nil {
			return Resource{}, fmt.Errorf("resource %q: %w", t, err)
		}
	}
	if res.Type == "Filesystem" && len(res.Args) < 2 {
		return Resource{}, fmt.Errorf("resource %q: Filesystem needs device and directory: Filesystem::/dev/sda1::/data[::fstype[::options]]", t)
	}
	return res, nil
}

func looksLikeIPv4(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	return strings.Count(s, ".") == 3
}

// CheckIPSpec validates Heartbeat's address forms:
// ip[/cidr][/iface][/broadcast].
func CheckIPSpec(spec string) error {
	parts := strings.Split(spec, "/")
	a, err := netip.ParseAddr(parts[0])
	if err != nil || !a.Is4() {
		return fmt.Errorf("%q is not an IPv4 address", parts[0])
	}
	for i, p := range parts[1:] {
		switch {
		case p == "":
			return fmt.Errorf("empty field %d in %q", i+2, spec)
		case isDigits(p):
			n, _ := strconv.Atoi(p)
			if i != 0 || n < 1 || n > 32 {
				return fmt.Errorf("netmask bits %q must follow the address and be 1-32", p)
			}
		case looksLikeIPv4(p):
			if b, err := netip.ParseAddr(p); err != nil || !b.Is4() {
				return fmt.Errorf("broadcast %q is not an IPv4 address", p)
			}
		default:
			if !validIfName(p) {
				return fmt.Errorf("%q is not an interface name", p)
			}
		}
	}
	return nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func parseOCF(t string) (Resource, error) {
	parts := strings.Split(t, "::")
	head := strings.Split(parts[0], ":")
	if len(head) != 3 || head[1] == "" || !typeRE.MatchString(head[2]) || !typeRE.MatchString(head[1]) {
		return Resource{}, fmt.Errorf("resource %q: an OCF agent is written ocf:PROVIDER:TYPE::name=value::name=value", t)
	}
	res := Resource{Type: head[2], Provider: head[1], Raw: t}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !paramRE.MatchString(k) {
			return Resource{}, fmt.Errorf("resource %q: parameter %q is not name=value", t, kv)
		}
		res.Params = append(res.Params, [2]string{k, v})
	}
	return res, nil
}
