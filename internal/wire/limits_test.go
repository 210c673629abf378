package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// paddedMessage is a status message with a pad field sized so that its
// netstring encoding with fixtureKeys is exactly size bytes.
func paddedMessage(t *testing.T, size int) *Message {
	t.Helper()
	build := func(pad int) *Message {
		m := &Message{}
		m.Add(FType, TStatus)
		m.Add(FOrig, "node1")
		m.Add("pad", strings.Repeat("x", pad))
		return m
	}
	pad := size - 1000
	for range 3 {
		b, err := Encode(build(pad), fixtureKeys, Netstring)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == size {
			return build(pad)
		}
		pad += size - len(b)
	}
	t.Fatalf("no padding gives %d bytes", size)
	return nil
}

// A frame of exactly MaxMessageSize bytes is encoded and decoded; one byte
// more is refused both ways.
func TestMessageSizeLimit(t *testing.T) {
	m := paddedMessage(t, MaxMessageSize)
	b, err := Encode(m, fixtureKeys, Netstring)
	if err != nil {
		t.Fatalf("encoding %d bytes: %v", MaxMessageSize, err)
	}
	p, err := Decode(b)
	if err != nil {
		t.Fatalf("decoding %d bytes: %v", len(b), err)
	}
	if err := Verify(p, fixtureKeys); err != nil {
		t.Fatal(err)
	}
	m.Add("one", "")
	if _, err := Encode(m, fixtureKeys, Netstring); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encoding more than %d bytes: err %v, want ErrTooLarge", MaxMessageSize, err)
	}
	if _, err := Decode(append(b, '\n')); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("decoding %d bytes: err %v, want ErrTooLarge", len(b)+1, err)
	}
}

// MaxFields fields decode in both frames; one more is malformed.
func TestFieldCountLimit(t *testing.T) {
	for _, n := range []int{MaxFields, MaxFields + 1} {
		var net, classic strings.Builder
		net.WriteString("###\n")
		classic.WriteString(">>>\n")
		for i := range n {
			f := fmt.Sprintf("f%d=v", i)
			fmt.Fprintf(&net, "%d:(0)%s,", len(f)+3, f)
			classic.WriteString(f + "\n")
		}
		net.WriteString("%%%\n")
		classic.WriteString("<<<\n")
		for name, frame := range map[string]string{"netstring": net.String(), "classic": classic.String()} {
			p, err := Decode([]byte(frame))
			switch {
			case n <= MaxFields && err != nil:
				t.Errorf("%s frame of %d fields: %v", name, n, err)
			case n <= MaxFields && len(p.Msg.Fields) != n:
				t.Errorf("%s frame of %d fields: decoded %d", name, n, len(p.Msg.Fields))
			case n > MaxFields && !errors.Is(err, ErrMalformed):
				t.Errorf("%s frame of %d fields: err %v, want ErrMalformed", name, n, err)
			}
		}
	}
}

// Netstrings whose length runs to the end of the packet, or that are
// empty, are malformed input: an error, never an index out of range.
func TestShortNetstringsAreMalformed(t *testing.T) {
	for name, b := range map[string]string{
		"field runs to the end":      "###\n6:(0)t=s",
		"field one short of its ','": "###\n7:(0)t=s,",
		"empty field":                "###\n0:,%%%\n",
		"field without a name":       "###\n9:(0)=active,%%%\n",
		"classic without a name":     ">>>\n=active\n<<<\n",
		"trailer runs to the end":    "###\n6:(0)t=s,%%%\n3:abc",
		"length without digits":      "###\n:(0)t=s,%%%\n",
		"negative length":            "###\n-1:,%%%\n",
		"eight-digit length":         "###\n00000006:(0)t=s,%%%\n",
	} {
		if _, err := Decode([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %q: err %v, want ErrMalformed", name, b, err)
		}
	}
}

// The frame's name, as logs print it.
func TestFormatNames(t *testing.T) {
	if Netstring.String() != "netstring" || Classic.String() != "classic" {
		t.Fatalf("%s %s", Netstring, Classic)
	}
}
