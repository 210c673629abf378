package haconf

import (
	"os"
	"strings"

	"github.com/lubdub/lubdub/internal/wire"
)

// loadAuthkeys reads authkeys. Like Heartbeat (auth.c, parse_authfile) it
// refuses a file that group or others can read; other mode bits, such as
// group write, are Heartbeat's business neither.
func loadAuthkeys(file string, r *Report) *wire.Keyring {
	st, err := os.Stat(file)
	if err != nil {
		r.errorf(file, 0, "cannot read the authentication keys: %v", err)
		return nil
	}
	if perm := st.Mode().Perm(); perm&0o044 != 0 {
		r.errorf(file, 0, "mode %04o lets group or others read the keys; mode 600 is required (chmod 600 %s), as Heartbeat requires", perm, file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		r.errorf(file, 0, "cannot read the authentication keys: %v", err)
		return nil
	}
	return parseAuthkeys(file, string(data), r)
}

// parseAuthkeys reads authkeys as Heartbeat 3.0.6's parse_authfile does:
//   - a line whose first word starts with '#' is a comment; blank lines are
//     skipped;
//   - a line starting with 'a' is sscanf(line, "auth %d"): "auth1" and
//     "auth 3  # comment" both name key 3 (1); what follows the number is
//     ignored; a later auth line replaces an earlier one;
//   - any other line is sscanf(line, "%d%s%s"): the key number, the method
//     and the secret's first word; the rest of the line is ignored, so
//     "1 sha1 key # note" has the secret "key";
//   - the signing key is the first key line with the number of the auth
//     line in force when it is read, so "auth N" must come before key N;
//   - a later line for the same key number replaces the earlier one.
//
// Method names are lower case (Heartbeat loads a plugin by that name);
// sha256 is lubdub's own. crc takes no secret; the others need one.
func parseAuthkeys(file, text string, r *Report) *wire.Keyring {
	kr := &wire.Keyring{Send: -1, Keys: map[int]wire.Key{}}
	authnum, authLine := -1, 0
	defined := map[int]int{}
	broken := false // a key line with an error: don't also call its key undefined
	for i, raw := range strings.Split(text, "\n") {
		line := i + 1
		s := strings.TrimLeft(strings.TrimRight(raw, "\r"), " \t\f\v")
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == 'a' {
			rest, ok := strings.CutPrefix(s, "auth")
			n, _, okN := scanInt(rest)
			if !ok || !okN {
				r.errorf(file, line, "invalid auth line %q: expected 'auth N', N the number of the key that signs", s)
				continue
			}
			if authLine != 0 {
				r.warnf(file, line, "auth is given again (first on line %d); Heartbeat uses this one from here on", authLine)
			}
			authnum, authLine = n, line
			continue
		}
		n, rest, ok := scanInt(s)
		method, rest := scanWord(rest)
		secret, _ := scanWord(rest)
		if !ok || method == "" {
			r.errorf(file, line, "invalid line %q: expected 'auth N' or 'N method [secret]'", s)
			continue
		}
		if n < 0 || n > wire.MaxKeyIndex {
			r.errorf(file, line, "key number %d is out of range: 0 to %d", n, wire.MaxKeyIndex)
			continue
		}
		if !wire.KnownMethod(method) {
			r.errorf(file, line, "key %d: unknown method %q (crc, md5, sha1 or sha256, in lower case)", n, method)
			broken = broken || n == authnum
			continue
		}
		switch {
		case method == wire.MethodCRC && secret != "":
			r.errorf(file, line, "key %d: crc doesn't use a secret; remove %q", n, secret)
			broken = broken || n == authnum
			continue
		case method != wire.MethodCRC && secret == "":
			r.errorf(file, line, "key %d: %s needs a secret after the method", n, method)
			broken = broken || n == authnum
			continue
		}
		if prev, dup := defined[n]; dup {
			r.warnf(file, line, "key %d is defined again (first on line %d); this definition replaces it", n, prev)
		}
		defined[n] = line
		kr.Keys[n] = wire.Key{Index: n, Method: method, Secret: []byte(secret)}
		if n == authnum {
			kr.Send = n
		}
	}
	switch {
	case authLine == 0:
		r.errorf(file, 0, "no 'auth N' line: say which key signs, as in 'auth 1'")
		return nil
	case kr.Send < 0 && defined[authnum] != 0:
		r.errorf(file, authLine, "auth %d comes after the definition of key %d (line %d); Heartbeat reads 'auth N' first", authnum, authnum, defined[authnum])
		return nil
	case kr.Send < 0 && broken:
		return nil
	case kr.Send < 0:
		r.errorf(file, authLine, "auth %d names a key that is not defined", authnum)
		return nil
	}
	k := kr.Keys[kr.Send]
	switch k.Method {
	case wire.MethodCRC:
		r.warnf(file, authLine, "key %d uses crc, which protects against corruption only: anyone on the network can forge heartbeats; use sha256 (or sha1 to talk to Heartbeat nodes)", k.Index)
	case wire.MethodMD5:
		r.notef(file, authLine, "key %d uses md5; sha256 is recommended between lubdub nodes (sha1 with Heartbeat nodes)", k.Index)
	}
	return kr
}

// scanInt reads a decimal integer as scanf's %d does: blanks, an optional
// sign, digits; it returns the rest of s.
func scanInt(s string) (n int, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t\f\v\r")
	i, neg := 0, false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<20 { // far beyond any key number; stops overflow
			n = n*10 + int(s[i]-'0')
		}
	}
	if i == start {
		return 0, s, false
	}
	if neg {
		n = -n
	}
	return n, s[i:], true
}

// scanWord reads a word as scanf's %s does: blanks, then up to the next
// blank.
func scanWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t\f\v\r")
	i := strings.IndexAny(s, " \t\f\v\r")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}
