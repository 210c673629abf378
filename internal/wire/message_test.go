package wire

import (
	"testing"
)

// Hex reads Heartbeat's hexadecimal fields (seq, hg, ts, dt, ackseq); a
// missing or non-hex field is not a number.
func TestHexFields(t *testing.T) {
	m := &Message{}
	m.Add(FSeq, "1a")
	m.Add(FDeadtime, "zz")
	m.Add(FGeneration, "")
	if n, ok := m.Hex(FSeq); !ok || n != 26 {
		t.Errorf("seq=1a read as %d %v, want 26", n, ok)
	}
	for _, name := range []string{FDeadtime, FGeneration, FAckSeq} {
		if n, ok := m.Hex(name); ok {
			t.Errorf("%s=%q read as %d", name, m.Value(name), n)
		}
	}
}

// Logs show string fields quoted and binary ones in hex, in field order.
func TestMessageString(t *testing.T) {
	m := &Message{}
	m.Add(FType, TStatus)
	m.AddBinary(FOrigUUID, []byte{0xde, 0xad})
	m.Add(FComment, "a \"b\"")
	if got, want := m.String(), `{t="status" srcuuid=dead info="a \"b\""}`; got != want {
		t.Fatalf("String() = %s, want %s", got, want)
	}
}

// A string value with a newline anywhere, the first byte included, cannot
// be framed: in a classic frame (and in the classic text the auth field
// covers) it would start another field.
func TestNewlineInStringValueRefused(t *testing.T) {
	for _, v := range []string{"\nst=dead", "a\nst=dead", "a\n"} {
		m := &Message{}
		m.Add(FType, TStatus)
		m.Add(FComment, v)
		for _, f := range []Format{Netstring, Classic} {
			if _, err := Encode(m, fixtureKeys, f); err == nil {
				t.Errorf("%s frame with info=%q encoded", f, v)
			}
		}
	}
	m := &Message{}
	m.AddBinary(FOrigUUID, []byte("\n"))
	if _, err := Encode(m, fixtureKeys, Classic); err != nil {
		t.Errorf("a binary value with a newline (base64 in classic frames): %v", err)
	}
}
