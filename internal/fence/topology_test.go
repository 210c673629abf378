package fence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// fakeDevice records calls; it is for the pure logic of Fencer.
type fakeDevice struct {
	name  string
	hosts []string
	fail  map[Action]bool
	mu    sync.Mutex
	calls *[]string
}

func (d *fakeDevice) Name() string { return d.name }
func (d *fakeDevice) Fence(_ context.Context, node string, a Action) error {
	d.mu.Lock()
	*d.calls = append(*d.calls, fmt.Sprintf("%s %s %s", d.name, a, node))
	d.mu.Unlock()
	if d.fail[a] {
		return &Error{Device: d.name, Op: a.String() + " " + node, Err: errors.New("switch says no")}
	}
	return nil
}
func (d *fakeDevice) Status(context.Context) error { return nil }
func (d *fakeDevice) Hosts(context.Context) ([]string, error) {
	if d.hosts == nil {
		return nil, &Error{Device: d.name, Op: "list hosts", Err: ErrNoHostList}
	}
	return d.hosts, nil
}

func TestFencerLevels(t *testing.T) {
	log, _ := newLog(t)
	var calls []string
	dev := func(name string, hosts []string, fail ...Action) *fakeDevice {
		f := map[Action]bool{}
		for _, a := range fail {
			f[a] = true
		}
		return &fakeDevice{name: name, hosts: hosts, fail: f, calls: &calls}
	}
	devices := map[string]Device{
		"ipmi2": dev("ipmi2", []string{"node2"}, Reset, Off),
		"psu-a": dev("psu-a", []string{"node1", "node2"}),
		"psu-b": dev("psu-b", []string{"node1", "node2"}),
		"sbd":   dev("sbd", nil),
	}
	topo := Topology{"node2": {{Index: 2, Devices: []string{"psu-a", "psu-b"}}, {Index: 1, Devices: []string{"ipmi2"}}}}
	if err := topo.Validate(devices); err != nil {
		t.Fatal(err)
	}
	f := &Fencer{Devices: devices, Order: []string{"ipmi2", "psu-a", "psu-b", "sbd"}, Topology: topo, Log: log}

	// Level 1 fails; level 2 has two devices: off both, then on both.
	res := f.Fence(context.Background(), "node2", Reset)
	want := "ipmi2 reset node2|psu-a off node2|psu-b off node2|psu-a on node2|psu-b on node2"
	if got := strings.Join(calls, "|"); got != want || !res.OK() || res.Level != 2 {
		t.Fatalf("calls %s, result %v; want %s at level 2", got, res, want)
	}
	if s := res.String(); !strings.Contains(s, "node2 fenced (reset) at level 2 by psu-a+psu-b") {
		t.Errorf("result reads %q", s)
	}

	// Without a topology: devices listing the node first, in order, then
	// those that cannot list.
	calls = nil
	devices["psu-a"].(*fakeDevice).fail = map[Action]bool{Off: true}
	res = f.Fence(context.Background(), "node1", Off)
	want = "psu-a off node1|psu-b off node1"
	if got := strings.Join(calls, "|"); got != want || res.Level != 2 {
		t.Fatalf("calls %s, result %v; want %s", got, res, want)
	}

	// Every level fails: the result names each device and why.
	calls = nil
	devices["psu-b"].(*fakeDevice).fail = map[Action]bool{Off: true}
	res = f.Fence(context.Background(), "node2", Reset)
	if res.OK() || res.Level != 0 {
		t.Fatalf("result %v; want a failure", res)
	}
	s := res.String()
	for _, w := range []string{"node2 NOT fenced", "level 1: fence device ipmi2: reset node2: switch says no", "level 2: fence device psu-a: off node2"} {
		if !strings.Contains(s, w) {
			t.Errorf("result %q lacks %q", s, w)
		}
	}
	var fe *Error
	if !errors.As(res.Err, &fe) || fe.Device != "ipmi2" {
		t.Errorf("result error does not unwrap to the first device's *Error: %v", res.Err)
	}

	// A node no device controls, except those that cannot say: they are tried.
	calls = nil
	res = f.Fence(context.Background(), "node9", Reset)
	if strings.Join(calls, "|") != "sbd reset node9" || !res.OK() {
		t.Errorf("node9: calls %v, result %v", calls, res)
	}
	delete(devices, "sbd")
	f.Order = f.Order[:3]
	if res := f.Fence(context.Background(), "node9", Reset); res.OK() || !strings.Contains(res.Err.Error(), "no fencing device controls node9") || !res.BadHost() {
		t.Errorf("node9 without devices: %v, bad host %v", res, res.BadHost())
	}
	// A device that failed is no bad host (Heartbeat's stonith bad, not
	// badhost); one that refuses the node is.
	if res := f.Fence(context.Background(), "node2", Reset); res.OK() || res.BadHost() {
		t.Errorf("node2, its devices failing: %v, bad host %v", res, res.BadHost())
	}
	refuse := &Fencer{Devices: map[string]Device{"r": refusing{}}, Order: []string{"r"}, Log: log}
	if res := refuse.Fence(context.Background(), "node1", Reset); res.OK() || !res.BadHost() {
		t.Errorf("a device that refuses the node: %v, bad host %v", res, res.BadHost())
	}
}

// refusing is a device that cannot say which nodes it controls and
// refuses every one (cluster-glue's S_BADHOST).
type refusing struct{}

func (refusing) Name() string { return "r" }
func (refusing) Fence(_ context.Context, node string, a Action) error {
	return &Error{Device: "r", Op: a.String() + " " + node, Err: ErrBadHost}
}
func (refusing) Status(context.Context) error { return nil }
func (refusing) Hosts(context.Context) ([]string, error) {
	return nil, &Error{Device: "r", Op: "list hosts", Err: ErrNoHostList}
}

func TestTopologyValidate(t *testing.T) {
	devices := map[string]Device{"a": &fakeDevice{name: "a"}}
	topo := Topology{"n1": {{Index: 1, Devices: []string{"a"}}, {Index: 1, Devices: []string{"b"}}}}
	err := topo.Validate(devices)
	if err == nil || !strings.Contains(err.Error(), "two fencing levels 1") || !strings.Contains(err.Error(), "names device b, which is not defined") {
		t.Errorf("Validate = %v", err)
	}
}
