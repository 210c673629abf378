package haconf

import (
	"strings"
	"testing"
)

// Resource specifications haresources refuses, each with why.
func TestResourceRefusals(t *testing.T) {
	for spec, want := range map[string]string{
		"198.18.0.10::eth0":                 "an address takes no ::arguments",
		"198.18.0.10/0":                     "netmask bits \"0\" must follow the address and be 1-32",
		"198.18.0.10/32":                    "",
		"198.18.0.10/1":                     "",
		"198.18.0.10/24/24":                 "must follow the address",
		"198.18.0.10//eth0":                 "empty field 2",
		"198.18.0.10/24/eth0/198.18.0.300":  "broadcast \"198.18.0.300\" is not an IPv4 address",
		"198.18.0.10/24/eth0:x/1":           "is not an interface name",
		"httpd::::start":                    "has an empty argument",
		"ocf:heartbeat:Dummy::state":        "parameter \"state\" is not name=value",
		"ocf:heartbeat:Dummy::9x=1":         "is not name=value",
		"ocf:heartbeat:Dummy::state=/tmp/x": "",
	} {
		_, err := ParseResource(spec)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", spec, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
}

// A bare address is IPaddr's argument; String writes it as IPaddr::ADDR
// (as lubdub check prints it), other resources as written.
func TestResourceString(t *testing.T) {
	for spec, want := range map[string]string{
		"198.18.0.10":          "IPaddr::198.18.0.10",
		"198.18.0.10/24/eth0":  "IPaddr::198.18.0.10/24/eth0",
		"IPaddr::198.18.0.10":  "IPaddr::198.18.0.10",
		"IPaddr2::198.18.0.10": "IPaddr2::198.18.0.10",
		"httpd":                "httpd",
	} {
		r, err := ParseResource(spec)
		if err != nil {
			t.Fatal(err)
		}
		if r.String() != want {
			t.Errorf("%s: String() = %q, want %q", spec, r.String(), want)
		}
	}
}

// Group lines: each error names its line; a node alone lists no
// resources (a warning, the line ignored); haresources is optional.
func TestHaresourcesLines(t *testing.T) {
	c := &Config{Nodes: []string{"node1", "node2"}}
	r := &Report{}
	groups := parseHaresources("haresources", "node1\nnode2 198.18.0.10 bad$name\nnode1 198.18.0.11\n", c, r)
	if len(r.Warnings) != 1 || r.Warnings[0].Line != 1 || !strings.Contains(r.Warnings[0].Msg, "the line for node1 lists no resources and is ignored") {
		t.Errorf("warnings %v", r.Warnings)
	}
	if len(r.Errors) != 1 || r.Errors[0].Line != 2 || !strings.Contains(r.Errors[0].Msg, "is not a resource name") {
		t.Fatalf("errors %v", r.Errors)
	}
	if len(groups) != 1 || groups[0].Line != 3 {
		t.Fatalf("groups %+v, want only line 3's", groups)
	}
	r = &Report{}
	if g := loadHaresources(t.TempDir()+"/haresources", c, r); g != nil || len(r.Errors) != 0 {
		t.Fatalf("missing haresources: %v %v", g, r.Errors)
	}
	r = &Report{}
	if g := loadHaresources(t.TempDir(), c, r); g != nil || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "cannot read the resource groups") {
		t.Fatalf("unreadable haresources: %v %v", g, r.Errors)
	}
}

// A resource type alone parses (its agent says what it lacks); a
// Filesystem with device and directory is Heartbeat's grammar (the type
// is the agent's business); netmask bits are 1 to 32, with nines too.
func TestResourceArgumentCounts(t *testing.T) {
	for _, spec := range []string{"IPaddr2", "IPaddr", "Filesystem::/dev/sdb1::/data", "198.18.0.10/9", "198.18.0.10/29/eth0"} {
		if _, err := ParseResource(spec); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
	for _, spec := range []string{"198.18.0.10/39", "198.18.0.10/99", "Filesystem::/dev/sdb1"} {
		if _, err := ParseResource(spec); err == nil {
			t.Errorf("%s accepted", spec)
		}
	}
}
