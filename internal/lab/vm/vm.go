// Package vm boots Debian's own kernel under QEMU to run tests that need
// kernel features this machine's kernel lacks (IPVS, softdog): a test
// builds an Image once (the kernel, the modules it asks for with their
// dependencies, busybox, its own static binaries and Debian programs with
// their shared libraries) and runs shell scripts in it, one boot per
// script, getting back the script's output and exit status.
//
// The contract:
//   - Nothing is installed on the host: the kernel package is fetched with
//     apt-get download and unpacked into CacheDir (kept for later runs).
//   - Where QEMU, busybox-static or the kernel package cannot be had, New
//     returns an error wrapping ErrUnavailable; tests skip on it and say why.
//   - QEMU runs under TCG (no KVM is needed), without a network card, with
//     the console on ttyS0; the guest powers off when the script ends.
//   - Every boot is bounded: the QEMU process is killed (its whole process
//     group) when the timeout passes or the context ends, and Run says so
//     with the end of the console.
//   - A boot costs several seconds; a test should run many checks in one
//     script and report them through the output.
//
// Inside the guest: / is the initramfs (writable), /proc, /sys, /dev,
// /run and /tmp are mounted, the modules are loaded, lo is up, busybox
// provides the usual commands (in /busybox, last in PATH, so that the
// copied Debian programs win). Debian's busybox sh runs its own applets
// before looking at PATH: call a copied program that busybox also has
// (ip) by its full path.
package vm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec says what goes into an image.
type Spec struct {
	// Modules are loaded at boot, each after its dependencies.
	Modules []string
	// Programs are host executables copied to the same path in the guest
	// with the shared libraries and loader they need (Debian's ipvsadm,
	// say).
	Programs []string
	// Files are copied in as given (a static lubdub, say).
	Files []File
	// CacheDir holds the kernel; CacheDir() when empty.
	CacheDir string
}

// File is one file put into the guest.
type File struct {
	Guest string // absolute path in the guest
	Host  string // path on the host
	Mode  fs.FileMode
}

// Image is a bootable kernel and initramfs.
type Image struct {
	Kernel *Kernel
	dir    string
	initrd string // the base initramfs; each run appends its script
	qemu   string
}

