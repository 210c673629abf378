package vm

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
)

// Kernel is Debian's kernel package, unpacked in the cache.
type Kernel struct {
	Package string            // linux-image-6.1.0-57-amd64, say
	Version string            // 6.1.0-57-amd64: the directory under lib/modules
	Image   string            // path of vmlinuz
	Root    string            // where the package is unpacked
	modules map[string]string // name -> path
	aliases map[string]string // alias -> name, read when first needed
}

// CacheDir is where kernels are kept between runs: $LUBDUB_VM_CACHE, or
// lubdub-vm in the user's cache directory (/root/.cache for root).
func CacheDir() string {
	if d := os.Getenv("LUBDUB_VM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lubdub-vm")
	}
	return filepath.Join(os.TempDir(), "lubdub-vm")
}

var imagePkg = regexp.MustCompile(`^linux-image-[0-9][^ ]*-amd64$`)

// FetchKernel returns Debian's current amd64 kernel (the package that
// linux-image-amd64 depends on), downloaded with apt-get download and
// unpacked with dpkg-deb -x into cacheDir; nothing is installed on the
// host. A kernel already in the cache is used without asking apt, so
// later runs are fast and need no network. Errors that mean "cannot be had
// here" wrap ErrUnavailable.
func FetchKernel(ctx context.Context, cacheDir string) (*Kernel, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating VM cache %s: %w", cacheDir, err)
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	current := filepath.Join(cacheDir, "current")
	if b, err := os.ReadFile(current); err == nil {
		if k, err := openKernel(filepath.Join(cacheDir, strings.TrimSpace(string(b)))); err == nil {
			return k, nil
		}
	}
	for _, tool := range []string{"apt-cache", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s is missing (Debian's kernel is fetched with apt)", ErrUnavailable, tool)
		}
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return nil, fmt.Errorf("%w: apt-cache depends linux-image-amd64: %v (run apt-get update?)", ErrUnavailable, err)
	}
	pkg := ""
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Depends: "); ok && imagePkg.MatchString(v) {
			pkg = v
			break
		}
	}
	if pkg == "" {
		return nil, fmt.Errorf("%w: linux-image-amd64 depends on no linux-image-*-amd64 package:\n%s", ErrUnavailable, out)
	}
	dl := filepath.Join(cacheDir, "download")
	os.RemoveAll(dl)
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dl)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: apt-get download %s: %v\n%s", ErrUnavailable, pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s left %d packages in %s", pkg, len(debs), dl)
	}
	root := filepath.Join(cacheDir, pkg)
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("unpacking %s: %v\n%s", debs[0], err, out)
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		return nil, err
	}
	k, err := openKernel(root)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(current, []byte(pkg+"\n"), 0o644); err != nil {
		return nil, err
	}
	return k, nil
}

// lockDir serialises test processes that fill the cache.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking VM cache: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking VM cache: %w", err)
	}
	return func() { f.Close() }, nil
}

// openKernel indexes an unpacked kernel package.
func openKernel(root string) (*Kernel, error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return nil, fmt.Errorf("%s: expected one boot/vmlinuz-*, found %d", root, len(images))
	}
	version := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	k := &Kernel{Package: filepath.Base(root), Version: version, Image: images[0], Root: root, modules: map[string]string{}}
	moddir := filepath.Join(root, "lib", "modules", version)
	err := filepath.WalkDir(moddir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := strings.CutSuffix(d.Name(), ".ko"); ok && !d.IsDir() {
			k.modules[modName(name)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing modules of %s: %w", root, err)
	}
	if len(k.modules) == 0 {
		return nil, fmt.Errorf("%s: no uncompressed .ko modules under %s", root, moddir)
	}
	return k, nil
}

// modName is a module's canonical name: the kernel treats - and _ alike.
func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// ModuleOrder returns the module files to load for names, dependencies
// first (each from its .modinfo "depends=" and "softdep=pre:"), without
// duplicates. Modules
// built into the kernel (listed in modules.builtin) are left out.
func (k *Kernel) ModuleOrder(names []string) ([]string, error) {
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(k.Root, "lib", "modules", k.Version, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[modName(strings.TrimSuffix(filepath.Base(l), ".ko"))] = true
		}
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		name = modName(name)
		switch {
		case state[name] == 2 || builtin[name]:
			return nil
		case state[name] == 1:
			return fmt.Errorf("module dependency loop at %s", name)
		}
		path, ok := k.modules[name]
		if !ok {
			if from != "" {
				return fmt.Errorf("module %s (needed by %s) is not in %s", name, from, k.Package)
			}
			return fmt.Errorf("module %s is not in %s", name, k.Package)
		}
		state[name] = 1
		hard, soft, err := moduleDepends(path)
		if err != nil {
			return err
		}
		for _, d := range soft {
			if _, ok := k.modules[modName(d)]; !ok {
				if d = k.resolveAlias(d); d == "" {
					continue // a soft dependency may be built in or absent
				}
			}
			if err := visit(d, name); err != nil {
				return err
			}
		}
		for _, d := range hard {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, path)
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// modinfo reads a module's .modinfo section: its key=value pairs.
func modinfo(path string) (map[string][]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s has no .modinfo section", path)
	}
	b, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("reading .modinfo of %s: %w", path, err)
	}
	info := map[string][]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte("=")); ok {
			info[string(k)] = append(info[string(k)], string(v))
		}
	}
	return info, nil
}

