package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// promDir is where Debian's prometheus package is unpacked (apt-get
// download, dpkg-deb -x), never installed: its maintainer scripts would
// start a server in the root namespace. scripts/test fills it; the tests
// fill it themselves when it is missing.
func promDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "lubdub-prometheus")
}

var promOnce struct {
	sync.Mutex
	err error
}

// Promtool is the path of promtool: on PATH, else from Debian's
// prometheus package in the cache, fetched if need be.
func Promtool() (string, error) { return promBinary("promtool") }

// PrometheusServer is the path of Debian's prometheus server binary,
// found as Promtool is.
func PrometheusServer() (string, error) { return promBinary("prometheus") }

func promBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	path := filepath.Join(promDir(), "root", "usr", "bin", name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	promOnce.Lock()
	defer promOnce.Unlock()
	if promOnce.err == nil {
		promOnce.err = fetchPrometheus()
	}
	if promOnce.err != nil {
		return "", promOnce.err
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s not in Debian's prometheus package: %w", name, err)
	}
	return path, nil
}

// fetchPrometheus downloads and unpacks Debian's prometheus package into
// the cache, atomically (another test process may do the same).
func fetchPrometheus() error {
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("no promtool on PATH and no %s to fetch Debian's prometheus package", tool)
		}
	}
	dir := promDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, "fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("apt-get", "download", "-q", "prometheus")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download prometheus: %v (run apt-get update?)\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "prometheus_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download prometheus left %d packages", len(debs))
	}
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], filepath.Join(tmp, "root")).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %v\n%s", debs[0], err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "root"), filepath.Join(dir, "root")); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(filepath.Join(dir, "root", "usr", "bin", "promtool")); serr != nil {
			return fmt.Errorf("unpacking prometheus into %s: %w", dir, err)
		}
	}
	return nil
}
