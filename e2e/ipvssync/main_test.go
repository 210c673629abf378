// Package ipvssync tests connection sync between two lubdub directors on
// a kernel with IPVS: Debian's kernel under QEMU (internal/lab/vm/lvsvm),
// two directors in network namespaces inside the guest, each running the
// lubdub daemon. It is a package of its own, beside e2e/ipvs, so that each
// stays well within its test binary's time. The tests skip, saying why,
// where the VM cannot be had.
package ipvssync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lab/vm"
	"github.com/lubdub/lubdub/internal/lab/vm/lvsvm"
)

var (
	image   *vm.Image
	skipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipWhy = "the IPVS tests need root (the kernel package is fetched with apt)"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "lubdub-ipvssync-vm")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image, err = lvsvm.Build(ctx, dir, "../../cmd/lubdub")
	switch {
	case errors.Is(err, vm.ErrUnavailable):
		skipWhy = err.Error()
	case err != nil:
		fmt.Println("building the VM image:", err)
		return 1
	}
	return m.Run()
}