// moduleDepends returns what must be loaded before a module: its
// "depends=" and the "pre:" modules of its "softdep=" (libcrc32c needs
// crc32c that way), the latter as names or aliases.
func moduleDepends(path string) (hard, soft []string, err error) {
	info, err := modinfo(path)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range info["depends"] {
		if d != "" {
			hard = append(hard, strings.Split(d, ",")...)
		}
	}
	for _, sd := range info["softdep"] {
		pre := false
		for _, w := range strings.Fields(sd) {
			switch w {
			case "pre:":
				pre = true
			case "post:":
				pre = false
			default:
				if pre {
					soft = append(soft, w)
				}
			}
		}
	}
	return hard, soft, nil
}

// resolveAlias finds the module that provides an alias ("crc32c" is
// crc32c_generic's "crypto-crc32c"), or "".
func (k *Kernel) resolveAlias(alias string) string {
	if k.aliases == nil {
		k.aliases = map[string]string{}
		for name, path := range k.modules {
			info, err := modinfo(path)
			if err != nil {
				continue
			}
			for _, a := range info["alias"] {
				if _, ok := k.aliases[a]; !ok || strings.HasSuffix(name, "_generic") {
					k.aliases[a] = name
				}
			}
		}
	}
	if n, ok := k.aliases[alias]; ok {
		return n
	}
	return k.aliases["crypto-"+alias]
}

// Modules lists the names of the kernel's modules matching a pattern
// (filepath.Match syntax on the name, "ip_vs_*" say), sorted.
func (k *Kernel) Modules(pattern string) []string {
	var out []string
	for n := range k.modules {
		if ok, _ := filepath.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// sharedLibs returns the ELF interpreter and the shared libraries a
// dynamic executable needs (recursively), as host paths; nil for a static
// one. Libraries are looked up where Debian puts them.
func sharedLibs(path string) ([]string, error) {
	dirs := []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib", "/lib"}
	var out []string
	seen := map[string]bool{}
	var walk func(p string, top bool) error
	walk = func(p string, top bool) error {
		f, err := elf.Open(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		defer f.Close()
		if top {
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					b := make([]byte, prog.Filesz)
					if _, err := prog.ReadAt(b, 0); err != nil {
						return fmt.Errorf("reading interpreter of %s: %w", p, err)
					}
					interp := string(bytes.TrimRight(b, "\x00"))
					seen[filepath.Base(interp)] = true
					out = append(out, interp)
				}
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("reading libraries of %s: %w", p, err)
		}
		for _, lib := range libs {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			found := ""
			for _, d := range dirs {
				if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
					found = filepath.Join(d, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, which is not on this machine", p, lib)
			}
			out = append(out, found)
			if err := walk(found, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(path, true); err != nil {
		return nil, err
	}
	return out, nil
}

// ErrUnavailable means the VM cannot be had on this machine (no QEMU, no
// kernel package, no busybox); tests skip on it.
var ErrUnavailable = errors.New("VM unavailable")
