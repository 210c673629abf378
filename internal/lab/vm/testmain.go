package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain is the TestMain of a test package whose tests boot an image:
// it builds the image once with build (in a temporary directory, removed
// afterwards; within 5 minutes), runs the tests and returns their exit
// code. Where the image cannot be had (not root, no QEMU, no kernel
// package: ErrUnavailable) the tests run with *skipWhy saying why, so
// that they skip; any other failure to build fails the package.
func TestMain(m *testing.M, name string, build func(ctx context.Context, dir string) (*Image, error), image **Image, skipWhy *string) int {
	if os.Geteuid() != 0 {
		*skipWhy = "the " + name + " tests need root (the kernel package is fetched with apt)"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "lubdub-"+name+"-vm")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	*image, err = build(ctx, dir)
	switch {
	case errors.Is(err, ErrUnavailable):
		*skipWhy = err.Error()
	case err != nil:
		fmt.Println("building the VM image:", err)
		return 1
	}
	return m.Run()
}

// BuildStatic builds a static binary of the Go main package mainPkg as
// dir/name, for a guest without a C library.
func BuildStatic(ctx context.Context, dir, name, mainPkg string) (string, error) {
	bin := filepath.Join(dir, name)
	build := exec.CommandContext(ctx, "go", "build", "-ldflags=-s -w", "-o", bin, mainPkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building a static %s: %w\n%s", name, err, out)
	}
	return bin, nil
}
