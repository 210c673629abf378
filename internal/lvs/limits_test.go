package lvs

import (
	"strings"
	"testing"
)

// ipvsadm's limits: persistence 1 s to 31 days (MAX_TIMEOUT, 86400*31),
// weight 0 to 65535, ports up to 65535, firewall marks from 1; a bare
// number is no address.
func TestOptionLimits(t *testing.T) {
	for line, want := range map[string]string{
		"-A -t 198.18.0.10:80 -s rr -p 1":                   "",
		"-A -t 198.18.0.10:80 -s rr -p 2678400":             "",
		"-A -t 198.18.0.10:80 -s rr -p 2678401":             "Illegal timeout",
		"-A -t 198.18.0.10:80 -s rr -p -1":                  "Illegal timeout",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 65535":    "",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 65536":    "Illegal weight",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w -1":       "Illegal weight",
		"-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 0":        "",
		"-A -t 198.18.0.10:65535 -s rr":                     "",
		"-A -t 198.18.0.10:65536 -s rr":                     "Illegal virtual server address",
		"-A -t 198.18.0.10:9999 -s rr":                      "",
		"-A -t 198.18.0.10:0x50 -s rr":                      "Illegal virtual server address",
		"-A -t 9 -s rr":                                     "Illegal virtual server address",
		"-A -t :80 -s rr":                                   "Illegal virtual server address",
		"-A -f 4294967295 -s rr":                            "",
		"-A -f 4294967296 -s rr":                            "Illegal fwmark",
		"-A -f x -s rr":                                     "Illegal fwmark",
		"-A -t 198.18.0.10:80 -s rr -M 255.255.255.0 -p":    "",
		"-A -t 198.18.0.10:80 -s rr -M 255.255.255.0/24 -p": "Illegal netmask",
		"-L --version":                                      "Two or more commands",
		"--version":                                         "",
		"-A -t 198.18.0.10:80 -t 198.18.0.11:80":            "Two or more service options",
		"-A -f 1 -t 198.18.0.11:80":                         "Two or more service options",
		"-d -t 198.18.0.10:80 -r 198.18.1.2 -w 1":           "only the service and -r",
		"-d -t 198.18.0.10:80 -r 198.18.1.2 -m":             "only the service and -r",
		"-L -s rr":                                          "go with -A or -E",
		"-L -t 198.18.0.10:80 -r 198.18.1.2":                "go with -a or -e",
		"-Ln -t 198.18.0.10:80 --exact --stats --rate":      "",
		"-e -t 198.18.0.10:80":                              "No destination specified",
		"-A -t 198.18.0.10:80 foo":                          "Unknown or unexpected argument",
		"-A -t 198.18.0.10:80 --foo":                        "Unknown or unexpected argument",
	} {
		_, err := Parse(strings.Fields(line))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", line, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", line, err, want)
		}
	}
	c, err := Parse(strings.Fields("-A -t 198.18.0.10:80 -s rr -p"))
	if err != nil || !c.Persistent || c.Timeout != DefaultPersistence {
		t.Errorf("-p without a timeout: %+v %v, want ipvsadm's 300 s", c, err)
	}
	c, err = Parse(strings.Fields("-A -t 198.18.0.10:80 -p 60 -s rr"))
	if err != nil || c.Timeout != 60 || c.Scheduler != "rr" {
		t.Errorf("-p 60 -s rr: %+v %v", c, err)
	}
	c, err = Parse(strings.Fields("-A -t 198.18.0.10:80 -p600 -srr"))
	if err != nil || c.Timeout != 600 || c.Scheduler != "rr" {
		t.Errorf("-p600 -srr: %+v %v", c, err)
	}
}

// -R reads what -S writes, comments and blank lines skipped, long lines
// (a comment of 5000 characters) included; a line it cannot take names
// its number.
func TestRestoreLines(t *testing.T) {
	in := "# " + strings.Repeat("x", 5000) + "\n\n-A -t 198.18.0.10:80 -s rr\n   \n-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 2\n"
	cmds, err := Restore(strings.NewReader(in))
	if err != nil || len(cmds) != 2 {
		t.Fatalf("restore: %d commands, %v", len(cmds), err)
	}
	for _, bad := range []string{"-S\n", "-A -t 198.18.0.10:80 -s rr\n-h\n", "-A -t x\n"} {
		if _, err := Restore(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("restore of %q: %v, want an error naming the line", bad, err)
		}
	}
}
