package hbresource

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/wire"
)

var t0 = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// rig is one lubdub node (node2 unless told) facing a scripted Heartbeat
// peer; group 0 prefers node1, group 1 prefers node2.
type rig struct {
	t   *testing.T
	m   *Machine
	now time.Time
	out []placement.Action
}

func newRig(t *testing.T, local, mode string) *rig {
	peer := map[string]string{"node1": "node2", "node2": "node1"}[local]
	m := New(Config{Local: local, Peer: peer, AutoFailback: mode, Groups: []placement.Group{
		{ID: "IPaddr2::198.18.0.10/24/eth0", Preferred: "node1"},
		{ID: "IPaddr2::198.18.0.20/24/eth0", Preferred: "node2"},
	}}, slog.New(slog.DiscardHandler))
	return &rig{t: t, m: m, now: t0}
}

// msg builds a message from the peer: type, then name=value pairs.
func (r *rig) msg(typ string, kv ...string) *wire.Message {
	m := &wire.Message{}
	m.Add(wire.FType, typ)
	for _, f := range kv {
		k, v, _ := strings.Cut(f, "=")
		m.Add(k, v)
	}
	m.Add(wire.FOrig, r.m.cfg.Peer)
	return m
}

func (r *rig) take(a []placement.Action) { r.out = append(r.out, a...) }

func (r *rig) recv(typ string, kv ...string) { r.take(r.m.Receive(r.now, r.msg(typ, kv...))) }

// said returns what was sent since the last call, one line per message:
// "type field=value ..." in field order, and the Runs as "run G op".
func (r *rig) said() []string {
	var lines []string
	for _, a := range r.out {
		switch a := a.(type) {
		case placement.Send:
			var f []string
			for _, x := range a.Msg.Fields {
				if x.Name == wire.FType {
					f = append([]string{string(x.Value)}, f...)
					continue
				}
				f = append(f, x.Name+"="+string(x.Value))
			}
			lines = append(lines, strings.Join(f, " "))
		case placement.Run:
			lines = append(lines, fmt.Sprintf("run %d %s", a.Group, a.Op))
		}
	}
	r.out = nil
	return lines
}

