package resource

import (
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lubdub/lubdub/internal/haconf"
)

// Filesystem::device::directory::fstype[::options]: mount options that are
// flags become flags (as mount(8) turns them into MS_*), the rest is the
// filesystem's data; device, directory and type are required.
func TestFilesystemArguments(t *testing.T) {
	r, err := haconf.ParseResource("Filesystem::/dev/sdb1::/srv/data/::ext4::ro,noatime,nosuid,errors=remount-ro,defaults,,commit=5")
	if err != nil {
		t.Fatal(err)
	}
	f, err := newFilesystem(r, Env{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if f.device != "/dev/sdb1" || f.dir != "/srv/data" || f.fstype != "ext4" {
		t.Errorf("device %q dir %q type %q", f.device, f.dir, f.fstype)
	}
	if f.flags != unix.MS_RDONLY|unix.MS_NOATIME|unix.MS_NOSUID || f.data != "errors=remount-ro,commit=5" {
		t.Errorf("flags %#x data %q", f.flags, f.data)
	}
	if f.Name() != r.Raw {
		t.Errorf("name %q", f.Name())
	}
	r, err = haconf.ParseResource("Filesystem::/dev/sdb1::/srv::xfs")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := newFilesystem(r, Env{}); err != nil || f.fstype != "xfs" || f.flags != 0 || f.data != "" {
		t.Errorf("without options: %+v %v", f, err)
	}
	for spec, want := range map[string]string{
		"Filesystem::/dev/sdb1":         "needs device and directory",
		"Filesystem::/dev/sdb1::/srv":   "give the filesystem type",
		"Filesystem::/dev/sdb1::/srv::": "give the filesystem type",
	} {
		r, err := haconf.ParseResource(spec)
		if err != nil {
			continue
		}
		if _, err := newFilesystem(r, Env{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
}

// /proc/self/mountinfo writes a space, tab, newline and backslash in a
// mount point as octal escapes.
func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/srv/data`:         "/srv/data",
		`/srv/my\040data`:   "/srv/my data",
		`/a\011b\012c\134d`: "/a\tb\nc\\d",
		`/odd\04`:           `/odd\04`,
		`/not\xyzoctal`:     `/not\xyzoctal`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
