package resource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// haresources' ldirectord[::FILE] finds its file in the configuration
// directory (ldirectord.cf by default); a missing file is an error naming
// the resource, so the group cannot start here.
func TestLdirectordResourceNeedsItsFile(t *testing.T) {
	env := testEnv(t, nil)
	os.MkdirAll(env.ConfigDir, 0o755)
	for _, spec := range []string{"ldirectord", "ldirectord::web.cf"} {
		if _, err := New(mustResource(t, spec), env); err == nil || !strings.Contains(err.Error(), "resource "+spec+": reading its configuration") {
			t.Errorf("%s without its file: %v", spec, err)
		}
	}
	cf := "virtual=198.18.0.10:80\n\treal=198.18.1.2:80 masq\n\tscheduler=rr\n\tchecktype=on\n"
	if err := os.WriteFile(filepath.Join(env.ConfigDir, "web.cf"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := New(mustResource(t, "ldirectord::web.cf"), env)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "ldirectord::web.cf" {
		t.Errorf("name %q", a.Name())
	}
}
