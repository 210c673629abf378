package daemon

import (
	"slices"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/wire"
)

// A reload applies keys, media and logging at once; every setting that
// needs a restart keeps its running value and is named, so the operator is
// told (hopfudge, max_rexmit_delay and watchdog used to be ignored
// silently).
func TestReloadPlan(t *testing.T) {
	running := &haconf.Config{Nodes: []string{"a", "b"}, Keepalive: time.Second, Deadtime: 10 * time.Second, Hopfudge: 1,
		MaxRexmitDelay: time.Second, Watchdog: "/dev/watchdog", AutoFailback: "on", Logfile: "/var/log/ha-log",
		Params: map[string]string{"keepalive": "1000ms", "hopfudge": "1", "watchdog": "/dev/watchdog", "logfile": "/var/log/ha-log"}}
	loaded := *running
	loaded.Keepalive, loaded.Hopfudge, loaded.MaxRexmitDelay, loaded.Watchdog = 2*time.Second, 3, 2*time.Second, "/dev/watchdog1"
	loaded.Logfile = "/var/log/lubdub"
	loaded.Keys = &wire.Keyring{Send: 2}
	loaded.Params = map[string]string{"keepalive": "2000ms", "hopfudge": "3", "watchdog": "/dev/watchdog1", "logfile": "/var/log/lubdub"}
	apply, kept := reloadPlan(running, &loaded, "a")
	if want := []string{"keepalive", "hopfudge", "max_rexmit_delay", "watchdog"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	if apply.Keepalive != time.Second || apply.Hopfudge != 1 || apply.MaxRexmitDelay != time.Second || apply.Watchdog != "/dev/watchdog" {
		t.Errorf("restart-only settings changed: %+v", apply)
	}
	if apply.Keys.Send != 2 || apply.Logfile != "/var/log/lubdub" {
		t.Error("keys or logging not applied")
	}
	if apply.Params["keepalive"] != "1000ms" || apply.Params["watchdog"] != "/dev/watchdog" || apply.Params["logfile"] != "/var/log/lubdub" {
		t.Errorf("cl_status parameters %v do not say what runs", apply.Params)
	}
	if running.Params["logfile"] != "/var/log/ha-log" {
		t.Error("the running configuration was changed")
	}
	if !loggingChanged(running, apply) {
		t.Error("a new logfile is not a logging change")
	}
	if _, kept := reloadPlan(running, running, "a"); len(kept) != 0 {
		t.Errorf("an unchanged configuration keeps %v", kept)
	}
}

// Fence devices and levels change at once while the node keeps a device
// (the daemon rebuilds its fencer); fencing turned on or off waits for a
// restart and is named.
func TestReloadPlanFencing(t *testing.T) {
	dev := func(name string) haconf.FenceDevice {
		return haconf.FenceDevice{Name: name, Agent: "fence_ipmilan", Kind: "agent", Plugin: "fence_ipmilan"}
	}
	running := &haconf.Config{Nodes: []string{"a", "b"}, Params: map[string]string{},
		Fencing: haconf.Fencing{Devices: []haconf.FenceDevice{dev("ipmi-b")}}}
	changed := *running
	changed.Fencing = haconf.Fencing{Devices: []haconf.FenceDevice{dev("ipmi-b2")}, Levels: []haconf.FencingLevel{{Node: "b", Index: 1, Devices: []string{"ipmi-b2"}}}}
	apply, kept := reloadPlan(running, &changed, "a")
	if len(kept) != 0 || !fencingChanged(running, apply) || apply.Fencing.Devices[0].Name != "ipmi-b2" {
		t.Errorf("a changed device: kept %v, applied %+v", kept, apply.Fencing)
	}
	// ha.cf's stonith_host line for this node instead of lubdub.cf's
	// device: still a device, applied.
	viaHacf := *running
	viaHacf.Fencing = haconf.Fencing{}
	viaHacf.Stonith = []haconf.StonithDevice{{FromHost: "a", Type: "external/ipmi"}}
	if apply, kept := reloadPlan(running, &viaHacf, "a"); len(kept) != 0 || len(apply.Stonith) != 1 || len(apply.Fencing.Devices) != 0 {
		t.Errorf("a device moved to ha.cf: kept %v, applied %+v %+v", kept, apply.Stonith, apply.Fencing)
	}
	// A stonith_host line for the other node only: this node has none.
	off := viaHacf
	off.Stonith = []haconf.StonithDevice{{FromHost: "b", Type: "external/ipmi"}}
	apply, kept = reloadPlan(running, &off, "a")
	if !slices.Equal(kept, []string{"fencing turned off (every fence device removed)"}) || fencingChanged(running, apply) {
		t.Errorf("fencing off: kept %v, applied %+v %+v", kept, apply.Stonith, apply.Fencing)
	}
	none := &haconf.Config{Nodes: []string{"a", "b"}, Params: map[string]string{}}
	if _, kept := reloadPlan(none, running, "a"); !slices.Equal(kept, []string{"fencing turned on (a fence device where there was none)"}) {
		t.Errorf("fencing on: kept %v", kept)
	}
}
