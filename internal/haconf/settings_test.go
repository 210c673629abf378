package haconf

import (
	"strings"
	"testing"
)

// Every setting lubdub.cf(5) lists is one the parser knows, and each
// default the page states is the parser's default.
func TestSettingsTableMatchesParser(t *testing.T) {
	sample := map[string]string{"TIME": "3s", "N": "2", "on|off": "on"}
	for _, s := range Settings {
		v, ok := sample[s.Value]
		if !ok {
			v = strings.Split(strings.Fields(s.Value)[0], "|")[0]
		}
		r := &Report{}
		parseLubdubCf("lubdub.cf", s.Name+" "+v+"\n", r)
		for _, e := range r.Errors {
			if strings.Contains(e.Msg, "unknown setting") {
				t.Errorf("%s: the parser does not know it: %v", s.Name, e)
			}
		}
		if s.Default == "" {
			continue
		}
		r = &Report{}
		if got := parseTuning("lubdub.cf", s.Name+" "+s.Default+"\n", r); got != DefaultTuning || len(r.Errors) > 0 {
			t.Errorf("%s %s: the documented default is not the parser's (%v)", s.Name, s.Default, r.Errors)
		}
		if s.Doc == "" || !strings.HasSuffix(s.Doc, ".") {
			t.Errorf("%s: no sentence of documentation", s.Name)
		}
	}
	r := &Report{}
	parseTuning("lubdub.cf", "frob 1\n", r)
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "fence_device, fencing_level)") {
		t.Errorf("unknown setting: %v", r.Errors)
	}
}
