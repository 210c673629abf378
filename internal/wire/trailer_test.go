package wire

import (
	"bytes"
	"errors"
	"testing"
)

// trailerStart is where a netstring frame's trailing digest begins.
func trailerStart(t *testing.T, raw []byte) int {
	t.Helper()
	i := bytes.LastIndex(raw, netEnd)
	if i < 0 {
		t.Fatalf("no %q in %q", netEnd, raw)
	}
	return i + len(netEnd)
}

// Heartbeat's netstring2msg checks the trailing "N digest" over the whole
// frame (is_auth_netstring) and drops the packet when it does not match,
// whatever the auth field says. A frame whose fields are intact but whose
// trailer was changed is dropped here too.
func TestTamperedTrailerFailsVerification(t *testing.T) {
	raw := fixturePackets(t)[0]
	at := trailerStart(t, raw)
	// The trailer is "42:2 <40 hex digits>,": flip the last hex digit.
	bad := append([]byte(nil), raw...)
	last := len(bad) - 2
	if bad[last] == '0' {
		bad[last] = '1'
	} else {
		bad[last] = '0'
	}
	p, err := Decode(bad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Signed, raw[:at]) {
		t.Fatalf("signed part is %q, want everything up to the trailer", p.Signed)
	}
	if err := Verify(p, fixtureKeys); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("verify with a changed trailer: %v, want ErrBadDigest", err)
	}
	// A trailer naming a key the keyring lacks is an unknown key.
	other := append(append([]byte(nil), raw[:at]...), "42:7"+string(raw[at+4:])...)
	p, err = Decode(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(p, fixtureKeys); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("verify with a trailer signed by key 7: %v, want ErrUnknownKey", err)
	}
}

// Heartbeat requires the trailing digest of a netstring frame: without it
// netstring2msg fails ("peel_netstring() error in getting auth string").
// Without that rule a frame could be re-framed (one string field holding
// "a\nst=dead" and two fields have the same classic text, which is all the
// auth field covers) and still pass.
func TestNetstringWithoutTrailerFailsVerification(t *testing.T) {
	raw := fixturePackets(t)[0]
	for name, frame := range map[string][]byte{
		"no trailer":    raw[:trailerStart(t, raw)],
		"empty trailer": append(append([]byte(nil), raw[:trailerStart(t, raw)]...), "0:,"...),
	} {
		p, err := Decode(frame)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := Verify(p, fixtureKeys); !errors.Is(err, ErrNoAuth) {
			t.Errorf("%s: verify = %v, want ErrNoAuth", name, err)
		}
	}
}

// A classic frame carries no trailer: its auth field alone decides, so a
// changed field must fail it.
func TestTamperedClassicFrameFailsVerification(t *testing.T) {
	kr := &Keyring{Send: 1, Keys: map[int]Key{1: {Index: 1, Method: MethodSHA1, Secret: []byte("s3cret")}}}
	m := &Message{}
	m.Add(FType, TStatus)
	m.Add(FStatus, "active")
	m.Add(FOrig, "node1")
	raw, err := Encode(m, kr, Classic)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(bytes.Replace(raw, []byte("st=active"), []byte("st=dead"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(p, kr); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("verify of a tampered classic frame: %v, want ErrBadDigest", err)
	}
	p, _ = Decode(raw)
	if err := Verify(p, kr); err != nil {
		t.Fatalf("verify of the intact frame: %v", err)
	}
}

// A netstring frame whose trailer is right but whose auth field is wrong
// is dropped: Heartbeat checks both (isauthentic on the fields, then the
// trailer in netstring2msg).
func TestBadAuthFieldUnderGoodTrailerFailsVerification(t *testing.T) {
	key := fixtureKeys.Keys[2]
	fields := []Field{
		{Name: FType, Value: []byte(TStatus)},
		{Name: FOrig, Value: []byte("node2")},
		{Name: FAuth, Value: []byte("2 0123456789abcdef0123456789abcdef01234567")},
	}
	b := append([]byte(nil), netStart...)
	b = appendNetstringFields(b, fields)
	b = append(b, netEnd...)
	trailer := "2 " + key.Digest(b)
	b = append(b, []byte("42:"+trailer+",")...)
	p, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(p, fixtureKeys); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("verify: %v, want ErrBadDigest from the auth field", err)
	}
}
