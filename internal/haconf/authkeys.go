package haconf

import (
	"os"
	"strconv"
	"strings"

	"github.com/lubdub/lubdub/internal/wire"
)

// loadAuthkeys reads authkeys: "auth N" then "N method [secret]" lines.
func loadAuthkeys(file string, r *Report) *wire.Keyring {
	st, err := os.Stat(file)
	if err != nil {
		r.errorf(file, 0, "cannot read the authentication keys: %v", err)
		return nil
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		r.errorf(file, 0, "mode %04o lets group or others read the keys; mode 600 is required (chmod 600 %s)", perm, file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		r.errorf(file, 0, "cannot read the authentication keys: %v", err)
		return nil
	}
	return parseAuthkeys(file, string(data), r)
}

func parseAuthkeys(file, text string, r *Report) *wire.Keyring {
	kr := &wire.Keyring{Send: -1, Keys: map[int]wire.Key{}}
	authLine := 0
	for i, raw := range strings.Split(text, "\n") {
		line := i + 1
		raw = strings.TrimSpace(strings.TrimRight(raw, "\r"))
		if raw == "" || raw[0] == '#' {
			continue
		}
		f := strings.Fields(raw)
		if f[0] == "auth" {
			if authLine != 0 {
				r.errorf(file, line, "auth is given twice (first on line %d)", authLine)
				continue
			}
			authLine = line
			if len(f) != 2 {
				r.errorf(file, line, "auth takes one key number, as in 'auth 1'")
				continue
			}
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 || n > wire.MaxKeyIndex {
				r.errorf(file, line, "auth %q is not a key number from 0 to %d", f[1], wire.MaxKeyIndex)
				continue
			}
			kr.Send = n
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 0 || n > wire.MaxKeyIndex {
			r.errorf(file, line, "expected 'auth N' or 'N method [secret]', got %q", f[0])
			continue
		}
		if authLine == 0 {
			r.errorf(file, line, "the 'auth N' line must come first")
		}
		if _, dup := kr.Keys[n]; dup {
			r.errorf(file, line, "key %d is defined twice", n)
			continue
		}
		if len(f) < 2 {
			r.errorf(file, line, "key %d has no method (crc, md5, sha1 or sha256)", n)
			continue
		}
		method := strings.ToLower(f[1])
		if !wire.KnownMethod(method) {
			r.errorf(file, line, "key %d: unknown method %q (crc, md5, sha1 or sha256)", n, f[1])
			continue
		}
		secret := strings.TrimSpace(strings.Join(f[2:], " "))
		if method != wire.MethodCRC && secret == "" {
			r.errorf(file, line, "key %d: %s needs a secret after the method", n, method)
			continue
		}
		kr.Keys[n] = wire.Key{Index: n, Method: method, Secret: []byte(secret)}
	}
	if authLine == 0 {
		r.errorf(file, 0, "no 'auth N' line: say which key signs, as in 'auth 1'")
		return nil
	}
	k, ok := kr.Keys[kr.Send]
	if !ok {
		if kr.Send >= 0 {
			r.errorf(file, authLine, "auth %d names a key that is not defined", kr.Send)
		}
		return nil
	}
	switch k.Method {
	case wire.MethodCRC:
		r.warnf(file, authLine, "key %d uses crc, which protects against corruption only: anyone on the network can forge heartbeats; use sha256 (or sha1 to talk to Heartbeat nodes)", k.Index)
	case wire.MethodMD5:
		r.notef(file, authLine, "key %d uses md5; sha256 is recommended between lubdub nodes (sha1 with Heartbeat nodes)", k.Index)
	}
	return kr
}
