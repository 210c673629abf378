package haconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A missing or unreadable authkeys is an error naming the file; nothing
// is signed with keys that could not be read.
func TestAuthkeysUnreadable(t *testing.T) {
	dir := t.TempDir()
	r := &Report{}
	if kr := loadAuthkeys(filepath.Join(dir, "authkeys"), r); kr != nil || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].String(), "authkeys: cannot read the authentication keys") {
		t.Fatalf("missing authkeys: %v %v", kr, r.Errors)
	}
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	r = &Report{}
	if kr := loadAuthkeys(filepath.Join(dir, "keys"), r); kr != nil || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "cannot read the authentication keys") {
		t.Fatalf("authkeys a directory: %v %v", kr, r.Errors)
	}
}

// scanInt reads key numbers as scanf's %d: blanks, a sign, digits; a huge
// number does not wrap around into a small one.
func TestScanInt(t *testing.T) {
	for _, c := range []struct {
		in, rest string
		n        int
		ok       bool
	}{
		{" 3 sha1", " sha1", 3, true},
		{"+2x", "x", 2, true},
		{"-1", "", -1, true},
		{"x1", "x1", 0, false},
		{"-", "-", 0, false},
		{"", "", 0, false},
	} {
		n, rest, ok := scanInt(c.in)
		if n != c.n || rest != c.rest || ok != c.ok {
			t.Errorf("scanInt(%q) = %d %q %v, want %d %q %v", c.in, n, rest, ok, c.n, c.rest, c.ok)
		}
	}
	if n, _, ok := scanInt("99999999999999999999999999"); !ok || n < 1<<20 || n > 10<<20 {
		t.Errorf("a huge number read as %d", n)
	}
}
