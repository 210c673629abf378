package haconf

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFencingInLubdubCf(t *testing.T) {
	cf := `# fencing
fence_device ipmi2 fence_ipmilan ip=198.18.0.12 username=admin password="se cr#et" lanplus=1 pcmk_host_list=node2 pcmk_delay_base=2s
fence_device pdu glue:apcmaster ipaddr=198.18.0.20 login=apc password=apc pcmk_host_list=node1,node2
fence_device rec external/record hostlist="node1 node2" pcmk_reboot_timeout=90
fence_device sbd /usr/sbin/fence_sbd devices=/dev/disk/by-id/x pcmk_host_map=node1:1;node2:2
fencing_level node2 2 pdu,rec
fencing_level NODE2 1 ipmi2
fencing_level node1 1 ha.cf
`
	dir := write(t, map[string]string{"ha.cf": "node node1 node2\nbcast eth0\nstonith_host * null node1 node2\n", "authkeys": goodAuth, "lubdub.cf": cf})
	c, r := Load(dir, Options{Node: "node1"})
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	ds := c.Fencing.Devices
	if len(ds) != 4 {
		t.Fatalf("devices %+v", ds)
	}
	if d := ds[0]; d.Kind != "agent" || d.Plugin != "fence_ipmilan" || d.Params["password"] != "se cr#et" || d.Params["lanplus"] != "1" ||
		!reflect.DeepEqual(d.HostList, []string{"node2"}) || d.DelayBase != 2*time.Second || d.Line != 2 {
		t.Errorf("ipmi2 = %+v", d)
	}
	if _, leaked := ds[0].Params["pcmk_host_list"]; leaked {
		t.Errorf("pcmk_ settings are lubdub's and must not reach the agent")
	}
	if d := ds[1]; d.Kind != "glue" || d.Plugin != "apcmaster" || len(d.HostList) != 2 {
		t.Errorf("pdu = %+v", d)
	}
	if d := ds[2]; d.Kind != "external" || d.Plugin != "external/record" || d.Params["hostlist"] != "node1 node2" || d.RebootTimeout != 90*time.Second {
		t.Errorf("rec = %+v", d)
	}
	if d := ds[3]; d.Kind != "agent" || d.HostMap["node2"] != "2" {
		t.Errorf("sbd = %+v", d)
	}
	lv := c.Fencing.LevelsOf("node2")
	if len(lv) != 2 || lv[0].Index != 1 || lv[0].Devices[0] != "ipmi2" || !reflect.DeepEqual(lv[1].Devices, []string{"pdu", "rec"}) {
		t.Errorf("node2 levels %+v", lv)
	}
	var b strings.Builder
	c.Describe(&b, "node1")
	for _, want := range []string{"stonith_host * null with hostlist" /* no checker: words */, "ipmi2: fence_ipmilan (fence agent", "fencing node2: level 1 ipmi2; level 2 pdu+rec;", "fencing node1: level 1 ha.cf;"} {
		if want == "stonith_host * null with hostlist" {
			want = "stonith_host * null with 2 parameter word(s) (ha.cf line 3) <- this node's device"
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "se cr#et") {
		t.Errorf("check shows a password")
	}
}

func TestFencingErrors(t *testing.T) {
	cases := []struct{ cf, want string }{
		{"fence_device x\n", "fence_device takes NAME AGENT"},
		{"fence_device x bogus a=b\n", `agent "bogus" is neither`},
		{"fence_device ha.cf fence_x\n", "not a usable device name"},
		{"fence_device x fence_x a\n", `"a" is not key=value`},
		{"fence_device x fence_x action=off\n", "action is set by lubdub"},
		{"fence_device x fence_x pcmk_frob=1\n", "pcmk_frob is not a setting"},
		{"fence_device x fence_x pcmk_delay_base=soon\n", "pcmk_delay_base"},
		{"fence_device x external/r pcmk_host_map=a:1\n", "pcmk_host_map applies to fence_* agents only"},
		{"fence_device x fence_x pw=\"open\n", "double quote is not closed"},
		{"fence_device x fence_x\nfence_device x fence_y\n", "defined twice (first on line 1)"},
		{"fencing_level node2 0 x\n", "must be 1 to 9"},
		{"fencing_level node2 1\n", "fencing_level takes NODE INDEX"},
		{"fencing_level node9 1 x\nfence_device x fence_x\n", "node9 is not a cluster node"},
		{"fencing_level node2 1 y\n", "device y is not defined"},
		{"fencing_level node2 1 ha.cf\n", "ha.cf has no stonith"},
		{"fencing_level node2 1 x,,y\n", "an empty device name"},
		{"fence_device x fence_x\nfencing_level node2 1 x\nfencing_level node2 1 x\n", "fencing_level node2 1 is given twice (first on line 2)"},
	}
	for _, tc := range cases {
		dir := write(t, map[string]string{"ha.cf": "node node1 node2\nbcast eth0\n", "authkeys": goodAuth, "lubdub.cf": tc.cf})
		_, r := Load(dir, Options{Node: "node1"})
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, tc.want) || r.Errors[0].Line == 0 || !strings.HasSuffix(r.Errors[0].File, "lubdub.cf") {
			t.Errorf("%q: errors %v; want one FILE:LINE error with %q", tc.cf, r.Errors, tc.want)
		}
	}
}

func FuzzSplitWords(f *testing.F) {
	f.Add(`fence_device x fence_y a="b c" d=\"e`)
	f.Add(`"\\" "\""`)
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitWords(s)
		if err != nil {
			return
		}
		// Quoting every word and splitting again gives the same words.
		var q []string
		for _, w := range words {
			q = append(q, `"`+strings.ReplaceAll(strings.ReplaceAll(w, `\`, `\\`), `"`, `\"`)+`"`)
		}
		again, err := SplitWords(strings.Join(q, " "))
		if err != nil || !reflect.DeepEqual(again, words) && len(words) > 0 {
			t.Fatalf("%q -> %q -> %q (%v)", s, words, again, err)
		}
	})
}

func FuzzLubdubCf(f *testing.F) {
	f.Add("fence_device ipmi2 fence_ipmilan ip=198.18.0.12 pcmk_host_list=node2\nfencing_level node2 1 ipmi2\n")
	f.Add("metrics_listen [::1]:9664\nfailure_timeout 60\n")
	f.Add("start_timeout 5s\nfence_device a glue:null hostlist=\"a b\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := &Report{}
		tu, fc := parseLubdubCf("lubdub.cf", s, r)
		if tu.MetricsListen != "" {
			if _, err := netip.ParseAddrPort(tu.MetricsListen); err != nil {
				t.Fatalf("metrics_listen read as %q from %q", tu.MetricsListen, s)
			}
		}
		for _, d := range fc.Devices {
			if d.Name == "" || d.Plugin == "" || d.Kind == "" {
				t.Fatalf("device %+v from %q", d, s)
			}
		}
		for _, l := range fc.Levels {
			if l.Index < 1 || l.Index > 9 || len(l.Devices) == 0 {
				t.Fatalf("level %+v from %q", l, s)
			}
		}
		for _, e := range r.Errors {
			if e.Line < 1 {
				t.Fatalf("error without a line: %v", e)
			}
		}
	})
}
