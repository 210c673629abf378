package membership

import (
	"testing"

	"github.com/lubdub/lubdub/internal/wire"
)

// Status tools show a node's uuid as Heartbeat prints uuids
// (8-4-4-4-12 hex digits), or in plain hex when it is not 16 bytes long.
func TestNodeViewUUID(t *testing.T) {
	a := newAlpha(t, nil)
	a.recv(t0, "eth0", fromBravo(wire.TStatus, 1, 1, wire.FStatus, "active"))
	v := a.m.Nodes()
	if v[0].Name != "alpha" || !v[0].Local || v[0].UUID != "75756964-2d61-6c70-6861-202020202020" {
		t.Errorf("local view %+v", v[0])
	}
	if v[1].Name != "bravo" || v[1].UUID != "62726176-6f2d-7575-6964-2d3136627974" {
		t.Errorf("bravo's uuid shown as %q", v[1].UUID)
	}
	short := &wire.Message{}
	short.Add(wire.FType, wire.TStatus)
	short.Add(wire.FStatus, "active")
	short.Add(wire.FOrig, "bravo")
	short.AddBinary(wire.FOrigUUID, []byte{0xab, 0xcd})
	short.Add(wire.FSeq, "2")
	short.Add(wire.FGeneration, "1")
	short.Add(wire.FTime, "1")
	a.recv(t0, "eth0", short)
	if got := a.m.Nodes()[1].UUID; got != "abcd" {
		t.Errorf("a 2-byte uuid shown as %q, want abcd", got)
	}
}