func (r *rig) expect(want ...string) {
	r.t.Helper()
	got := r.said()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		r.t.Fatalf("sent:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// up brings communication up on both sides.
func (r *rig) up() {
	r.take(r.m.PeerUp(r.now))
	r.take(r.m.Ready(r.now))
	r.take(r.m.PeerActive(r.now))
}

func (r *rig) done(g int, op placement.Op, ok bool) { r.take(r.m.Done(r.now, g, op, ok)) }

// joined is node2 after the start-up exchange with a stable peer whose
// claim is peerClaim: node2's own group (1) started, nothing left to say.
func joined(t *testing.T, mode, peerClaim string) *rig {
	r := newRig(t, "node2", mode)
	r.up()
	r.recv(TResource, "rsc_hold="+peerClaim, "rtype=full", "isstable=1")
	r.said()
	r.done(1, placement.OpStart, true)
	r.said()
	return r
}

// The claim bits mirror between the two points of view.
func TestClaimMirror(t *testing.T) {
	for c, want := range map[Claim]Claim{None: None, Local: Foreign, Foreign: Local, All: All} {
		if c.Mirror() != want {
			t.Errorf("%s mirrored = %s, want %s", c, c.Mirror(), want)
		}
		if p, ok := ParseClaim(c.String()); !ok || p != c {
			t.Errorf("ParseClaim(%q) = %v %v", c, p, ok)
		}
	}
	for _, bad := range []string{"ALL", "Local", "", "both"} {
		if _, ok := ParseClaim(bad); ok {
			t.Errorf("ParseClaim(%q) accepted: encode_resources matches lower case exactly", bad)
		}
	}
}

// Nothing is sent before communication is up on both sides (trap 12:
// Heartbeat drops resource messages before its comm-up), and nothing is
// answered before this node's own.
func TestWaitsForPeerActive(t *testing.T) {
	r := newRig(t, "node2", "on")
	r.recv(TStarting)
	r.take(r.m.PeerUp(r.now))
	r.take(r.m.Ready(r.now))
	r.expect()
	r.take(r.m.PeerActive(r.now))
	r.expect("starting")
}

// Both start together: each answers the other's starting unstable; lubdub
// resolves on the answer (Heartbeat's 10 s timer breaks the tie otherwise),
// takes its own group, and says isstable=1 (trap 2, 3).
func TestBothStarting(t *testing.T) {
	r := newRig(t, "node2", "on")
	r.up()
	r.expect("starting")
	r.recv(TStarting)
	r.expect("resource rsc_hold=none rtype=full isstable=0")
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=0")
	r.expect("run 1 start", "resource rsc_hold=local rtype=full isstable=1")
	if r.m.Held() != "transition" {
		t.Errorf("rscstatus while starting its group = %q, want transition", r.m.Held())
	}
	r.done(1, placement.OpStart, true)
	r.expect("resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()")
	// The peer becomes stable: echo once, not again on its repeat.
	r.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=1")
	r.expect("resource rsc_hold=local rtype=full isstable=1")
	r.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=1")
	r.expect()
	if r.m.Held() != "local" {
		t.Errorf("rscstatus = %q, want local", r.m.Held())
	}
}

// Joining a stable peer that holds everything, auto_failback on: take
// nothing, say so stably; the holder then hands our group back with the
// standby protocol and we acquire the mirror of what it gave (trap 4).
func TestJoinHolderFailsBack(t *testing.T) {
	r := newRig(t, "node1", "on")
	r.up()
	r.expect("starting")
	r.recv(TResource, "rsc_hold=all", "rtype=full", "isstable=1")
	r.expect("resource rsc_hold=none rtype=full isstable=1")
	r.recv(TAskResources, "rsc_hold=foreign", "info=me")
	r.expect("ask_resources rsc_hold=foreign info=other")
	r.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=0", "info=standby")
	r.recv(TAskResources, "rsc_hold=foreign", "info=done")
	r.expect("run 0 start")
	r.done(0, placement.OpStart, true)
	r.expect("ask_resources rsc_hold=foreign info=done", "resource rsc_hold=local rtype=full isstable=1")
	// The peer's closing isstable=1 is echoed once.
	r.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=1")
	r.expect("resource rsc_hold=local rtype=full isstable=1")
	if r.m.Held() != "local" {
		t.Errorf("rscstatus = %q, want local", r.m.Held())
	}
}

// The holder's side of a failback (trap 7): lubdub took the dead peer's
// group; when the peer is back and stable, lubdub asks to go standby for
// foreign, releases on "other", and says done.
func TestHolderStartsFailback(t *testing.T) {
	r := newRig(t, "node2", "on")
	r.up()
	r.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=1")
	r.expect("starting", "run 1 start", "resource rsc_hold=local rtype=full isstable=1")
	r.done(1, placement.OpStart, true)
	r.said()
	// node1 dies holding its group: fencing is needed, none is configured.
	if !r.m.NeedsFencing() {
		t.Fatal("a peer that held a group needs fencing")
	}
	r.take(r.m.PeerDown(r.now))
	r.expect("stonith node=node1 result=n_stnth", "run 0 start")
	r.done(0, placement.OpStart, true)
	r.expect("resource rsc_hold=foreign info=mach_down", "resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()")
	if r.m.Held() != "all" {
		t.Fatalf("rscstatus after the takeover = %q, want all", r.m.Held())
	}
	// node1 returns.
	r.take(r.m.PeerUp(r.now))
	r.take(r.m.PeerActive(r.now))
	r.recv(TStarting)
	r.expect("resource rsc_hold=all rtype=full isstable=1")
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=0")
	r.expect()
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=1")
	r.expect("resource rsc_hold=all rtype=full isstable=1", "ask_resources rsc_hold=foreign info=me")
	r.recv(TAskResources, "rsc_hold=foreign", "info=other")
	r.expect("resource rsc_hold=local rtype=full isstable=0 info=standby", "run 0 stop")
	r.done(0, placement.OpStop, true)
	r.expect("ask_resources rsc_hold=foreign info=done")
	r.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=1")
	r.recv(TAskResources, "rsc_hold=foreign", "info=done")
	r.expect("resource rsc_hold=local rtype=full isstable=1", "resource rsc_hold=local rtype=full isstable=1")
	if r.m.Held() != "local" {
		t.Errorf("rscstatus = %q, want local", r.m.Held())
	}
}

// With auto_failback off the holder keeps the group.
func TestFailbackOffKeeps(t *testing.T) {
	r := newRig(t, "node2", "off")
	r.up()
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=1")
	r.said()
	r.done(1, placement.OpStart, true)
	r.take(r.m.PeerDown(r.now))
	r.said()
	r.done(0, placement.OpStart, true)
	r.said()
	r.take(r.m.PeerUp(r.now))
	r.take(r.m.PeerActive(r.now))
	r.recv(TStarting)
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=1")
	for _, l := range r.said() {
		if strings.HasPrefix(l, TAskResources) {
			t.Fatalf("auto_failback off, yet: %s", l)
		}
	}
}

// A peer that announced it held nothing is not fenced (Heartbeat's
// "unneeded"); one that left with shutdone is taken over at once.
func TestPeerGaveUp(t *testing.T) {
	r := newRig(t, "node2", "on")
	r.up()
	r.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=1")
	r.said()
	r.done(1, placement.OpStart, true)
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=0", "info=shutdown")
	r.said()
	r.recv(wire.TShutdone, "st=dead")
	r.expect("run 0 start")
	if r.m.NeedsFencing() {
		t.Error("a peer that said shutdone needs no fencing")
	}
	r.done(0, placement.OpStart, true)
	// takeover_from_node's req_our_resources(TRUE) reports too.
	r.expect("resource rsc_hold=foreign info=mach_down", "resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()")
	r.take(r.m.PeerDown(r.now))
	r.expect()
}

// hb_takeover from the peer makes this node go standby for the mirrored
// set (trap 6); a request while the peer is in flux is refused.
func TestHBTakeover(t *testing.T) {
	r := joined(t, "on", "local")
	r.recv(THBTakeover, "rsc_hold=local")
	r.expect("ask_resources rsc_hold=foreign info=me")
	// A second request inside the 10 s window is refused.
	if _, err := r.m.Standby(r.now, placement.All); err == nil {
		t.Error("standby while one is in progress: accepted")
	}
	// No "other" within 10 s: cancelled, the peer counts stable again.
	r.now = r.now.Add(StandbyInitTimeout)
	r.take(r.m.Tick(r.now))
	r.said()
	acts, err := r.m.Standby(r.now, placement.All)
	if err != nil {
		t.Errorf("standby after the cancelled one: %v", err)
	}
	r.take(acts)
	r.expect("ask_resources rsc_hold=all info=me")
}

// Standby is refused while the peer is in flux, as Heartbeat refuses it.
func TestStandbyRefusedInFlux(t *testing.T) {
	r := newRig(t, "node2", "on")
	r.up()
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=0")
	r.said()
	r.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=0")
	if _, err := r.m.Standby(r.now, placement.All); err == nil || !strings.Contains(err.Error(), "flux") {
		t.Errorf("standby with the peer in flux: %v", err)
	}
}

// A clean stop: release, say none/shutdown, then shutdone (trap 9).
func TestLeave(t *testing.T) {
	r := joined(t, "on", "none")
	r.take(r.m.Leave(r.now))
	r.expect("resource rsc_hold=none rtype=full isstable=0 info=shutdown", "run 1 stop")
	if r.m.Idle() {
		t.Fatal("idle before the stop ended")
	}
	r.done(1, placement.OpStop, true)
	r.expect("shutdone st=dead")
	if r.m.Idle() {
		t.Fatal("idle at once after shutdone: a Heartbeat node goes on with its heartbeats for its final shutdown phases")
	}
	r.now = r.now.Add(FinalShutdown)
	r.take(r.m.Tick(r.now))
	if !r.m.Idle() {
		t.Fatal("not idle after shutdone and the final phases")
	}
}

// A stop that fails leaves the transition open: no "done" tells the peer
// to start what may still run here.
func TestFailedStopSaysNothing(t *testing.T) {
	r := joined(t, "on", "none")
	acts, err := r.m.Standby(r.now, placement.Local)
	if err != nil {
		t.Fatal(err)
	}
	r.take(acts)
	r.expect("ask_resources rsc_hold=local info=me")
	r.recv(TAskResources, "rsc_hold=local", "info=other")
	r.expect("resource rsc_hold=none rtype=full isstable=0 info=standby", "run 1 stop")
	r.done(1, placement.OpStop, false)
	r.expect()
	if r.m.Local(1) != placement.Blocked {
		t.Errorf("group 1 is %s, want blocked", r.m.Local(1))
	}
}

// Legacy: ask the active peer for our group with ip-request; give a group
// asked for and answer ip-request-resp in every case (trap 8).
func TestLegacy(t *testing.T) {
	r := newRig(t, "node2", "legacy")
	r.take(r.m.PeerUp(r.now))
	r.take(r.m.PeerActive(r.now))
	r.take(r.m.Ready(r.now))
	r.expect("ip-request ipaddr=IPaddr2::198.18.0.20/24/eth0")
	r.recv(TIPRequestResp, "dest=node2", "ipaddr=IPaddr2::198.18.0.20/24/eth0", "weown=yes", "ok=OK")
	r.expect("run 1 start")
	r.done(1, placement.OpStart, true)
	r.said()
	r.recv(TIPRequest, "ipaddr=IPaddr2::198.18.0.20/24/eth0")
	r.expect("run 1 stop")
	r.done(1, placement.OpStop, true)
	r.expect("ip-request-resp dest=node1 ipaddr=IPaddr2::198.18.0.20/24/eth0 weown=yes ok=OK")
	r.recv(TIPRequest, "ipaddr=IPaddr2::198.18.0.10/24/eth0")
	r.expect("ip-request-resp dest=node1 ipaddr=IPaddr2::198.18.0.10/24/eth0 weown=no ok=OK")
	r.recv(TIPRequest, "ipaddr=nonsense")
	r.expect("ip-request-resp dest=node1 ipaddr=nonsense weown=no ok=OK")
	if _, err := r.m.Standby(r.now, placement.All); err == nil || !strings.Contains(err.Error(), "nice_failback") {
		t.Errorf("standby in legacy mode: %v", err)
	}
	// The standby protocol is ignored in legacy mode.
	r.recv(TAskResources, "rsc_hold=all", "info=me")
	r.expect()
}

// Alone at start (the peer dead since initdead): everything is taken.
func TestAloneTakesAll(t *testing.T) {
	r := newRig(t, "node2", "on")
	r.take(r.m.Ready(r.now))
	r.expect("stonith node=node1 result=n_stnth", "run 0 start")
	r.done(0, placement.OpStart, true)
	r.expect("resource rsc_hold=foreign info=mach_down", "run 1 start")
	r.done(1, placement.OpStart, true)
	r.expect("resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()")
}

// Whatever the peer sends, in whatever order, the machine neither panics
// nor runs a group twice.
func FuzzReceive(f *testing.F) {
	f.Add([]byte("starting\nresource rsc_hold=all rtype=full isstable=1\nask_resources rsc_hold=foreign info=me\nask_resources rsc_hold=foreign info=done\nshutdone\n"))
	f.Add([]byte("ip-request ipaddr=IPaddr2::198.18.0.20/24/eth0\nhb_takeover rsc_hold=failback\nresource rsc_hold=bogus\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		for _, mode := range []string{"on", "off", "legacy"} {
			r := newRig(t, "node2", mode)
			r.up()
			running := map[int]bool{}
			for i, line := range strings.Split(string(script), "\n") {
				if i > 64 {
					break
				}
				f := strings.Fields(line)
				switch {
				case len(f) == 0:
					continue
				case f[0] == "tick":
					r.now = r.now.Add(11 * time.Second)
					r.take(r.m.Tick(r.now))
				case f[0] == "dead":
					r.take(r.m.PeerDown(r.now))
				case f[0] == "up":
					r.take(r.m.PeerUp(r.now))
					r.take(r.m.PeerActive(r.now))
				default:
					r.recv(f[0], f[1:]...)
				}
				// Complete every operation asked for, checking none
				// starts a running group or stops a stopped one.
				for k := 0; k < 8 && len(r.out) > 0; k++ {
					out := r.out
					r.out = nil
					for _, a := range out {
						if run, ok := a.(placement.Run); ok {
							if (run.Op == placement.OpStart) == running[run.Group] {
								t.Fatalf("%s on group %d, which is running=%v", run.Op, run.Group, running[run.Group])
							}
							running[run.Group] = run.Op == placement.OpStart
							r.done(run.Group, run.Op, true)
						}
					}
				}
			}
		}
	})
}
