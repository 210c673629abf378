// Package deb tests the Debian package ./scripts/deb builds: reproducible,
// lintian-clean but for the tags its overrides explain, and installed,
// upgraded from an earlier build, removed and purged in a throwaway Debian
// root (made by mmdebstrap from Debian's packages, cached), never on this
// machine, with the files, links, alternatives and service links each step
// leaves checked.
package deb

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// rootIncludes are the packages the throwaway root has beyond Debian's
// essential set: what lubdub's maintainer scripts call, and ipvsadm's
// libraries (ipvsadm itself is kept as a .deb in /root/debs, installed
// by the test when it wants Debian's ipvsadm present).
const rootIncludes = "init-system-helpers,ipvsadm"

const suite = "bookworm"

// need skips the test without root or the tools.
func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (chroot, dpkg in a throwaway root)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

// build runs ./scripts/deb into a new directory and returns the package.
func build(t *testing.T, version string) string {
	t.Helper()
	start := time.Now()
	deb, err := runDeb(t.TempDir(), version)
	if err != "" {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", filepath.Base(deb), time.Since(start).Round(100*time.Millisecond))
	return deb
}

// runDeb runs ./scripts/deb OUT (LUBDUB_VERSION=version unless "") and
// returns the package it printed, or what went wrong.
func runDeb(out, version string) (string, string) {
	cmd := exec.Command("../../scripts/deb", out)
	cmd.Env = os.Environ()
	if version != "" {
		cmd.Env = append(cmd.Env, "LUBDUB_VERSION="+version)
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("scripts/deb: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	deb := lines[len(lines)-1]
	if _, err := os.Stat(deb); err != nil {
		return "", fmt.Sprintf("scripts/deb printed %q: %v", deb, err)
	}
	return deb, ""
}

var (
	current     string
	currentOnce sync.Once
	currentErr  string
)

// currentBuild is this tree's package, built once for the tests.
func currentBuild(t *testing.T) string {
	t.Helper()
	currentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lubdub-deb-test")
		if err != nil {
			currentErr = err.Error()
			return
		}
		current, currentErr = runDeb(dir, "")
	})
	if currentErr != "" {
		t.Fatal(currentErr)
	}
	return current
}

func TestMain(m *testing.M) {
	code := m.Run()
	if current != "" {
		os.RemoveAll(filepath.Dir(current))
	}
	os.Exit(code)
}

// rootTarball is the cached throwaway root, made once per include list.
func rootTarball(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	key := sha256.Sum256([]byte(suite + " essential " + rootIncludes))
	cache := filepath.Join(home, ".cache", "lubdub-deb")
	tarball := filepath.Join(cache, fmt.Sprintf("%s-%x.tar", suite, key[:6]))
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed (apt-get install mmdebstrap) and no root is cached")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := tarball + ".tmp"
	hook := `mkdir -p "$1/root/debs" && cp "$1"/var/cache/apt/archives/ipvsadm_*.deb "$1/root/debs/" && chroot "$1" dpkg --purge ipvsadm`
	start := time.Now()
	cmd := exec.Command("mmdebstrap", "--mode=root", "--variant=essential", "--include="+rootIncludes,
		"--customize-hook="+hook, suite, tmp, "http://deb.debian.org/debian")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Skipf("cannot make a %s root with mmdebstrap (no Debian mirror?): %v\n%s", suite, err, out)
	}
	t.Logf("made the throwaway root in %s (cached as %s)", time.Since(start).Round(time.Second), tarball)
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// chroot is a throwaway Debian root.
type chroot struct {
	t   *testing.T
	dir string
}

func newChroot(t *testing.T) *chroot {
	t.Helper()
	tarball := rootTarball(t)
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xf", tarball, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("unpacking the root: %v\n%s", err, out)
	}
	// Nothing is started in a chroot: invoke-rc.d and deb-systemd-invoke
	// ask policy-rc.d.
	if err := os.WriteFile(filepath.Join(dir, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &chroot{t: t, dir: dir}
}

// run runs a shell command inside the root.
func (c *chroot) run(script string) (string, int) {
	c.t.Helper()
	cmd := exec.Command("chroot", c.dir, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "HOME=/root"}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("chroot %s: %v", script, err)
	}
	return string(out), code
}

func (c *chroot) must(script string) string {
	c.t.Helper()
	out, code := c.run(script)
	if code != 0 {
		c.t.Fatalf("in the root: %s: exit %d\n%s", script, code, out)
	}
	return out
}

// dpkg copies a package into the root and runs dpkg ACTION on it.
func (c *chroot) dpkgInstall(deb string) string {
	c.t.Helper()
	b, err := os.ReadFile(deb)
	if err != nil {
		c.t.Fatal(err)
	}
	in := "/tmp/" + filepath.Base(deb)
	if err := os.WriteFile(filepath.Join(c.dir, in), b, 0o644); err != nil {
		c.t.Fatal(err)
	}
	return c.must("dpkg --force-confold -i " + in)
}

// link is the target of a symbolic link in the root ("" if it is none).
func (c *chroot) link(path string) string {
	target, err := os.Readlink(filepath.Join(c.dir, path))
	if err != nil {
		return ""
	}
	return target
}

func (c *chroot) exists(path string) bool {
	_, err := os.Lstat(filepath.Join(c.dir, path))
	return err == nil
}

// snapshot lists every file of the root (type, mode, size or link target),
// but dpkg's and apt's own records and logs.
func (c *chroot) snapshot() map[string]string {
	c.t.Helper()
	skip := []string{"var/lib/dpkg", "var/log", "var/cache", "tmp", "root"}
	files := map[string]string{}
	err := filepath.WalkDir(c.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.dir, path)
		if slices.Contains(skip, rel) {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			desc += " -> " + target
		case info.Mode().IsRegular():
			desc += fmt.Sprintf(" %d", info.Size())
		}
		files[rel] = desc
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return files
}

func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for p, v := range after {
		if w, ok := before[p]; !ok {
			d = append(d, "left behind: "+p+" "+v)
		} else if w != v {
			d = append(d, "changed: "+p+" "+w+" => "+v)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			d = append(d, "gone: "+p)
		}
	}
	sort.Strings(d)
	return d
}

