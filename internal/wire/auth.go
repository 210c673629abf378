package wire

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Authentication errors, one per drop reason.
var (
	ErrNoAuth     = errors.New("message has no auth field")
	ErrUnknownKey = errors.New("unknown auth key index")
	ErrBadDigest  = errors.New("bad digest")
)

// Methods lubdub knows. crc, md5 and sha1 are Heartbeat's; sha256 is
// lubdub's addition and the one it recommends.
const (
	MethodCRC    = "crc"
	MethodMD5    = "md5"
	MethodSHA1   = "sha1"
	MethodSHA256 = "sha256"
)

// MaxKeyIndex is the highest key index authkeys may use (Heartbeat's MAXAUTH-1).
const MaxKeyIndex = 15

// Key is one authkeys entry.
type Key struct {
	Index  int
	Method string
	Secret []byte
}

// Keyring holds every key of an authkeys file and which one signs.
type Keyring struct {
	Send int
	Keys map[int]Key
}

// KnownMethod reports whether the method name is one lubdub implements.
func KnownMethod(m string) bool {
	switch m {
	case MethodCRC, MethodMD5, MethodSHA1, MethodSHA256:
		return true
	}
	return false
}

// Digest computes the key's digest over data, as lower-case hex.
func (k Key) Digest(data []byte) string {
	var h func() hash.Hash
	switch k.Method {
	case MethodCRC:
		return strconv.FormatUint(uint64(crc32POSIX(data)), 16)
	case MethodMD5:
		h = md5.New
	case MethodSHA1:
		h = sha1.New
	case MethodSHA256:
		h = sha256.New
	default:
		return ""
	}
	mac := hmac.New(h, k.Secret)
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}

// Encode signs the message with the sending key and frames it. Any auth
// field already present is replaced.
func Encode(m *Message, kr *Keyring, f Format) ([]byte, error) {
	if err := validateForEncoding(m); err != nil {
		return nil, err
	}
	key, ok := kr.Keys[kr.Send]
	if !ok {
		return nil, fmt.Errorf("signing with key %d: %w", kr.Send, ErrUnknownKey)
	}
	fields := m.without(FAuth)
	auth := strconv.Itoa(key.Index) + " " + key.Digest(classicText(fields))
	fields = append(fields, Field{Name: FAuth, Type: TypeString, Value: []byte(auth)})

	var b []byte
	if f == Classic {
		b = append(b, classicStart...)
		b = append(b, classicText(fields)...)
		b = append(b, classicEnd...)
	} else {
		b = append(b, netStart...)
		b = appendNetstringFields(b, fields)
		b = append(b, netEnd...)
		trailer := strconv.Itoa(key.Index) + " " + key.Digest(b)
		b = strconv.AppendInt(b, int64(len(trailer)), 10)
		b = append(b, ':')
		b = append(b, trailer...)
		b = append(b, ',')
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	return b, nil
}

// Verify checks the auth field, and for netstring frames the trailing
// digest, against the keyring. Any key of the file is accepted, as
// Heartbeat does, so keys can be rolled over one node at a time. A
// netstring frame without its trailing digest fails with ErrNoAuth, as
// Heartbeat's netstring2msg refuses it: the auth field alone covers the
// fields' classic text, which a re-framed message can share.
func Verify(p *Packet, kr *Keyring) error {
	auth, ok := p.Msg.Get(FAuth)
	if !ok {
		return ErrNoAuth
	}
	if err := check(kr, auth, classicText(p.Msg.without(FAuth))); err != nil {
		return err
	}
	if p.Format != Netstring {
		return nil
	}
	if p.Trailer == "" {
		return fmt.Errorf("%w: netstring frame without its trailing digest", ErrNoAuth)
	}
	if err := check(kr, p.Trailer, p.Signed); err != nil {
		return fmt.Errorf("trailing digest: %w", err)
	}
	return nil
}

func check(kr *Keyring, auth string, data []byte) error {
	idx, digest, ok := strings.Cut(auth, " ")
	if !ok {
		return fmt.Errorf("%w: auth value %q is not \"N digest\"", ErrBadDigest, auth)
	}
	n, err := strconv.Atoi(idx)
	if err != nil {
		return fmt.Errorf("%w: key index %q", ErrUnknownKey, idx)
	}
	key, ok := kr.Keys[n]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownKey, n)
	}
	want := key.Digest(data)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(digest))) != 1 {
		return fmt.Errorf("%w (key %d, %s)", ErrBadDigest, n, key.Method)
	}
	return nil
}

// crcTable is the MSB-first table of polynomial 0x04C11DB7, which
// Heartbeat's crc method uses (the POSIX cksum CRC, without the length).
var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc32POSIX(data []byte) uint32 {
	var crc uint32
	for _, b := range data {
		crc = crc<<8 ^ crcTable[byte(crc>>24)^b]
	}
	return ^crc
}
