package idempotency

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Fingerprint returns the fingerprint of a request: the hex SHA-256 of its
// method, route, canonical query and body. Two requests with the same
// fingerprint ask for the same thing.
//
//   - The query is compared by its parsed parameters: the order of different
//     names does not matter, the order of one name's values does.
//   - A JSON body (Content-Type application/json, any +json type, or no
//     Content-Type at all) that is valid UTF-8 JSON is compared by meaning
//     through [CanonicalJSON]: object key order, whitespace, string escapes
//     and number spelling (1, 1.0, 1e0, 10e-1) do not matter.
//   - Any other body is compared byte for byte, together with its media type.
func Fingerprint(method, route, rawQuery, contentType string, body []byte) string {
	bp := fpPool.Get().(*[]byte)
	b := (*bp)[:0]
	// Every field is an 8-byte length and its bytes, so no two different
	// requests hash the same input.
	field := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	field("apiguard-idempotency-v1")
	field(method)
	field(route)
	field(canonicalQuery(rawQuery))
	mt := mediaType(contentType)
	done := false
	if mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json") {
		n := len(b)
		field("json")
		at := len(b)
		if c, ok := appendCanonicalJSON(append(b, 0, 0, 0, 0, 0, 0, 0, 0), body); ok {
			binary.BigEndian.PutUint64(c[at:], uint64(len(c)-at-8))
			b, done = c, true
		} else {
			b = b[:n]
		}
	}
	if !done {
		field("bytes")
		field(mt)
		b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
		b = append(b, body...)
	}
	sum := sha256.Sum256(b)
	if cap(b) <= 64<<10 {
		*bp = b
		fpPool.Put(bp)
	}
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

var fpPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return "raw:" + raw
	}
	return v.Encode()
}

// CanonicalJSON returns a canonical form of the JSON document b, and false
// when b is not one valid JSON value in valid UTF-8. Documents that mean the
// same to a JSON decoder have the same canonical form: object keys are
// sorted (a repeated key keeps its last value, as encoding/json does),
// insignificant whitespace is dropped, strings are re-escaped from their
// decoded value, and numbers are written exactly by their decimal value, so
// 1, 1.0, 1e0 and 10E-1 are equal and -0 equals 0. No precision is lost to
// floating point. The output is meant for hashing; it is valid JSON only
// where the input had no numbers.
func CanonicalJSON(b []byte) ([]byte, bool) {
	out, ok := appendCanonicalJSON(make([]byte, 0, len(b)), b)
	if !ok {
		return nil, false
	}
	return out, true
}

// appendCanonicalJSON appends the canonical form of b to dst.
func appendCanonicalJSON(dst, b []byte) ([]byte, bool) {
	if !utf8.Valid(b) {
		return dst, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return dst, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return dst, false
	}
	return appendCanonical(dst, v), true
}

func appendCanonical(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return appendNumber(b, string(v))
	case string:
		return strconv.AppendQuote(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, k)
			b = append(b, ':')
			b = appendCanonical(b, v[k])
		}
		return append(b, '}')
	}
	// Unreachable for what encoding/json decodes into.
	return append(b, '?')
}

// appendNumber appends the exact decimal value of the JSON number literal s
// as sign, significant digits without trailing zeros, "e", exponent; zero is
// "0". A literal whose exponent is too large to handle exactly is kept as
// written, prefixed by "n".
func appendNumber(b []byte, s string) []byte {
	lit := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	mant, expPart, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	exp := int64(0)
	if hasExp {
		e, err := strconv.ParseInt(strings.TrimPrefix(expPart, "+"), 10, 64)
		if err != nil || e > 1<<40 || e < -(1<<40) {
			return append(append(b, 'n'), lit...)
		}
		exp = e
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= int64(len(frac))
	if digits == "" {
		return append(b, '0')
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	if neg {
		b = append(b, '-')
	}
	b = append(b, trimmed...)
	b = append(b, 'e')
	return strconv.AppendInt(b, exp, 10)
}
