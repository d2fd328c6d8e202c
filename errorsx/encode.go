package errorsx

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clipia/apiguard/internal/headerval"
)

const hexDigits = "0123456789abcdef"

// jsonSafe reports, for each ASCII byte, whether it goes into a JSON string
// as is: not a control character, quote, backslash, or one of <, > and &.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string, byte for byte as encoding/json
// (Go 1.22 and later) escapes it: quotes, backslashes, control characters,
// <, > and & (HTML-safe), U+2028 and U+2029, and each invalid UTF-8 byte
// replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// prefersProblem reports whether an Accept header explicitly prefers
// application/problem+json over application/json: problem+json is named with
// a q-value above zero and above the q-value that applies to application/json
// (from application/json, application/* or */*, the most specific winning).
// Ties go to the envelope.
func prefersProblem(accept string) bool {
	if !containsFold(accept, "problem+json") {
		return false
	}
	qProblem, qJSON := -1.0, -1.0
	jsonSpec := 0 // specificity of the range that set qJSON
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(p, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		switch mt {
		case "application/problem+json":
			if q > qProblem {
				qProblem = q
			}
		case "application/json":
			if jsonSpec < 3 || q > qJSON {
				qJSON, jsonSpec = q, 3
			}
		case "application/*":
			if jsonSpec < 2 || (jsonSpec == 2 && q > qJSON) {
				qJSON, jsonSpec = q, 2
			}
		case "*/*":
			if jsonSpec < 1 || (jsonSpec == 1 && q > qJSON) {
				qJSON, jsonSpec = q, 1
			}
		}
	}
	if qJSON < 0 {
		qJSON = 0
	}
	return qProblem > 0 && qProblem > qJSON
}

// containsFold reports whether s contains the lower-case ASCII substr,
// ignoring ASCII case (media types are case-insensitive).
func containsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}

// MaxRequestIDLen is the longest incoming X-Request-Id that is kept.
const MaxRequestIDLen = 128

// ValidRequestID reports whether an incoming request id is a sane token worth
// keeping: 1 to [MaxRequestIDLen] characters from A–Z, a–z, 0–9 and -_.:/+=@.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns a random UUIDv4 from math/rand/v2's generator
// (ChaCha8, seeded by the system, per thread): a request id must be unique,
// not secret, and reading crypto/rand cost more than the rest of the
// request id guard.
func newRequestID() []string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant RFC 9562
	var b [36]byte
	hex.Encode(b[:8], u[:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return headerval.One(b[:])
}

// RequestID returns the request id of a request: the X-Request-Id already
// on the response headers h, else the incoming X-Request-Id of req when
// [ValidRequestID] accepts it, else a new random UUID. The id is set on h,
// so every later call returns the same one. The request id middleware of
// each front door calls it first thing; the renderer calls it too, so an
// error carries an id even without the middleware.
func RequestID(h http.Header, req *http.Request) string {
	if id := first(h[keyRequestID]); id != "" {
		return id
	}
	if id := first(req.Header[keyRequestID]); ValidRequestID(id) {
		h[keyRequestID] = []string{id}
		return id
	}
	v := newRequestID()
	h[keyRequestID] = v
	return v[0]
}