// The package builds to the same bytes twice, holds what it should with
// root's ownership, declares its conflict with heartbeat, and lintian
// finds nothing its overrides do not explain.
func TestPackageBuild(t *testing.T) {
	need(t, "dpkg-deb", "go", "git")
	a, b := currentBuild(t), build(t, "")
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Errorf("two builds differ: %s and %s", a, b)
	}
	if !strings.HasPrefix(filepath.Base(a), "lubdub_") || !strings.HasSuffix(a, ".deb") {
		t.Errorf("package named %s", filepath.Base(a))
	}
	info, err := exec.Command("dpkg-deb", "-f", a, "Package", "Conflicts", "Pre-Depends", "Section").Output()
	if err != nil || string(info) != "Package: lubdub\nConflicts: heartbeat\nPre-Depends: init-system-helpers (>= 1.54~)\nSection: admin\n" {
		t.Errorf("control fields: %q %v", info, err)
	}
	list, err := exec.Command("dpkg-deb", "-c", a).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root .* ./usr/sbin/lubdub$",
		"lrwxrwxrwx root/root .* ./usr/sbin/cl_status -> lubdub$",
		"lrwxrwxrwx root/root .* ./usr/sbin/hb_standby -> lubdub$",
		"lrwxrwxrwx root/root .* ./usr/sbin/hb_takeover -> lubdub$",
		"-rwxr-xr-x root/root .* ./etc/init.d/lubdub$",
		"-rw-r--r-- root/root .* ./etc/default/lubdub$",
		"-rw-r--r-- root/root .* ./lib/systemd/system/lubdub.service$",
		"-rw-r--r-- root/root .* ./usr/share/man/man8/lubdub.8.gz$",
		"-rw-r--r-- root/root .* ./usr/share/man/man8/lubdub-lvs.8.gz$",
		"-rw-r--r-- root/root .* ./usr/share/man/man5/lubdub.cf.5.gz$",
		"-rw-r--r-- root/root .* ./usr/share/man/man7/lubdub-differences.7.gz$",
		"-rw-r--r-- root/root .* ./usr/share/bash-completion/completions/lubdub$",
		"-rw-r--r-- root/root .* ./usr/share/zsh/vendor-completions/_lubdub$",
		"-rw-r--r-- root/root .* ./usr/share/doc/lubdub/copyright$",
	} {
		if !matchLine(string(list), want) {
			t.Errorf("the package lacks %s", want)
		}
	}
	for _, never := range []string{"./usr/sbin/ipvsadm", "./usr/sbin/meatclient", "./etc/ha.d"} {
		if strings.Contains(string(list), never) {
			t.Errorf("the package ships %s (an alternative, or the operator's)", never)
		}
	}
	if _, err := exec.LookPath("lintian"); err != nil {
		t.Log("lintian is not installed: not run (apt-get install lintian)")
		return
	}
	start := time.Now()
	out, err := exec.Command("lintian", "--tag-display-limit", "0", "-I", "--pedantic", a).CombinedOutput()
	if tags := regexp.MustCompile(`(?m)^[EWIPXCO]: .*`).FindAllString(string(out), -1); err != nil || len(tags) > 0 {
		t.Errorf("lintian (tags that the overrides in dist/deb/lintian-overrides do not explain): %v\n%s", err, out)
	}
	t.Logf("lintian: clean (with dist/deb/lintian-overrides) in %s", time.Since(start).Round(100*time.Millisecond))
}

