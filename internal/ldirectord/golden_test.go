package ldirectord

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lubdub/lubdub/internal/datapath"
)

var update = flag.Bool("update", false, "rewrite testdata/parse/*.want from what lubdub reads")

// fileResolver resolves as ldirectord does from this machine's files
// only: numbers, names in /etc/hosts (localhost) and /etc/services; any
// other host name fails without asking DNS, so that no test needs the
// outside world.
type fileResolver struct{}

func (fileResolver) LookupHost(name string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return a, nil
	}
	if name == "localhost" {
		return SystemResolver{}.LookupHost(name)
	}
	return netip.Addr{}, fmt.Errorf("%s: not in /etc/hosts (tests ask no DNS)", name)
}

func (fileResolver) LookupPort(proto, name string) (uint16, error) {
	return SystemResolver{}.LookupPort(proto, name)
}

// describe renders what lubdub read, for the golden files.
func describe(c *Config) string {
	var b strings.Builder
	yn := map[bool]string{true: "yes", false: "no"}
	fwd := func(r *Real) string {
		s := fmt.Sprintf("%s %s weight %d (line %d)", r.Addr, ldName(r.Fwd), r.Weight, r.Line)
		if !r.PortGiven {
			s += " port-not-given"
		}
		if r.Request != "" {
			s += fmt.Sprintf(" request %q receive %q", r.Request, r.Receive)
		}
		return s
	}
	if c.MaintenanceDir != "" || c.AutoReload {
		fmt.Fprintf(&b, "maintenancedir %q autoreload %s\n", c.MaintenanceDir, yn[c.AutoReload])
	}
	for _, v := range c.Virtuals {
		fmt.Fprintf(&b, "virtual %s (line %d)\n", v.Key, v.Line)
		ct := v.CheckType
		if ct == CheckCombined {
			ct = fmt.Sprintf("combined %d", v.NumConnects)
		}
		fmt.Fprintf(&b, "  scheduler %s persistent %d netmask %s checktype %s service %s\n", v.Scheduler, v.Persistent, strings.TrimPrefix(v.Netmask.String(), "invalid IP"), ct, v.Service)
		fmt.Fprintf(&b, "  checktimeout %s negotiatetimeout %s checkinterval %s checkcount %d failurecount %d quiescent %s cleanstop %s\n",
			v.CheckTimeout, v.NegotiateTimeout, v.CheckInterval, v.CheckCount, v.FailureCount, yn[v.Quiescent], yn[v.CleanStop])
		fmt.Fprintf(&b, "  request %q receive %q virtualhost %q httpmethod %s checkport %d checkcommand %s\n",
			v.Request, v.Receive, v.VirtualHost, v.HTTPMethod, v.CheckPort, v.CheckCommand)
		for i := range v.Reals {
			r := v.Reals[i]
			fmt.Fprintf(&b, "  real %s checks %s\n", fwd(&r), CheckTarget(v, r))
		}
		if v.Fallback != nil {
			fmt.Fprintf(&b, "  fallback %s\n", fwd(v.Fallback))
		}
	}
	return b.String()
}

// Each testdata/parse/NAME.cf is one case, named for what it checks;
// NAME.want holds what lubdub must read from it (or every error, in file
// order), its notes, and what the nftables data path says of it.
func TestParseGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/parse/*.cf")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".cf")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			c, err := ParseWith(name+".cf", strings.NewReader(string(text)), fileResolver{})
			if err != nil {
				var es Errors
				if !errors.As(err, &es) {
					t.Fatalf("error %v is not Errors", err)
				}
				fmt.Fprintf(&b, "# errors\n%s\n", err)
			} else {
				fmt.Fprintf(&b, "# read\n%s", describe(c))
				if len(c.Notes) > 0 {
					fmt.Fprintf(&b, "# notes\n%s\n", strings.Join(c.Notes, "\n"))
				}
				fmt.Fprintf(&b, "# nftables\n")
				if err := c.Check(datapath.NFTables); err != nil {
					fmt.Fprintf(&b, "%s\n", err)
				} else {
					fmt.Fprintf(&b, "ok\n")
				}
			}
			want := strings.TrimSuffix(f, ".cf") + ".want"
			if *update {
				if err := os.WriteFile(want, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			w, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to write it, then check it against ldirectord)", err)
			}
			if b.String() != string(w) {
				t.Errorf("read:\n%s\nwant:\n%s", b.String(), w)
			}
		})
	}
}
