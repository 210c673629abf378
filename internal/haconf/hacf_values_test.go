package haconf

import (
	"strings"
	"testing"
	"time"
)

// Each bad value is one error naming ha.cf's line 3 and what is wrong;
// the value at the edge of what is allowed passes.
func TestHaCfValueChecks(t *testing.T) {
	for _, c := range []struct {
		line, err string // err "" : accepted
	}{
		{"udpport 0", "not a port number"},
		{"udpport 65536", "not a port number"},
		{"udpport x", "not a port number"},
		{"udpport 65535", ""},
		{"udpport 1", ""},
		{"debug 256", "from 0 to 255"},
		{"debug -1", "from 0 to 255"},
		{"debug 255", ""},
		{"debug 0", ""},
		{"hopfudge 256", "from 0 to 255"},
		{"hopfudge 255", ""},
		{"keepalive 0", "must be more than 0"},
		{"warntime 0", "must be more than 0"},
		{"logfacility kernel", "not a syslog facility"},
		{"logfacility LOCAL7", "not a syslog facility in lower case"},
		{"logfacility local7", ""},
		{"log_badpack maybe", "not on or off"},
		{"auto_failback sometimes", "must be on, off or legacy"},
		{"nice_failback sometimes", "must be on or off"},
		{"watchdog watchdog", "must be a device path"},
		{"msgfmt json", "must be classic or netstring"},
		{"hbgenmethod random", "must be file or time"},
		{"max_rexmit_delay 0", "positive number of milliseconds"},
		{"max_rexmit_delay 1", ""},
		{"autojoin any", "admits only the nodes ha.cf declares"},
		{"autojoin none", ""},
		{"uuidfrom mac", "must be file or nodename"},
		{"crm off", ""},
		{"crm respawn", "does not run Pacemaker"},
		{"bcast eth0/1", "not an interface name"},
		{"bcast abcdefghijklmnop", "not an interface name"},
		{"bcast abcdefghijklmno", ""},
		{"bcast eth0:1", "not an interface name"},
		{"serial ttyS0", "must be a device path"},
		{"mcast eth1 225.0.0.1 0 1 0", "port \"0\" is not a port number"},
		{"mcast eth1 225.0.0.1 65536 1 0", "is not a port number"},
		{"mcast eth1 225.0.0.1 65535 4 1", ""},
		{"mcast eth1 225.0.0.1 694 5 0", "ttl \"5\" must be 0-4"},
		{"mcast eth1 225.0.0.1 694 -1 0", "ttl \"-1\" must be 0-4"},
		{"mcast eth1 225.0.0.1 694 0 0", ""},
		{"mcast eth1 225.0.0.1 694 1 2", "loop \"2\" must be 0 or 1"},
		{"mcast eth1/x 225.0.0.1 694 1 0", "is not an interface name"},
		{"mcast eth1 239.255.255.255 694 1 0", ""},
		{"mcast eth1 240.0.0.1 694 1 0", "not an IPv4 multicast group"},
		{"ucast eth1", "ucast takes 2 values"},
		{"ucast eth/1 198.18.0.2", "is not an interface name"},
	} {
		_, r := loadHaCf(t, "node a\nbcast eth0\n"+c.line+"\n")
		switch {
		case c.err == "" && len(r.Errors) != 0:
			t.Errorf("%q: %v, want it accepted", c.line, r.Errors)
		case c.err != "" && (len(r.Errors) != 1 || r.Errors[0].Line != 3 || !strings.Contains(r.Errors[0].Msg, c.err)):
			t.Errorf("%q: errors %v, want one at line 3 containing %q", c.line, r.Errors, c.err)
		}
	}
}

// What accepted values become.
func TestHaCfValuesRead(t *testing.T) {
	c, r := loadHaCf(t, "node a B\nmcast eth1 225.0.0.1 5000 3 1\nucast eth0 198.18.0.2\nserial /dev/ttyS0\nbaud 38400\n"+
		"debug 2\nhopfudge 3\nlogfacility local7\nlog_badpack off\nwatchdog /dev/watchdog\nhbgenmethod time\n"+
		"max_rexmit_delay 400\ncluster prod\nlogfile /var/log/ha-log\ndebugfile /var/log/ha-debug\n")
	if len(r.Errors) != 0 {
		t.Fatal(r.Errors)
	}
	var media []string
	for _, m := range c.Media {
		media = append(media, m.String())
	}
	if got, want := strings.Join(media, "; "), "mcast eth1 group 225.0.0.1 port 5000 ttl 3 loop true; ucast eth0 peer 198.18.0.2 port 694; serial /dev/ttyS0"; got != want {
		t.Errorf("media %q, want %q", got, want)
	}
	if c.Baud != 38400 || c.Debug != 2 || c.Hopfudge != 3 || c.Logfacility != "local7" || c.LogBadPack ||
		c.Watchdog != "/dev/watchdog" || c.GenMethod != "time" || c.MaxRexmitDelay != 400*time.Millisecond ||
		c.Cluster != "prod" || c.Logfile != "/var/log/ha-log" || c.Debugfile != "/var/log/ha-debug" {
		t.Errorf("config %+v", c)
	}
	if !c.HasNode("A") || !c.HasNode("b") || c.HasNode("c") {
		t.Errorf("nodes %v", c.Nodes)
	}
	for _, line := range []string{"baud 19200\nbaud 19200", "watchdog /dev/a\nwatchdog /dev/b", "node b\nnode B"} {
		_, r := loadHaCf(t, "node a\nbcast eth0\n"+line+"\n")
		if len(r.Errors)+len(r.Warnings) == 0 {
			t.Errorf("%q: given twice, and neither an error nor a warning", line)
		}
	}
}

// Heartbeat's failback settings and what lubdub reads them as.
func TestFailbackSettings(t *testing.T) {
	for line, want := range map[string]string{
		"":                     "legacy",
		"auto_failback on":     "on",
		"auto_failback off":    "off",
		"auto_failback Legacy": "legacy",
		// set_nice_failback ignores the value's sense: after an
		// auto_failback it is off, alone legacy.
		"nice_failback on":                    "legacy",
		"nice_failback off":                   "legacy",
		"auto_failback on\nnice_failback on":  "off",
		"auto_failback on\nnice_failback off": "off",
		"auto_failback yes":                   "on",
		"auto_failback false":                 "off",
	} {
		c, r := loadHaCf(t, "node a\nbcast eth0\n"+line+"\n")
		if len(r.Errors) != 0 || c.AutoFailback != want {
			t.Errorf("%q: auto_failback %q %v, want %q", line, c.AutoFailback, r.Errors, want)
		}
	}
}
