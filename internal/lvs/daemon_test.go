package lvs

import (
	"net/netip"
	"strings"
	"testing"
)

// The sync daemon commands as Debian's ipvsadm 1.31 takes them (each
// message and limit checked against it in the VM; e2e/ipvs runs the same
// lines through both).
func TestDaemonCommands(t *testing.T) {
	for _, tc := range []struct {
		line string
		want SyncDaemon
		op   Op
	}{
		{"--start-daemon master", SyncDaemon{State: Master, Interface: "eth0"}, OpStartDaemon},
		{"--start-daemon backup --mcast-interface eth1 --syncid 7", SyncDaemon{State: Backup, Interface: "eth1", SyncID: 7}, OpStartDaemon},
		{"--start-daemon=backup --mcast-interface=eth1 --syncid=010", SyncDaemon{State: Backup, Interface: "eth1", SyncID: 10}, OpStartDaemon},
		{"--start-daemon master --mcast-interface eth0 --sync-maxlen 100 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 5 --syncid 9",
			SyncDaemon{State: Master, Interface: "eth0", SyncID: 9, MaxLen: 100, Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 5}, OpStartDaemon},
		{"--start-daemon master --mcast-group ff02::1 --mcast-port +5", SyncDaemon{State: Master, Interface: "eth0", Group: netip.MustParseAddr("ff02::1"), Port: 5}, OpStartDaemon},
		{"--start-daemon master --mcast-port 65535 --mcast-ttl 255 --sync-maxlen 65507 --syncid 255",
			SyncDaemon{State: Master, Interface: "eth0", Port: 65535, TTL: 255, MaxLen: 65507, SyncID: 255}, OpStartDaemon},
		{"--start-daemon master --mcast-interface 0123456789abcdefXYZ", SyncDaemon{State: Master, Interface: "0123456789abcde"}, OpStartDaemon},
		// Each option's least value is taken (ipvsadm's ranges are closed).
		{"--start-daemon master --syncid 0 --mcast-port 1 --mcast-ttl 1 --sync-maxlen 1",
			SyncDaemon{State: Master, Interface: "eth0", Port: 1, TTL: 1, MaxLen: 1}, OpStartDaemon},
		{"--stop-daemon backup", SyncDaemon{State: Backup}, OpStopDaemon},
		{"--stop-daemon master --syncid 5", SyncDaemon{State: Master, SyncID: 5}, OpStopDaemon},
	} {
		c, err := Parse(strings.Fields(tc.line))
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if c.Op != tc.op || c.Daemon != tc.want {
			t.Errorf("%s: %s %+v, want %s %+v", tc.line, c.Op, c.Daemon, tc.op, tc.want)
		}
	}
	c, err := Parse([]string{"--start-daemon", "master", "--mcast-port", " 5"})
	if err != nil || c.Daemon.Port != 5 {
		t.Errorf("--mcast-port ' 5' (strtol skips the space): %+v %v", c, err)
	}
	for _, line := range []string{"-L --daemon", "-Ln --daemon", "-L --daemon -n", "-l --daemon", "--list --daemon", "-L --daemon --exact", "-L --daemon --syncid 3"} {
		if c, err := Parse(strings.Fields(line)); err != nil || c.Op != OpList || !c.ListDaemons {
			t.Errorf("%s: %+v %v", line, c, err)
		}
	}
}

