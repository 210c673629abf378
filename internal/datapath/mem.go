package datapath

import (
	"slices"

	"github.com/lubdub/lubdub/internal/lvs"
)

// Mem is an in-memory data path: the kernel's table as a value, for the
// unit tests of what drives a data path (the ipvsadm command, the
// health checker). It applies the same nftables refusals when Refuse is
// set, and counts transactions.
type Mem struct {
	Table  lvs.Table
	Syncs  int  // successful Sync calls that changed something
	Refuse bool // refuse what the nftables data path refuses
}

func (m *Mem) Name() string {
	if m.Refuse {
		return NFTables
	}
	return "memory"
}

func (m *Mem) Close() error { return nil }

func (m *Mem) Load(keys []lvs.Key, _ bool) (*lvs.Table, error) {
	out := &lvs.Table{}
	for _, s := range m.Table.Clone().Services {
		if keys == nil || slices.Contains(keys, s.Key) {
			out.Services = append(out.Services, s)
		}
	}
	return out, nil
}

// Sync replaces the services of old with those of new.
func (m *Mem) Sync(old, new *lvs.Table) error {
	var changed []Change
	var deleted []*lvs.Service
	if m.Refuse {
		var err error
		if changed, deleted, err = planNFT(old, new); err != nil {
			return err
		}
	} else {
		changed, deleted = Diff(old, new)
	}
	if len(changed) == 0 && len(deleted) == 0 {
		return nil
	}
	m.Syncs++
	gone := map[lvs.Key]bool{}
	for _, s := range old.Services {
		gone[s.Key] = true
	}
	kept := &lvs.Table{}
	for _, s := range m.Table.Services {
		if !gone[s.Key] {
			kept.Services = append(kept.Services, s)
		}
	}
	m.Table.Services = append(kept.Services, new.Clone().Services...)
	return nil
}

func (m *Mem) Zero([]lvs.Key) error { return nil }
