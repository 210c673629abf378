package lvs

import (
	"errors"
	"strings"
	"testing"
)

// ipvsadm 1.31's limits, at their edges: persistence 1 s to 31 days
// (MAX_TIMEOUT), weights 0 to INT_MAX (IPVS takes more than 65535:
// differential case weights), ports up to 65535 with every digit (a port
// with a 9 in it is a port), firewall marks from 1 to 2^32-1.
func TestOptionLimits(t *testing.T) {
	for line, want := range map[string]string{
		"-A -t 198.18.0.10:80 -s rr -p 1":                     "",
		"-A -t 198.18.0.10:80 -s rr -p 2678400":               "",
		"-A -t 198.18.0.10:80 -s rr -p 2678401":               "invalid timeout value `2678401' specified",
		"-A -t 198.18.0.10:80 -s rr -p 0":                     "invalid timeout value `0' specified",
		"-A -t 198.18.0.10:80 -s rr -p x":                     "Unknown or unexpected argument \"x\"",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 0":          "",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 70000":      "",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w -1":         "illegal weight specified: \"-1\"",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 2147483647": "",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 2147483648": "illegal weight specified: \"2147483648\"",
		"-A -t 198.18.0.10:65535 -s rr":                       "",
		"-A -t 198.18.0.10:65536 -s rr":                       "illegal virtual server address[:port] specified",
		"-A -t 198.18.0.10:9999 -s rr":                        "",
		"-a -t 198.18.0.10:9 -r 198.18.1.9:19 -m":             "",
		"-A -t 198.18.0.10:0x50 -s rr":                        "illegal virtual server address[:port] specified",
		"-A -t :80 -s rr":                                     "illegal virtual server address[:port] specified",
		"-A -f 4294967295 -s rr":                              "",
		"-A -f 4294967296 -s rr":                              "Illegal fwmark",
	} {
		_, err := Parse(strings.Fields(line))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", line, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", line, err, want)
		}
	}
	c, err := Parse(strings.Fields("-a -t 198.18.0.10:9 -r 198.18.1.9:19 -m -w 2147483647"))
	if err != nil || c.Key.Addr.Port() != 9 || c.Dest.Port() != 19 || c.Weight != 2147483647 {
		t.Errorf("ports 9 and 19, weight 2147483647: %+v %v", c, err)
	}
}

// Options that only -L takes (-c, --stats, --rate, --exact) are refused
// with any other command, as ipvsadm refuses them (its options table);
// --version is a command of its own.
func TestListOnlyOptions(t *testing.T) {
	for _, opt := range []struct{ flag, name string }{{"-c", "connection"}, {"--stats", "stats"}, {"--rate", "rate"}, {"--exact", "exact"}} {
		if _, err := Parse([]string{"-L", "-n", opt.flag}); err != nil {
			t.Errorf("-L -n %s: %v", opt.flag, err)
		}
		line := "-A -t 198.18.0.10:80 -s rr " + opt.flag
		want := "Illegal '" + opt.name + "' option with the 'add-service' command"
		if _, err := Parse(strings.Fields(line)); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", line, err, want)
		}
	}
	if _, err := Parse([]string{"-L", "--version"}); err == nil || !strings.Contains(err.Error(), "two commands") {
		t.Errorf("-L --version: %v, want two commands refused", err)
	}
	if c, err := Parse([]string{"--version"}); err != nil || c.Op != OpVersion {
		t.Errorf("--version: %+v %v", c, err)
	}
}

// --tun-type, which ipvsadm -S writes after each -i real server, is read
// back; ipip is the only type lubdub carries, and the option needs its
// value.
func TestTunType(t *testing.T) {
	c, err := Parse(strings.Fields("-a -t 198.18.0.10:80 -r 198.18.1.2 -i -w 1 --tun-type ipip"))
	if err != nil || c.Fwd != Tunnel {
		t.Errorf("--tun-type ipip: %+v %v", c, err)
	}
	for line, want := range map[string]string{
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -i --tun-type gue": `tunnel type "gue" is not supported`,
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -i --tun-type":     "--tun-type: missing argument",
	} {
		if _, err := Parse(strings.Fields(line)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", line, err, want)
		}
	}
}

// -R reads what -S writes: comments and blank lines skipped, a line
// longer than the first 4 KiB buffer (a comment of 5000 characters) read
// whole; a line it cannot take names its number.
func TestRestoreLines(t *testing.T) {
	in := "# " + strings.Repeat("x", 5000) + "\n\n-A -t 198.18.0.10:80 -s rr\n   \n-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 2\n"
	cmds, err := Restore(strings.NewReader(in))
	if err != nil || len(cmds) != 2 {
		t.Fatalf("restore: %d commands, %v", len(cmds), err)
	}
	for bad, line := range map[string]string{"-S\n": "line 1", "-A -t 198.18.0.10:80 -s rr\n\n-h\n": "line 3", "# c\n-A -t x\n": "line 2"} {
		if _, err := Restore(strings.NewReader(bad)); err == nil || !strings.HasPrefix(err.Error(), line+":") {
			t.Errorf("restore of %q: %v, want an error naming %s", bad, err, line)
		}
	}
	if _, err := Restore(strings.NewReader(strings.Repeat("x", 70000))); err == nil {
		t.Error("a line over 64 KiB was read")
	}
	var ue *UsageError
	if _, err := Restore(strings.NewReader("-A -t 198.18.0.10\n")); !errors.As(err, &ue) {
		t.Errorf("a usage error in -R input: %v, want it kept as a usage error", err)
	}
}

// ipvsadm takes its first option as the command and refuses, exit 255,
// a line that starts with another option; a command first takes the
// options in any order after it.
func TestCommandComesFirst(t *testing.T) {
	for _, line := range []string{"-n -L", "--numeric --list", "-t 198.18.0.10:80 -A -s rr", "--stats -L", "-nL", "--mcast-interface=eth1 --start-daemon master"} {
		_, err := Parse(strings.Fields(line))
		var ue *UsageError
		if !errors.As(err, &ue) || ue.ExitCode() != 255 || !strings.Contains(err.Error(), "the command comes first") {
			t.Errorf("%q: %v, want the command-first refusal with exit 255", line, err)
		}
	}
	for _, line := range []string{"-L -X", "-LnX", "-L -n", "-Ln", "--list --numeric", "-A -s rr -t 198.18.0.10:80", "--start-daemon master --mcast-interface=eth1", "--version", "-h"} {
		if _, err := Parse(strings.Fields(line)); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
}

// -R takes the sync daemons' lines, which ipvsadm -R runs, and the model
// leaves them to the data path.
func TestRestoreDaemonLines(t *testing.T) {
	cmds, err := Restore(strings.NewReader("--start-daemon backup --syncid 3\n-A -t 198.18.0.10:80 -s rr\n--stop-daemon master\n"))
	if err != nil || len(cmds) != 3 {
		t.Fatalf("restore: %d commands, %v", len(cmds), err)
	}
	for i, want := range []bool{true, false, true} {
		if cmds[i].Daemonic() != want {
			t.Errorf("line %d (%s): Daemonic %v, want %v", i+1, cmds[i].Op, cmds[i].Daemonic(), want)
		}
	}
	if cmds[0].Daemon.SyncID != 3 || cmds[0].Daemon.State != Backup {
		t.Errorf("--start-daemon line read as %+v", cmds[0].Daemon)
	}
}
