// Package wire encodes and decodes Heartbeat's cluster messages, byte for
// byte as Heartbeat 3.0.6 does, and signs and verifies them with the keys
// of an authkeys file.
//
// A message is an ordered list of name=value fields. Two frames carry it:
// the netstring frame ("###\n" ... "%%%\n" plus a trailing digest), which
// Heartbeat 3.0.6 sends on UDP media, and the classic text frame
// (">>>\n" name=value lines "<<<\n"), which it sends on serial links and
// older releases sent everywhere. Both are read; either can be written.
//
// Decoding never panics: malformed input yields an error wrapping one of the
// sentinel errors below, so that callers can count drops by reason.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Field types, as Heartbeat numbers them in the netstring frame.
const (
	TypeString byte = 0
	TypeBinary byte = 1
)

// Well-known field names (Heartbeat's F_* constants).
const (
	FType       = "t"
	FOrig       = "src"
	FOrigUUID   = "srcuuid"
	FTo         = "dest"
	FToUUID     = "destuuid"
	FStatus     = "st"
	FTime       = "ts"
	FSeq        = "seq"
	FLoad       = "ld"
	FComment    = "info"
	FTTL        = "ttl"
	FAuth       = "auth"
	FGeneration = "hg"
	FFirstSeq   = "firstseq"
	FLastSeq    = "lastseq"
	FAckSeq     = "ackseq"
	FDeadtime   = "dt"
	FProtocol   = "protocol"
	FNodeList   = "nodelist"
	FDelNodes   = "delnodelist"
)

// Well-known message types (Heartbeat's T_* constants).
const (
	TStatus    = "status"
	TRexmit    = "NS_rexmit"
	TNakRexmit = "NS_nak_rexmit"
	TAck       = "NS_ackmsg"
	TReqNodes  = "reqnodes"
	TRepNodes  = "repnodes"
	TShutdone  = "shutdone"
	// NoSeqPrefix marks types that carry no sequence number.
	NoSeqPrefix = "NS_"
)

// MaxMessageSize bounds what is decoded: Heartbeat's own limit for a
// message on the wire is of the same order, and a UDP datagram cannot be
// larger anyway.
const MaxMessageSize = 64 * 1024

// MaxFields bounds the number of fields in one message. A resource report
// carries three or four fields per group and about ten more: 1024 lets a
// cluster run a few hundred groups (at 256, a report of 100 groups was
// dropped as malformed and nothing was placed); MaxMessageSize still
// bounds the whole.
const MaxFields = 1024

// Sentinel errors, one per drop reason a caller may want to count.
var (
	ErrTooLarge  = errors.New("message too large")
	ErrMalformed = errors.New("malformed message")
)

// Field is one name=value pair.
type Field struct {
	Name  string
	Type  byte
	Value []byte
}

// Message is an ordered list of fields. Field order matters: it is part of
// what the digest covers.
type Message struct {
	Fields []Field
}

// Get returns the value of the first field with the given name.
func (m *Message) Get(name string) (string, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return string(f.Value), true
		}
	}
	return "", false
}

// Value returns the value of the named field, or "" when it is absent.
func (m *Message) Value(name string) string {
	v, _ := m.Get(name)
	return v
}

// Bytes returns the raw value of the named field.
func (m *Message) Bytes(name string) ([]byte, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// Add appends a string field.
func (m *Message) Add(name, value string) {
	m.Fields = append(m.Fields, Field{Name: name, Type: TypeString, Value: []byte(value)})
}

// AddBinary appends a binary field.
func (m *Message) AddBinary(name string, value []byte) {
	m.Fields = append(m.Fields, Field{Name: name, Type: TypeBinary, Value: append([]byte(nil), value...)})
}

// Hex reads a field written in hexadecimal, as Heartbeat writes seq, hg,
// ts, dt and ackseq.
func (m *Message) Hex(name string) (uint64, bool) {
	v, ok := m.Get(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// Clone returns a deep copy.
func (m *Message) Clone() *Message {
	c := &Message{Fields: make([]Field, len(m.Fields))}
	for i, f := range m.Fields {
		c.Fields[i] = Field{Name: f.Name, Type: f.Type, Value: append([]byte(nil), f.Value...)}
	}
	return c
}

// without returns the fields other than the named one.
func (m *Message) without(name string) []Field {
	out := make([]Field, 0, len(m.Fields))
	for _, f := range m.Fields {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

// String renders the message for logs, binary fields in hex.
func (m *Message) String() string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range m.Fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		if f.Type == TypeString {
			fmt.Fprintf(&b, "%s=%q", f.Name, f.Value)
		} else {
			fmt.Fprintf(&b, "%s=%x", f.Name, f.Value)
		}
	}
	b.WriteByte('}')
	return b.String()
}
