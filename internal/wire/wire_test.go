package wire

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

var fixtureKeys = &Keyring{Send: 2, Keys: map[int]Key{2: {Index: 2, Method: MethodSHA1, Secret: []byte("ItIsASecret")}}}

func fixturePackets(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/heartbeat-3.0.6/story.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var row struct {
			Payload string `json:"payload_b64"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		p, err := base64.StdEncoding.DecodeString(row.Payload)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// Every packet Heartbeat 3.0.6 sent in the captured story decodes, verifies
// with the capture's key, and re-encodes to the same bytes.
func TestHeartbeatFixtureRoundTrip(t *testing.T) {
	pkts := fixturePackets(t)
	if len(pkts) != 270 {
		t.Fatalf("fixture has %d packets, want 270", len(pkts))
	}
	types := map[string]int{}
	for i, raw := range pkts {
		p, err := Decode(raw)
		if err != nil {
			t.Fatalf("packet %d: decode: %v", i, err)
		}
		if err := Verify(p, fixtureKeys); err != nil {
			t.Fatalf("packet %d: verify: %v", i, err)
		}
		types[p.Msg.Value(FType)]++
		again, err := Encode(p.Msg, fixtureKeys, Netstring)
		if err != nil {
			t.Fatalf("packet %d: encode: %v", i, err)
		}
		if !bytes.Equal(again, raw) {
			t.Fatalf("packet %d: re-encoding differs\n got %q\nwant %q", i, again, raw)
		}
	}
	for _, want := range []string{"status", "NS_ackmsg", "resource", "ask_resources", "starting", "reqnodes", "repnodes", "stonith", "ip-request-resp", "hb_takeover", "shutdone"} {
		if types[want] == 0 {
			t.Errorf("no %s message decoded", want)
		}
	}
}

func TestTamperedFixtureFailsVerification(t *testing.T) {
	raw := fixturePackets(t)[0]
	bad := bytes.Replace(raw, []byte("st=init"), []byte("st=dead"), 1)
	p, err := Decode(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(p, fixtureKeys); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("verify of tampered packet: %v, want ErrBadDigest", err)
	}
	other := &Keyring{Send: 3, Keys: map[int]Key{3: {Index: 3, Method: MethodSHA1, Secret: []byte("x")}}}
	p, _ = Decode(raw)
	if err := Verify(p, other); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("verify with other keyring: %v, want ErrUnknownKey", err)
	}
	wrong := &Keyring{Send: 2, Keys: map[int]Key{2: {Index: 2, Method: MethodSHA1, Secret: []byte("wrong")}}}
	if err := Verify(p, wrong); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("verify with wrong secret: %v, want ErrBadDigest", err)
	}
}

func TestClassicRoundTripAllMethods(t *testing.T) {
	for _, method := range []string{MethodCRC, MethodMD5, MethodSHA1, MethodSHA256} {
		kr := &Keyring{Send: 1, Keys: map[int]Key{1: {Index: 1, Method: method, Secret: []byte("s3cret")}}}
		m := &Message{}
		m.Add(FType, TStatus)
		m.Add(FStatus, "active")
		m.AddBinary(FOrigUUID, []byte{0, 1, 2, '\n', 0xff, ',', '='})
		m.Add(FSeq, "1a")
		for _, f := range []Format{Classic, Netstring} {
			b, err := Encode(m, kr, f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Decode(b)
			if err != nil {
				t.Fatalf("%s/%s: %v\n%q", method, f, err, b)
			}
			if err := Verify(p, kr); err != nil {
				t.Fatalf("%s/%s: %v", method, f, err)
			}
			u, _ := p.Msg.Bytes(FOrigUUID)
			if !bytes.Equal(u, []byte{0, 1, 2, '\n', 0xff, ',', '='}) {
				t.Fatalf("%s/%s: binary field came back as %q", method, f, u)
			}
			b2, _ := Encode(p.Msg, kr, f)
			if !bytes.Equal(b, b2) {
				t.Fatalf("%s/%s: re-encoding differs", method, f)
			}
		}
	}
}

// The crc method is the POSIX cksum polynomial without the length: the
// check value of "123456789" for CRC-32/POSIX without length is 0x765e7680.
func TestCRCCheckValue(t *testing.T) {
	if got := crc32POSIX([]byte("123456789")); got != 0x765e7680 {
		t.Fatalf("crc = %#x", got)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":           nil,
		"no marker":       []byte("hello"),
		"short length":    []byte("###\n5:(0)t=s,%%%\n"),
		"huge length":     []byte("###\n99999999:(0)t=s,"),
		"bad type":        []byte("###\n7:(9)t=sx,%%%\n"),
		"no equals":       []byte("###\n6:(0)tsxx,%%%\n"),
		"unterminated":    []byte(">>>\nt=status\n"),
		"classic bad b64": []byte(">>>\n(1)srcuuid=!!!\n<<<\n"),
		"junk after":      []byte(">>>\nt=status\n<<<\nextra"),
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := Decode(make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range fixturePackets(f)[:20] {
		f.Add(p)
	}
	f.Add([]byte(">>>\nt=status\n(1)srcuuid=AAEC\n<<<\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		_ = Verify(p, fixtureKeys)
		// Whatever decodes must encode and decode again to the same fields.
		if validateForEncoding(p.Msg) != nil {
			return
		}
		for _, f := range []Format{Netstring, Classic} {
			enc, err := Encode(p.Msg, fixtureKeys, f)
			if err != nil {
				continue
			}
			q, err := Decode(enc)
			if err != nil {
				t.Fatalf("re-decode %s: %v", f, err)
			}
			if err := Verify(q, fixtureKeys); err != nil {
				t.Fatalf("re-verify %s: %v", f, err)
			}
		}
	})
}