// New builds an image in dir (which the caller removes).
func New(ctx context.Context, dir string, spec Spec) (*Image, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("%w: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)", ErrUnavailable)
	}
	busybox := "/bin/busybox"
	if err := checkStatic(busybox); err != nil {
		return nil, fmt.Errorf("%w: %v (apt-get install busybox-static)", ErrUnavailable, err)
	}
	cache := spec.CacheDir
	if cache == "" {
		cache = CacheDir()
	}
	k, err := FetchKernel(ctx, cache)
	if err != nil {
		return nil, err
	}
	mods, err := k.ModuleOrder(spec.Modules)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	c := newCpio(&buf)
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/root", "/etc", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/var"} {
		c.Dir(d)
	}
	c.Symlink("/var/run", "/run")
	if err := addHostFile(c, "/bin/busybox", busybox, 0o755); err != nil {
		return nil, err
	}
	c.Symlink("/bin/sh", "busybox")
	var load []string
	for _, m := range mods {
		rel, _ := filepath.Rel(k.Root, m)
		g := "/" + filepath.ToSlash(rel)
		if err := addHostFile(c, g, m, 0o644); err != nil {
			return nil, err
		}
		load = append(load, g)
	}
	c.File("/etc/vm-modules", 0o644, []byte(strings.Join(load, "\n")+"\n"))
	c.File("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"))
	c.File("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	added := map[string]bool{}
	for _, p := range spec.Programs {
		libs, err := sharedLibs(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		for _, f := range append([]string{p}, libs...) {
			if added[f] {
				continue
			}
			added[f] = true
			if err := addHostFile(c, f, f, 0o755); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range spec.Files {
		if err := addHostFile(c, f.Guest, f.Host, f.Mode); err != nil {
			return nil, err
		}
	}
	c.File("/init", 0o755, []byte(initScript))
	if err := c.Close(); err != nil {
		return nil, err
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := os.WriteFile(initrd, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return &Image{Kernel: k, dir: dir, initrd: initrd, qemu: qemu}, nil
}

func addHostFile(c *cpioWriter, guest, host string, mode fs.FileMode) error {
	b, err := os.ReadFile(host) // follows symlinks: the guest gets the file
	if err != nil {
		return fmt.Errorf("adding %s to the VM image: %w", host, err)
	}
	c.File(guest, mode, b)
	return nil
}

func checkStatic(p string) error {
	libs, err := sharedLibs(p)
	if err != nil {
		return err
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s is not static", p)
	}
	return nil
}

// initScript is the guest's /init: mounts, modules, then the run's
// /payload.sh between two markers that carry the run's nonce (from the
// kernel command line), so that the script's output cannot fake them.
const initScript = `#!/bin/busybox sh
/bin/busybox mkdir -p /busybox
/bin/busybox --install -s /busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /dev/pts
mount -t devpts devpts /dev/pts
echo "vm: init at $(cut -d" " -f1 /proc/uptime) s" >&2
nonce=$(sed -n 's/.*lubdubvm=\([0-9a-f]*\).*/\1/p' /proc/cmdline)
for m in $(cat /etc/vm-modules); do
	insmod "$m" || echo "vm: insmod $m failed"
done
ip link set lo up
hostname vm
cd /root
echo "=== lubdub-vm $nonce start ==="
sh /payload.sh </dev/null 2>&1
rc=$?
echo "=== lubdub-vm $nonce exit $rc ==="
sync
reboot -f
`

// RunOptions tune one boot.
type RunOptions struct {
	Timeout  time.Duration // whole boot, script included; 3 minutes when 0
	MemoryMB int           // 1024 when 0
	CPUs     int           // 1 when 0
	Files    []File        // extra files for this run only
	// Cmdline is added to the kernel's command line (loglevel=3 shows
	// critical messages, such as softdog's reset, on the console).
	Cmdline string
	// ExpectReset: the guest may reset (a watchdog, say) before the
	// script ends. That is then no error: Result.Reset is set and Output
	// holds what the script printed until then. A kernel panic is still
	// an error.
	ExpectReset bool
}

// Result is what a script did.
type Result struct {
	Output  string        // the script's stdout and stderr
	Exit    int           // its exit status
	Console string        // the whole console, kernel messages included
	Elapsed time.Duration // from QEMU's start to its end
	// Reset: the guest reset before the script ended (with ExpectReset):
	// QEMU, run with -no-reboot, exited by itself without the end marker.
	Reset bool
}

// ErrTimeout means the guest did not finish in time (QEMU was killed).
var ErrTimeout = errors.New("VM timed out")

// Run boots the image, runs script with busybox sh in the guest and
// returns its result. An error means the script's end was never seen
// (timeout, kernel panic, QEMU failure); it carries the console's end.
func (im *Image) Run(ctx context.Context, script string, opt RunOptions) (*Result, error) {
	if opt.Timeout == 0 {
		opt.Timeout = 3 * time.Minute
	}
	if opt.MemoryMB == 0 {
		opt.MemoryMB = 1024
	}
	if opt.CPUs == 0 {
		opt.CPUs = 1
	}
	nb := make([]byte, 8)
	rand.Read(nb)
	nonce := hex.EncodeToString(nb)
	run, err := os.MkdirTemp(im.dir, "run-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(run)
	// A second cpio archive appended to the first adds the script: the
	// kernel unpacks both.
	var buf bytes.Buffer
	c := newCpio(&buf)
	c.File("/payload.sh", 0o755, []byte(script))
	for _, f := range opt.Files {
		if err := addHostFile(c, f.Guest, f.Host, f.Mode); err != nil {
			return nil, err
		}
	}
	if err := c.Close(); err != nil {
		return nil, err
	}
	base, err := os.ReadFile(im.initrd)
	if err != nil {
		return nil, err
	}
	initrd := filepath.Join(run, "initrd.cpio")
	if err := os.WriteFile(initrd, append(base, buf.Bytes()...), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, im.qemu,
		"-accel", "tcg", "-cpu", "max", "-smp", strconv.Itoa(opt.CPUs), "-m", strconv.Itoa(opt.MemoryMB),
		"-nographic", "-no-reboot", "-nic", "none",
		"-kernel", im.Kernel.Image, "-initrd", initrd,
		"-append", strings.TrimSpace("console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init lubdubvm="+nonce+" "+opt.Cmdline))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// QEMU dies with the test binary, also when go test's -timeout ends
	// it without cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	res := &Result{Console: strings.ReplaceAll(out.String(), "\r\n", "\n"), Elapsed: time.Since(start), Exit: -1}
	startMark := "=== lubdub-vm " + nonce + " start ===\n"
	endMark := "=== lubdub-vm " + nonce + " exit "
	i := strings.Index(res.Console, startMark)
	j := strings.LastIndex(res.Console, endMark)
	if i >= 0 && j > i {
		res.Output = res.Console[i+len(startMark) : j]
		rest := res.Console[j+len(endMark):]
		if k := strings.Index(rest, " ==="); k > 0 {
			res.Exit, _ = strconv.Atoi(rest[:k])
		}
	}
	if res.Exit >= 0 {
		return res, nil
	}
	if opt.ExpectReset && err == nil && ctx.Err() == nil && i >= 0 && !strings.Contains(res.Console, "Kernel panic") {
		res.Reset = true
		res.Output = res.Console[i+len(startMark):]
		return res, nil
	}
	why := fmt.Sprintf("%v", err)
	if ctx.Err() != nil {
		why = fmt.Sprintf("%v after %s", ErrTimeout, opt.Timeout)
		err = ErrTimeout
	} else if err == nil {
		err = errors.New("the script's end marker never came")
		why = err.Error()
	}
	return res, fmt.Errorf("VM run: %s; console ends with:\n%s: %w", why, tail(res.Console, 3000), err)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
