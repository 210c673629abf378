package daemon

import (
	"errors"
	"fmt"
	"sync"

	"github.com/lubdub/lubdub/internal/control"
	"github.com/lubdub/lubdub/internal/datapath"
	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/lubdub/lubdub/internal/metrics"
)

// serveMetrics serves Prometheus metrics on addr (lubdub.cf's
// metrics_listen). A scrape reads the status through the daemon's loop,
// as the control socket does, and the kernel's LVS table directly.
func (d *daemon) serveMetrics(addr string) (*metrics.Server, error) {
	lv := &lvsReader{kind: d.cfg.Tuning.LVSDataPath}
	src := metrics.Source{Version: d.opts.Version, Log: d.log, LVS: lv.read,
		Status: func() (*control.Status, error) {
			resp := d.handleControl(control.Request{Cmd: "status"})
			if resp.Error != "" {
				return nil, errors.New(resp.Error)
			}
			return resp.Status, nil
		}}
	s, err := metrics.Listen(addr, metrics.Handler(metrics.NewRegistry(src), d.log), d.log)
	if err != nil {
		return nil, err
	}
	d.log.Info(fmt.Sprintf("Prometheus metrics at http://%s/metrics", s.Addr()))
	return s, nil
}

// lvsReader reads the kernel's virtual-server table for metrics, through
// a data path opened at the first scrape and kept. Where none opens, LVS
// series are left out.
type lvsReader struct {
	mu     sync.Mutex
	kind   string
	dp     datapath.DataPath
	failed bool
}

func (r *lvsReader) read() (*lvs.Table, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		return nil, "", nil
	}
	if r.dp == nil {
		dp, err := datapath.Open(r.kind)
		if err != nil {
			r.failed = true // no data path here: no LVS series
			return nil, "", nil
		}
		r.dp = dp
	}
	t, err := r.dp.Load(nil, true)
	if err != nil {
		return nil, "", err
	}
	return t, r.dp.Name(), nil
}
