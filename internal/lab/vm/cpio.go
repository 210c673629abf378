package vm

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as an
// initramfs. Parent directories are emitted before their entries.
type cpioWriter struct {
	w    io.Writer
	ino  int
	dirs map[string]bool
	err  error
}

func newCpio(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, ino: 1, dirs: map[string]bool{"": true, ".": true}}
}

func (c *cpioWriter) header(name string, mode uint32, size int) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr + name + "\x00"))
	c.pad(len(hdr) + len(name) + 1)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// mkdirAll emits the directories of p (a path without a leading /).
func (c *cpioWriter) mkdirAll(p string) {
	if c.dirs[p] {
		return
	}
	c.mkdirAll(path.Dir(p))
	c.dirs[p] = true
	c.header(p, 0o040755, 0)
}

// File adds a regular file at p (absolute in the guest).
func (c *cpioWriter) File(p string, perm fs.FileMode, data []byte) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	c.mkdirAll(path.Dir(p))
	c.header(p, 0o100000|uint32(perm.Perm()), len(data))
	c.write(data)
	c.pad(len(data))
}

// Symlink adds a symbolic link at p pointing to target.
func (c *cpioWriter) Symlink(p, target string) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	c.mkdirAll(path.Dir(p))
	c.header(p, 0o120777, len(target))
	c.write([]byte(target))
	c.pad(len(target))
}

// Dir adds an empty directory.
func (c *cpioWriter) Dir(p string) { c.mkdirAll(strings.TrimPrefix(path.Clean(p), "/")) }

// Close writes the trailer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0)
	return c.err
}
