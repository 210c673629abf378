package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/control"
)

// maintenanceFile, in the state directory, lists the groups in
// maintenance mode on this node, one id a line, so that a restarted
// daemon (a rolling upgrade) leaves them as they are.
const maintenanceFile = "maintenance"

// loadMaintenance reads the groups kept in maintenance; ids the
// configuration no longer has are returned apart, for a warning.
func loadMaintenance(dir string, ids []string) (on, unknown []string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, maintenanceFile))
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading maintenance state: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if slices.Contains(ids, l) {
			on = append(on, l)
		} else {
			unknown = append(unknown, l)
		}
	}
	return on, unknown, nil
}

// saveMaintenance writes the groups in maintenance; none removes the file.
func saveMaintenance(dir string, on []string) error {
	path := filepath.Join(dir, maintenanceFile)
	if len(on) == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing maintenance state: %w", err)
		}
		return nil
	}
	data := "# groups in maintenance mode on this node (lubdub maintenance on|off)\n" + strings.Join(on, "\n") + "\n"
	if err := writeSynced(path, []byte(data)); err != nil {
		return fmt.Errorf("saving maintenance state: %w", err)
	}
	return nil
}

// MaintenanceGroups lists the ids of the groups in maintenance here.
func (n *Node) MaintenanceGroups() []string {
	var out []string
	for g, grp := range n.cfg.Groups {
		if n.eng.Maintenance(g) {
			out = append(out, grp.ID())
		}
	}
	return out
}

// answerMaintenance is "maintenance on|off GROUP|all": req.Name is
// "on GROUP" or "off GROUP".
func (n *Node) answerMaintenance(now time.Time, req control.Request) control.Response {
	mode, which, _ := strings.Cut(req.Name, " ")
	if mode != "on" && mode != "off" {
		return control.Response{Error: fmt.Sprintf("maintenance %q: say on or off", mode)}
	}
	if which == "" {
		which = "all"
	}
	on := mode == "on"
	if n.hb != nil && on {
		return control.Response{Error: "maintenance mode is lubdub's own: not while the peer is a Heartbeat node (" + n.dialectWhy + ")"}
	}
	var changed []string
	found := false
	for g, grp := range n.cfg.Groups {
		if which != "all" && grp.ID() != which {
			continue
		}
		found = true
		if n.eng.Maintenance(g) == on {
			continue
		}
		n.push(n.eng.SetMaintenance(g, on))
		if !on {
			n.monitorDue[g] = now // check at once what happened meanwhile
		}
		changed = append(changed, grp.ID())
		n.maintenanceChanged(now, g, on)
	}
	if !found {
		return control.Response{Error: fmt.Sprintf("no resource group %q", which)}
	}
	if len(changed) == 0 {
		return control.Response{Value: fmt.Sprintf("maintenance already %s for %s", mode, which)}
	}
	return control.Response{Value: fmt.Sprintf("maintenance %s: %s", mode, strings.Join(changed, ", "))}
}

// maintenanceChanged is called when a group's maintenance mode changes
// here: the point where events about maintenance start.
func (n *Node) maintenanceChanged(now time.Time, g int, on bool) {
	n.log.Debug("maintenance", "group", n.cfg.Groups[g].ID(), "on", on)
}
