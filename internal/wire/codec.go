package wire

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
)

// Frame markers.
var (
	netStart     = []byte("###\n")
	netEnd       = []byte("%%%\n")
	classicStart = []byte(">>>\n")
	classicEnd   = []byte("<<<\n")
)

// Format names a frame.
type Format int

const (
	// Netstring is the frame Heartbeat 3.0.6 sends on UDP media.
	Netstring Format = iota
	// Classic is the text frame used on serial links.
	Classic
)

func (f Format) String() string {
	if f == Classic {
		return "classic"
	}
	return "netstring"
}

// Packet is a decoded frame: the message, and for netstring frames the
// trailing digest and the bytes it covers.
type Packet struct {
	Msg    *Message
	Format Format
	// Trailer is the "N HEX" digest after "%%%\n" (netstring only).
	Trailer string
	// Signed is the part of the frame the trailer digest covers.
	Signed []byte
}

// Decode reads one frame of either format.
func Decode(b []byte) (*Packet, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(b), MaxMessageSize)
	}
	switch {
	case bytes.HasPrefix(b, netStart):
		return decodeNetstring(b)
	case bytes.HasPrefix(b, classicStart):
		return decodeClassic(b)
	}
	return nil, fmt.Errorf("%w: no frame start marker", ErrMalformed)
}

func decodeNetstring(b []byte) (*Packet, error) {
	rest := b[len(netStart):]
	m := &Message{}
	for {
		if bytes.HasPrefix(rest, netEnd) {
			rest = rest[len(netEnd):]
			break
		}
		if len(m.Fields) >= MaxFields {
			return nil, fmt.Errorf("%w: more than %d fields", ErrMalformed, MaxFields)
		}
		item, r, err := readNetstring(rest)
		if err != nil {
			return nil, err
		}
		rest = r
		f, err := parseTypedField(item)
		if err != nil {
			return nil, err
		}
		m.Fields = append(m.Fields, f)
	}
	p := &Packet{Msg: m, Format: Netstring, Signed: b[:len(b)-len(rest)]}
	if len(rest) > 0 {
		item, r, err := readNetstring(rest)
		if err != nil {
			return nil, fmt.Errorf("reading trailing digest: %w", err)
		}
		if len(bytes.Trim(r, "\x00\n")) != 0 {
			return nil, fmt.Errorf("%w: %d bytes after the trailing digest", ErrMalformed, len(r))
		}
		p.Trailer = string(item)
	}
	return p, nil
}

// readNetstring reads "LEN:bytes," and returns bytes and the remainder.
func readNetstring(b []byte) (item, rest []byte, err error) {
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 || colon > 7 {
		return nil, nil, fmt.Errorf("%w: bad netstring length prefix", ErrMalformed)
	}
	n, err := strconv.Atoi(string(b[:colon]))
	if err != nil || n < 0 {
		return nil, nil, fmt.Errorf("%w: bad netstring length %q", ErrMalformed, b[:colon])
	}
	b = b[colon+1:]
	if n >= len(b) || b[n] != ',' {
		return nil, nil, fmt.Errorf("%w: netstring of length %d not closed by ','", ErrMalformed, n)
	}
	return b[:n], b[n+1:], nil
}

// parseTypedField reads "(T)name=value" (netstring) or "name=value".
func parseTypedField(item []byte) (Field, error) {
	typ := TypeString
	if len(item) > 0 && item[0] == '(' {
		end := bytes.IndexByte(item, ')')
		if end < 2 {
			return Field{}, fmt.Errorf("%w: bad field type", ErrMalformed)
		}
		t, err := strconv.Atoi(string(item[1:end]))
		if err != nil || (t != int(TypeString) && t != int(TypeBinary)) {
			return Field{}, fmt.Errorf("%w: unsupported field type %q", ErrMalformed, item[1:end])
		}
		typ = byte(t)
		item = item[end+1:]
	}
	eq := bytes.IndexByte(item, '=')
	if eq <= 0 {
		return Field{}, fmt.Errorf("%w: field without name=value", ErrMalformed)
	}
	return Field{Name: string(item[:eq]), Type: typ, Value: append([]byte(nil), item[eq+1:]...)}, nil
}

func decodeClassic(b []byte) (*Packet, error) {
	rest := b[len(classicStart):]
	m := &Message{}
	for {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("%w: classic frame not closed by <<<", ErrMalformed)
		}
		line := rest[:nl+1]
		rest = rest[nl+1:]
		if bytes.Equal(line, classicEnd) {
			break
		}
		if len(m.Fields) >= MaxFields {
			return nil, fmt.Errorf("%w: more than %d fields", ErrMalformed, MaxFields)
		}
		f, err := parseTypedField(bytes.TrimSuffix(line[:len(line)-1], []byte("\r")))
		if err != nil {
			return nil, err
		}
		if f.Type == TypeBinary {
			v, err := base64.StdEncoding.DecodeString(string(f.Value))
			if err != nil {
				return nil, fmt.Errorf("%w: binary field %s is not base64", ErrMalformed, f.Name)
			}
			f.Value = v
		}
		m.Fields = append(m.Fields, f)
	}
	if len(bytes.Trim(rest, "\x00\n")) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after <<<", ErrMalformed, len(rest))
	}
	return &Packet{Msg: m, Format: Classic}, nil
}

// appendNetstringFields writes the fields of a netstring frame.
func appendNetstringFields(b []byte, fields []Field) []byte {
	for _, f := range fields {
		n := 3 + len(f.Name) + 1 + len(f.Value)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ':', '(', '0'+f.Type, ')')
		b = append(b, f.Name...)
		b = append(b, '=')
		b = append(b, f.Value...)
		b = append(b, ',')
	}
	return b
}

// classicText renders fields as Heartbeat's classic name=value lines, the
// form its digests are computed over.
func classicText(fields []Field) []byte {
	var b []byte
	for _, f := range fields {
		if f.Type == TypeBinary {
			b = append(b, "(1)"...)
			b = append(b, f.Name...)
			b = append(b, '=')
			b = base64.StdEncoding.AppendEncode(b, f.Value)
		} else {
			b = append(b, f.Name...)
			b = append(b, '=')
			b = append(b, f.Value...)
		}
		b = append(b, '\n')
	}
	return b
}

// validateForEncoding refuses what cannot be framed unambiguously.
func validateForEncoding(m *Message) error {
	for _, f := range m.Fields {
		if f.Name == "" || bytes.ContainsAny([]byte(f.Name), "=\n(") {
			return fmt.Errorf("field name %q cannot be encoded", f.Name)
		}
		if f.Type == TypeString && bytes.IndexByte(f.Value, '\n') >= 0 {
			return fmt.Errorf("field %s: a newline cannot be encoded", f.Name)
		}
		if f.Type != TypeString && f.Type != TypeBinary {
			return fmt.Errorf("field %s: unsupported type %d", f.Name, f.Type)
		}
	}
	return nil
}
