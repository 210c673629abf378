package resource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lubdub/lubdub/internal/haconf"
)

// filesystem is Filesystem::device::directory[::fstype[::options]],
// mounted and unmounted with the system calls.
type filesystem struct {
	raw     string
	device  string
	dir     string
	fstype  string
	flags   uintptr
	data    string
	env     Env
	retries int
}

var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "rw": 0, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV,
	"noexec": unix.MS_NOEXEC, "sync": unix.MS_SYNCHRONOUS, "noatime": unix.MS_NOATIME,
	"nodiratime": unix.MS_NODIRATIME, "relatime": unix.MS_RELATIME, "defaults": 0,
}

func newFilesystem(r haconf.Resource, env Env) (*filesystem, error) {
	if len(r.Args) < 2 {
		return nil, fmt.Errorf("resource %s: Filesystem needs device and directory", r.Raw)
	}
	f := &filesystem{raw: r.Raw, device: r.Args[0], dir: filepath.Clean(r.Args[1]), env: env, retries: 5}
	if len(r.Args) > 2 {
		f.fstype = r.Args[2]
	}
	if f.fstype == "" {
		return nil, fmt.Errorf("resource %s: give the filesystem type (Filesystem::%s::%s::ext4)", r.Raw, f.device, f.dir)
	}
	if len(r.Args) > 3 {
		var data []string
		for _, o := range strings.Split(r.Args[3], ",") {
			if fl, ok := mountFlags[o]; ok {
				f.flags |= fl
			} else if o != "" {
				data = append(data, o)
			}
		}
		f.data = strings.Join(data, ",")
	}
	return f, nil
}

func (f *filesystem) Name() string { return f.raw }

func (f *filesystem) Start(ctx context.Context) error {
	if ok, _ := f.Running(ctx); ok {
		return nil
	}
	if st, err := os.Stat(f.dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: mount point %s is not a directory", f.raw, f.dir)
	}
	if err := unix.Mount(f.device, f.dir, f.fstype, f.flags, f.data); err != nil {
		return fmt.Errorf("mounting %s on %s (%s): %w", f.device, f.dir, f.fstype, err)
	}
	f.env.Log.Info(fmt.Sprintf("mounted %s on %s", f.device, f.dir), "resource", f.raw)
	return nil
}

// Stop unmounts, retrying while the filesystem is busy.
func (f *filesystem) Stop(ctx context.Context) error {
	for i := 0; ; i++ {
		ok, err := f.Running(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		err = unix.Unmount(f.dir, 0)
		if err == nil {
			f.env.Log.Info(fmt.Sprintf("unmounted %s", f.dir), "resource", f.raw)
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || i >= f.retries {
			return fmt.Errorf("unmounting %s: %w (after %d tries)", f.dir, err, i+1)
		}
		f.env.Log.Warn(fmt.Sprintf("%s is busy; retrying the unmount", f.dir), "resource", f.raw)
		select {
		case <-ctx.Done():
			return fmt.Errorf("unmounting %s: %w", f.dir, ErrTimeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Running reports whether the directory is a mount point of our mount
// namespace.
func (f *filesystem) Running(context.Context) (bool, error) {
	file, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("reading mounts: %w", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == f.dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
