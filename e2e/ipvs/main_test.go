// Package ipvs tests lubdub's LVS director against a kernel with IPVS:
// Debian's own kernel booted under QEMU (internal/lab/vm), with the
// static lubdub, Debian's ipvsadm, ip and nft inside. Each test is one
// boot running a shell script that builds network namespaces and veth
// pairs inside the guest, sends real traffic with busybox's wget and
// httpd, and reports sections that the test then checks. The tests skip,
// saying why, where the VM cannot be had (no QEMU, no kernel package).
package ipvs

import (
	"context"
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
	os.Exit(vm.TestMain(m, "IPVS", func(ctx context.Context, dir string) (*vm.Image, error) {
		return lvsvm.Build(ctx, dir, "../../cmd/lubdub")
	}, &image, &skipWhy))
}

// boot runs script (after the prelude) in a fresh VM and returns its
// sections.
func boot(t *testing.T, script string, timeout time.Duration) lvsvm.Sections {
	t.Helper()
	return lvsvm.Boot(t, image, skipWhy, script, timeout)
}
