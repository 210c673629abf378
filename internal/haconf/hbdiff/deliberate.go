package hbdiff

// Ignored lists parameters whose recorded value is not compared.
var Ignored = map[string]bool{}

// Difference is one way lubdub reads a variant differently from Heartbeat
// 3.0.6 on purpose; doc/differences.md says why, in the same words.
type Difference struct {
	Diff string // the difference the differential test must still see
	Why  string
}

const (
	lubdubRefuses = "verdict: heartbeat accepted, lubdub refused"
	lubdubAccepts = "lubdub accepted"
)

// Deliberate maps catalog variant names to the differences lubdub keeps;
// the differential test checks that each is still there, so a change on
// either side shows.
var Deliberate = map[string]Difference{
	"ha.cf/udpport=65536":                               {lubdubRefuses, "a port above 65535 is an error; Heartbeat's atoi and u_short cast make it port 0"},
	"ha.cf/hopfudge=abc":                                {lubdubRefuses, "a number that is not a number is an error; Heartbeat's atoi reads 0"},
	"ha.cf/debug=abc":                                   {lubdubRefuses, "a number that is not a number is an error; Heartbeat's atoi reads 0"},
	"ha.cf/watchdog=watchdog":                           {lubdubRefuses, "the watchdog must be a device path; Heartbeat opens a relative path from its working directory"},
	"ha.cf/media mcast eth0 225.0.0.1 694 256 0":        {lubdubRefuses, "ttl 256 is an error; Heartbeat's u_char cast makes it 0"},
	"ha.cf/crm_daemon_dir=/usr/lib/pacemaker":           {lubdubAccepts, "accepted and noted as without effect; Heartbeat 3.0.6 refuses every crm_daemon_dir before a pacemaker line (set_crm_daemon_dir tests fail_if_after_pacemaker's result the wrong way round)"},
	"ha.cf/failfast=hacluster /bin/true":                {lubdubRefuses, "lubdub runs no Heartbeat API clients"},
	"ha.cf/quorum_server=198.18.9.1":                    {lubdubRefuses, "quorum servers are not supported"},
	"ha.cf/respawn=hacluster /usr/lib/heartbeat/ipfail": {lubdubAccepts, "respawn of ipfail is accepted whether or not the program exists: lubdub does not run it, its rule is built in (Heartbeat refuses a program that is not executable)"},
	"ha.cf/ping6=2001:db8::1":                           {lubdubRefuses, "IPv6 ping nodes are not supported yet"},
	"ha.cf/media mcast6 eth0 ff02::1 694 1 0":           {lubdubRefuses, "IPv6 media are not supported yet"},
	"ha.cf/media ucast6 eth0 2001:db8::2":               {lubdubRefuses, "IPv6 media are not supported yet"},
	"ha.cf/media bcast nosuch0":                         {lubdubAccepts, "a missing interface or tty is not a configuration error: lubdub check reads the files alone, and the daemon logs the missing device and retries it every 5 s (Heartbeat's plugins look the device up while parsing)"},
	"ha.cf/media mcast nosuch0 225.0.0.1 694 1 0":       {lubdubAccepts, "a missing interface or tty is not a configuration error (see bcast nosuch0)"},
	"ha.cf/media serial /nonexistent/tty":               {lubdubAccepts, "a missing interface or tty is not a configuration error (see bcast nosuch0)"},
	"ha.cf/node duplicate":                              {"heartbeat lists a node more than once", "a node named twice is one node (with a warning); Heartbeat lists it twice"},
	"authkeys/sha256":                                   {lubdubAccepts, "sha256 is lubdub's addition (HMAC-SHA256) for lubdub-only clusters; Heartbeat has no such plugin"},
	"haresources/bad address":                           {lubdubRefuses, "lubdub checks every resource when it reads haresources; Heartbeat checks only the node names and fails later, when the group starts"},
	"haresources/bad resource name":                     {lubdubRefuses, "as bad address"},
	"haresources/empty argument":                        {lubdubRefuses, "as bad address"},
	"haresources/same group twice":                      {lubdubRefuses, "a group is named by its first resource, which must be unique; Heartbeat would run both lines' resources"},
	"haresources/missing":                               {lubdubAccepts, "no haresources file means no resource groups (noted); Heartbeat refuses to start without it"},
}

// Sample is the variants CI runs: every eighth of the catalog, and every
// deliberate difference.
func Sample() []Variant {
	var out []Variant
	for i, v := range Catalog() {
		if _, ok := Deliberate[v.Name]; ok || i%8 == 0 {
			out = append(out, v)
		}
	}
	return out
}