func TestDaemonRefusals(t *testing.T) {
	for line, want := range map[string]string{
		"--start-daemon foo":                                            "illegal start-daemon parameter specified",
		"--start-daemon MASTER":                                         "illegal start-daemon parameter specified",
		"--stop-daemon foo":                                             "illegal start_daemon specified",
		"--start-daemon master --syncid 256":                            "illegal syncid specified",
		"--start-daemon master --syncid -1":                             "illegal syncid specified",
		"--start-daemon master --syncid 0x10":                           "illegal syncid specified",
		"--start-daemon master --syncid abc":                            "illegal syncid specified",
		"--start-daemon master --mcast-group 198.18.0.1":                "invalid IPv4 mcast-group `198.18.0.1'",
		"--start-daemon master --mcast-group 224.1":                     "invalid IPv4 mcast-group `224.1'",
		"--start-daemon master --mcast-group 0xe0000001":                "invalid IPv4 mcast-group `0xe0000001'",
		"--start-daemon master --mcast-group fe80::1":                   "invalid IPv6 mcast-group `fe80::1'",
		"--start-daemon master --mcast-group ff02::1::":                 "invalid IPv6 mcast-group `ff02::1::'",
		"--start-daemon master --mcast-group ff02::1%eth0":              "invalid IPv6 mcast-group `ff02::1%eth0'",
		"--start-daemon master --mcast-port 0":                          "illegal mcast-port specified",
		"--start-daemon master --mcast-port 65536":                      "illegal mcast-port specified",
		"--start-daemon master --mcast-ttl 256":                         "illegal mcast-ttl specified",
		"--start-daemon master --mcast-ttl 0":                           "illegal mcast-ttl specified",
		"--start-daemon master --sync-maxlen 65508":                     "illegal sync-maxlen specified",
		"--start-daemon master --sync-maxlen 0":                         "illegal sync-maxlen specified",
		"--stop-daemon master --mcast-interface eth0":                   "Illegal 'mcast-interface' option with the 'stop-daemon' command",
		"--start-daemon master -n":                                      "Illegal 'numeric' option with the 'start-daemon' command",
		"--start-daemon master --mcast-interface eth0 -w 1":             "Illegal 'weight' option with the 'start-daemon' command",
		"-A -t 198.18.0.10:80 --syncid 3":                               "Illegal 'syncid' option with the 'add-service' command",
		"-S --daemon":                                                   "Illegal 'daemon' option with the 'save' command",
		"--start-daemon master --start-daemon backup":                   "invalid option `backup'",
		"--start-daemon master -L":                                      "invalid option `-L'",
		"--start-daemon master --mcast-interface a --mcast-interface b": "multiple 'mcast-interface' options specified",
		"-L --daemon --daemon":                                          "multiple 'daemon' options specified",
		"-L --daemon --stats":                                           "options conflicts in the list command",
		"-L --daemon --rate":                                            "options conflicts in the list command",
		"-L -c --stats":                                                 "options conflicts in the list command",
		"-L --daemon -c":                                                "The option 'daemon' conflicts with the 'connection' option in the 'list' command",
		"-L -c --daemon":                                                "The option 'daemon' conflicts with the 'connection' option in the 'list' command",
		"-L --daemon -t 1.2.3.4:80":                                     "The option 'daemon' conflicts with the 'service-address' option in the 'list' command",
		"--start-daemon":                                                "--start-daemon: missing argument",
		"--start-daemon master --syncid":                                "--syncid: missing argument",
	} {
		_, err := Parse(strings.Fields(line))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want %q", line, err, want)
		}
		var ue *UsageError
		if !asUsage(err, &ue) {
			t.Errorf("%s: %v is no usage error", line, err)
		}
	}
}

func asUsage(err error, ue **UsageError) bool {
	e, ok := err.(*UsageError)
	*ue = e
	return ok
}

// -L --daemon's lines, as ipvsadm 1.31 printed them for what IPVS
// reported.
func TestListDaemons(t *testing.T) {
	got := ListDaemons([]SyncDaemon{
		{State: Backup, Interface: "eth0p", SyncID: 7, MaxLen: 1472, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1},
		{State: Master, Interface: "eth0", MaxLen: 1452, Group: netip.MustParseAddr("ff02::1"), Port: 8848, TTL: 1},
	})
	want := "master sync daemon (mcast=eth0, syncid=0, maxlen=1452, group=ff02::1, port=8848, ttl=1)\n" +
		"backup sync daemon (mcast=eth0p, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := ListDaemons([]SyncDaemon{{State: Master, Interface: "eth0"}}); got != "master sync daemon (mcast=eth0, syncid=0)\n" {
		t.Errorf("without the optional fields: %q", got)
	}
	if ListDaemons(nil) != "" {
		t.Error("no daemon lists something")
	}
}

func FuzzParseDaemon(f *testing.F) {
	f.Add("--start-daemon master --mcast-interface eth0 --syncid 9 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 5 --sync-maxlen 100")
	f.Add("--stop-daemon backup --syncid 3")
	f.Add("-L --daemon -n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.Fields(s))
		if err != nil {
			return
		}
		d := c.Daemon
		switch c.Op {
		case OpStartDaemon:
			if d.State != Master && d.State != Backup || d.Interface == "" || len(d.Interface) > ifNameMax ||
				d.SyncID < 0 || d.SyncID > 255 || d.Port < 0 || d.Port > 65535 || d.TTL < 0 || d.TTL > 255 ||
				d.MaxLen < 0 || d.MaxLen > 65507 || d.Group.IsValid() && !d.Group.IsMulticast() {
				t.Fatalf("%q gave %+v", s, d)
			}
			_ = ListDaemons([]SyncDaemon{d})
		case OpStopDaemon:
			if d.State != Master && d.State != Backup || d.Interface != "" {
				t.Fatalf("%q gave %+v", s, d)
			}
		}
	})
}