func matchLine(text, pattern string) bool {
	return regexp.MustCompile("(?m)" + pattern).MatchString(text)
}

// Install an earlier build, upgrade to this one, bring Debian's ipvsadm
// and take it away, remove, purge: each step's files, links,
// alternatives and service links, in a throwaway root.
func TestInstallUpgradePurge(t *testing.T) {
	need(t, "dpkg-deb", "go", "git", "chroot", "tar")
	prev := build(t, "0.0.9~prev1")
	cur := currentBuild(t)
	start := time.Now()
	c := newChroot(t)
	t.Logf("throwaway root ready in %s", time.Since(start).Round(100*time.Millisecond))
	defer func() { t.Logf("install, upgrade, remove, purge in %s", time.Since(start).Round(100*time.Millisecond)) }()
	pristine := c.snapshot()

	// An earlier build, on a machine without Debian's ipvsadm.
	c.dpkgInstall(prev)
	if out := c.must("lubdub version"); out != "lubdub 0.0.9~prev1\n" {
		t.Errorf("after installing the earlier build: lubdub version says %q", out)
	}
	c.checkInstalled("install")
	c.must("echo 'LUBDUB_OPTS=\"--node node1\"' >>/etc/default/lubdub; mkdir -p /var/lib/lubdub; echo 42 >/var/lib/lubdub/generation")

	// The upgrade: the operator's defaults and the node's state stay.
	c.dpkgInstall(cur)
	if out := c.must("lubdub version"); !strings.HasPrefix(out, "lubdub ") || strings.Contains(out, "prev") {
		t.Errorf("after the upgrade: lubdub version says %q", out)
	}
	c.checkInstalled("upgrade")
	if out := c.must("cat /etc/default/lubdub"); !strings.Contains(out, `LUBDUB_OPTS="--node node1"`) {
		t.Errorf("the upgrade lost the edit of /etc/default/lubdub: %q", out)
	}
	if out := c.must("cat /var/lib/lubdub/generation"); out != "42\n" {
		t.Errorf("the upgrade lost the node's state: %q", out)
	}

	// Debian's ipvsadm arrives: lubdub's alternative steps aside (dpkg's
	// file trigger), and comes back when it is purged.
	c.must("dpkg -i /root/debs/ipvsadm_*.deb")
	if out, code := c.run("update-alternatives --query ipvsadm"); code == 0 {
		t.Errorf("lubdub's ipvsadm alternative stays beside Debian's ipvsadm: %s", out)
	}
	// (Debian's ipvsadm needs IPVS in the kernel even for --version.)
	if out, code := c.run("! cmp -s /usr/sbin/ipvsadm /usr/sbin/lubdub && dpkg-query -S /sbin/ipvsadm"); code != 0 || !strings.Contains(out, "ipvsadm: /sbin/ipvsadm") {
		t.Errorf("with Debian's ipvsadm installed, /usr/sbin/ipvsadm is not its file: %s", out)
	}
	if c.link("usr/sbin/ipvsadm") != "" || c.link("usr/share/man/man8/ipvsadm.8.gz") != "" {
		t.Error("Debian's ipvsadm or its manual page is a link")
	}
	c.must("dpkg --purge ipvsadm")
	c.checkInstalled("after Debian's ipvsadm came and went")

	// The init script works in the root (no systemd there).
	if out, code := c.run("/etc/init.d/lubdub status"); code != 3 || !strings.Contains(out, "lubdub is stopped.") {
		t.Errorf("init script status: %q exit %d, want 3", out, code)
	}
	if out, code := c.run("/etc/init.d/lubdub start"); code != 0 || !strings.Contains(out, "/etc/ha.d/ha.cf does not exist") {
		t.Errorf("init script start without ha.cf: %q exit %d, want 0 and a word", out, code)
	}

	// Remove: the program, links and alternatives go; conffiles stay.
	c.must("dpkg --remove lubdub")
	for _, gone := range []string{"usr/sbin/lubdub", "usr/sbin/cl_status", "usr/sbin/ipvsadm", "usr/sbin/meatclient",
		"etc/alternatives/ipvsadm", "usr/share/man/man8/lubdub.8.gz", "lib/systemd/system/lubdub.service"} {
		if c.exists(gone) {
			t.Errorf("after remove: %s is left", gone)
		}
	}
	for _, kept := range []string{"etc/default/lubdub", "etc/init.d/lubdub", "var/lib/lubdub/generation"} {
		if !c.exists(kept) {
			t.Errorf("after remove: %s is gone (kept until purge)", kept)
		}
	}
	if out := c.must("dpkg-query -W -f='${db:Status-Status}' lubdub"); out != "config-files" {
		t.Errorf("after remove: status %q", out)
	}

	// Purge: the root is as it was.
	c.must("dpkg --purge lubdub")
	if d := diffSnapshots(pristine, c.snapshot()); len(d) > 0 {
		t.Errorf("after purge the root differs from before the install:\n%s", strings.Join(d, "\n"))
	}
}

