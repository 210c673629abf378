package hbresource

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/membership"
	"github.com/lubdub/lubdub/internal/placement"
	"github.com/lubdub/lubdub/internal/wire"
)

// captureKeys is the capture's authkeys (auth 2, sha1).
var captureKeys = &wire.Keyring{Send: 2, Keys: map[int]wire.Key{2: {Index: 2, Method: wire.MethodSHA1, Secret: []byte("ItIsASecret")}}}

// capturedStonith returns the stonith messages Heartbeat 3.0.6 sent in the
// captured story (internal/wire/testdata), each verified with its key.
func capturedStonith(t *testing.T) []*wire.Message {
	t.Helper()
	f, err := os.Open("../wire/testdata/heartbeat-3.0.6/story.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*wire.Message
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var row struct {
			Payload string `json:"payload_b64"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		b, err := base64.StdEncoding.DecodeString(row.Payload)
		if err != nil {
			t.Fatal(err)
		}
		p, err := wire.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := wire.Verify(p, captureKeys); err != nil {
			t.Fatal(err)
		}
		if p.Msg.Value(wire.FType) == TStonith {
			out = append(out, p.Msg)
		}
	}
	return out
}

// fieldNames lists a message's field names in order.
func fieldNames(m *wire.Message) []string {
	var names []string
	for _, f := range m.Fields {
		names = append(names, f.Name)
	}
	return names
}

// body is a message's own fields: those before the sender's src.
func body(m *wire.Message) string {
	var f []string
	for _, x := range m.Fields {
		if x.Name == wire.FOrig {
			break
		}
		f = append(f, x.Name+"="+string(x.Value))
	}
	return strings.Join(f, " ")
}

// sentStonith is the one stonith message among what the rig's machine
// said since the last call.
func (r *rig) sentStonith() *wire.Message {
	r.t.Helper()
	var found *wire.Message
	for _, a := range r.out {
		if s, ok := a.(placement.Send); ok && s.Msg.Value(wire.FType) == TStonith {
			if found != nil {
				r.t.Fatalf("two stonith messages: %v and %v", body(found), body(s.Msg))
			}
			found = s.Msg
		}
	}
	r.out = nil
	if found == nil {
		r.t.Fatal("no stonith message sent")
	}
	return found
}

// The stonith messages of the 3.0.6 capture, made by lubdub in the same
// situations: node2 sees node1 die holding its group with no device
// configured (n_stnth, +28.017), node1 sees node2 die after it had given
// everything up (unneeded, +41.791). Their own fields match the capture's
// field for field; sent through membership and encoded, the whole frame
// has the capture's fields in the capture's order. Received from
// Heartbeat, they are informational: nothing is sent or run.
func TestStonithMessagesAsCaptured(t *testing.T) {
	captured := capturedStonith(t)
	if len(captured) != 2 {
		t.Fatalf("the capture holds %d stonith messages, want 2", len(captured))
	}

	// node1 dies holding its group (claim local): n_stnth.
	r := joined(t, "on", "local")
	r.take(r.m.PeerDown(r.now))
	n2 := r.sentStonith()
	// node2 gave everything up (claim none) and dies: unneeded.
	r1 := newRig(t, "node1", "on")
	r1.up()
	r1.recv(TResource, "rsc_hold=local", "rtype=full", "isstable=1")
	r1.said()
	r1.done(0, placement.OpStart, true)
	r1.said()
	r1.recv(TResource, "rsc_hold=none", "rtype=full", "isstable=0", "info=shutdown")
	r1.said()
	r1.take(r1.m.PeerDown(r1.now))
	n1 := r1.sentStonith()

	for i, c := range []struct {
		from string
		ours *wire.Message
		want string
	}{
		{"node2", n2, "t=stonith node=node1 result=n_stnth"},
		{"node1", n1, "t=stonith node=node2 result=unneeded"},
	} {
		hb := captured[i]
		if got := body(hb); got != c.want || hb.Value(wire.FOrig) != c.from {
			t.Fatalf("capture's stonith %d is %q from %s, want %q from %s", i, got, hb.Value(wire.FOrig), c.want, c.from)
		}
		if got := body(c.ours); got != body(hb) {
			t.Errorf("lubdub sends %q where Heartbeat sent %q", got, body(hb))
		}
		// Through membership (as the daemon sends it) and the codec.
		uuid, _ := hb.Bytes(wire.FOrigUUID)
		m := membership.New(membership.Config{Local: c.from, Nodes: []string{"node1", "node2"}, Links: []string{"eth0"},
			Keepalive: 500 * time.Millisecond, Deadtime: 3 * time.Second, Warntime: time.Second, Initdead: 12 * time.Second,
			Generation: 0x6b074ecb, UUID: uuid, TTL: 3, Load: func() string { return "0.00 0.05 0.07 3/89 14208" }}, t0, r.m.log)
		var frame []byte
		for _, a := range m.SendMessage(t0, c.ours) {
			if s, ok := a.(membership.Send); ok {
				b, err := wire.Encode(s.Msg, captureKeys, wire.Netstring)
				if err != nil {
					t.Fatal(err)
				}
				frame = b
			}
		}
		p, err := wire.Decode(frame)
		if err != nil {
			t.Fatalf("lubdub's stonith frame does not decode: %v", err)
		}
		if err := wire.Verify(p, captureKeys); err != nil {
			t.Fatalf("lubdub's stonith frame does not verify with the capture's key: %v", err)
		}
		if got, want := strings.Join(fieldNames(p.Msg), ","), strings.Join(fieldNames(hb), ","); got != want {
			t.Errorf("lubdub's stonith frame has fields %s, Heartbeat's %s", got, want)
		}
		for _, f := range []string{wire.FType, "node", "result", wire.FOrig, wire.FTTL} {
			if p.Msg.Value(f) != hb.Value(f) {
				t.Errorf("field %s: lubdub %q, Heartbeat %q", f, p.Msg.Value(f), hb.Value(f))
			}
		}
	}

	// Heartbeat's messages received: informational.
	for _, c := range []struct {
		local string
		msg   *wire.Message
	}{{"node1", captured[0]}, {"node2", captured[1]}} {
		r := newRig(t, c.local, "on")
		r.up()
		r.said()
		r.take(r.m.Receive(r.now, c.msg))
		r.expect()
	}
}

// A failed fencing of the dead peer is told to it as Heartbeat's
// Initiate_Reset tells it, after every try (stonith bad; badhost when no
// device controls it), and its groups wait; the success is told as OK
// just before they are taken (mach_down).
func TestFenceFailedTellsThePeer(t *testing.T) {
	r := joined(t, "on", "local")
	r.take(r.m.Suspect(r.now))
	r.expect()
	r.take(r.m.FenceFailed(r.now, false))
	r.expect("stonith node=node1 result=bad")
	r.take(r.m.FenceFailed(r.now, true))
	r.expect("stonith node=node1 result=badhost")
	r.take(r.m.PeerDown(r.now))
	r.expect("stonith node=node1 result=OK", "run 0 start")
}
