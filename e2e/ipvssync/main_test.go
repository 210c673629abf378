// Package ipvssync tests connection sync between two lubdub directors on
// a kernel with IPVS: Debian's kernel under QEMU (internal/lab/vm/lvsvm),
// two directors in network namespaces inside the guest, each running the
// lubdub daemon. It is a package of its own, beside e2e/ipvs, so that each
// stays well within its test binary's time. The tests skip, saying why,
// where the VM cannot be had.
package ipvssync

import (
	"context"
	"os"
	"testing"

	"github.com/lubdub/lubdub/internal/lab/vm"
	"github.com/lubdub/lubdub/internal/lab/vm/lvsvm"
)

var (
	image   *vm.Image
	skipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(vm.TestMain(m, "IPVS sync", func(ctx context.Context, dir string) (*vm.Image, error) {
		return lvsvm.Build(ctx, dir, "../../cmd/lubdub")
	}, &image, &skipWhy))
}