// checkInstalled checks what an installed lubdub leaves in the root.
func (c *chroot) checkInstalled(step string) {
	t := c.t
	t.Helper()
	for link, want := range map[string]string{
		"usr/sbin/cl_status":                                        "lubdub",
		"usr/sbin/hb_standby":                                       "lubdub",
		"usr/sbin/hb_takeover":                                      "lubdub",
		"usr/share/heartbeat/hb_takeover":                           "../../sbin/lubdub",
		"usr/sbin/ipvsadm":                                          "/etc/alternatives/ipvsadm",
		"etc/alternatives/ipvsadm":                                  "/usr/sbin/lubdub",
		"usr/share/man/man8/ipvsadm.8.gz":                           "/etc/alternatives/ipvsadm.8.gz",
		"etc/alternatives/ipvsadm.8.gz":                             "/usr/share/man/man8/lubdub-lvs.8.gz",
		"usr/sbin/meatclient":                                       "/etc/alternatives/meatclient",
		"etc/alternatives/meatclient":                               "/usr/sbin/lubdub",
		"etc/systemd/system/multi-user.target.wants/lubdub.service": "/lib/systemd/system/lubdub.service",
	} {
		if got := c.link(link); got != want {
			t.Errorf("%s: %s -> %q, want -> %q", step, link, got, want)
		}
	}
	if out, _ := c.run("ls /etc/rc2.d/ /etc/rc0.d/"); !strings.Contains(out, "S01lubdub") || !strings.Contains(out, "K01lubdub") {
		t.Errorf("%s: init links in rc2.d and rc0.d: %s", step, out)
	}
	if out := c.must("ipvsadm --version"); !strings.Contains(out, "lubdub lvs") {
		t.Errorf("%s: ipvsadm --version says %q, want lubdub lvs's", step, out)
	}
	if out := c.must("dpkg-query -W -f='${Conffiles}' lubdub"); !strings.Contains(out, "/etc/default/lubdub") || !strings.Contains(out, "/etc/init.d/lubdub") {
		t.Errorf("%s: conffiles %q", step, out)
	}
	if out := c.must("cl_status hbstatus 2>&1; echo exit $?"); !strings.Contains(out, "exit 1") {
		t.Errorf("%s: cl_status without a daemon: %q", step, out)
	}
}
