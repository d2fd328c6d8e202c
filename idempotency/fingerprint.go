package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"mime"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Fingerprint returns the fingerprint of a request: the hex SHA-256 of its
// method, route, canonical query, media type and body. Two requests with
// the same fingerprint ask for the same thing, read the same way; when in
// doubt, two requests get different fingerprints, so a retry that changed
// anything is refused with 409 rather than answered with another request's
// response.
//
//   - The query is compared by its parsed parameters: the order of different
//     names does not matter, the order of one name's values does.
//   - The Content-Type is compared as a media type: type, subtype and
//     parameter names in any case, parameters in any order, charset values
//     in any case. On a JSON type, charset=utf-8 (or utf8) is the same as no
//     charset, as JSON is UTF-8 and binders read both alike. A missing
//     Content-Type and an unparsable one (compared as written) differ from
//     every valid one.
//   - A body whose media type is JSON (application/json or any +json type)
//     and that is valid UTF-8 JSON is compared through [CanonicalJSON]:
//     object key order, whitespace and string escapes do not matter, number
//     spelling does (5, 5.0 and 5e0 are three requests).
//   - Any other body is compared byte for byte.
//
// A handler that reads a JSON body's raw bytes (json.RawMessage, its own
// UnmarshalJSON) sees what the fingerprint ignores: key order, whitespace
// and string escapes.
func Fingerprint(method, route, rawQuery, contentType string, body []byte) string {
	out := fingerprint(method, route, rawQuery, contentType, body)
	return string(out[:])
}

// fingerprint is Fingerprint as an array, for a caller that puts it into a
// string of its own.
func fingerprint(method, route, rawQuery, contentType string, body []byte) [2 * sha256.Size]byte {
	fb := fpPool.Get().(*fpBuf)
	b := fb.b[:0]
	// Every field is an 8-byte length and its bytes, so no two different
	// requests hash the same input.
	field := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	field("apiguard-idempotency-v2")
	field(method)
	field(route)
	field(canonicalQuery(rawQuery))
	var isJSON bool
	b, isJSON = appendMediaType(b, contentType)
	done := false
	if isJSON {
		n := len(b)
		field("json")
		at := len(b)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
		if c, ok := fb.c.appendJSON(b, body); ok {
			binary.BigEndian.PutUint64(c[at:], uint64(len(c)-at-8))
			b, done = c, true
		} else {
			b = b[:n]
		}
	}
	if !done {
		field("bytes")
		b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
		b = append(b, body...)
	}
	sum := sha256.Sum256(b)
	fb.b = b
	fb.put()
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return out
}

// fpBuf is the pooled scratch space of one Fingerprint call.
type fpBuf struct {
	b []byte
	c canonicaliser
}

// maxPooled is the largest buffer kept in the pool, so one big body does
// not pin memory.
const maxPooled = 64 << 10

func (f *fpBuf) put() {
	c := &f.c
	if cap(f.b) > maxPooled || cap(c.lit) > maxPooled || cap(c.keys) > maxPooled ||
		cap(c.nodes) > maxPooled/16 || cap(c.kids) > maxPooled/16 || cap(c.stack) > maxPooled/16 {
		return
	}
	fpPool.Put(f)
}

var fpPool = sync.Pool{New: func() any { return &fpBuf{b: make([]byte, 0, 1024)} }}

// appendMediaType appends the normalised media type of the Content-Type
// value ct as fields, and reports whether it is a JSON type.
func appendMediaType(b []byte, ct string) ([]byte, bool) {
	field := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	ct = strings.TrimSpace(ct)
	switch ct {
	case "":
		field("none")
		return b, false
	case "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8":
		// The common cases, without a parse.
		field("type")
		field("application/json")
		b = binary.BigEndian.AppendUint64(b, 0)
		return b, true
	}
	if isPlainMediaType(ct) {
		// What mime.ParseMediaType would return, without its map.
		field("type")
		field(ct)
		b = binary.BigEndian.AppendUint64(b, 0)
		return b, ct == "application/json" || strings.HasSuffix(ct, "+json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		field("raw")
		field(ct)
		return b, false
	}
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if cs, ok := params["charset"]; ok {
		if isJSON && (strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")) {
			delete(params, "charset")
		} else {
			params["charset"] = strings.ToLower(cs)
		}
	}
	field("type")
	field(mt)
	b = binary.BigEndian.AppendUint64(b, uint64(len(params)))
	if len(params) > 0 {
		names := make([]string, 0, len(params))
		for k := range params {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			field(k)
			field(params[k])
		}
	}
	return b, isJSON
}

// isPlainMediaType reports whether ct is a lower-case type/subtype with no
// parameters: a value mime.ParseMediaType returns unchanged.
func isPlainMediaType(ct string) bool {
	slash := -1
	for i := 0; i < len(ct); i++ {
		switch ch := ct[i]; {
		case ch == '/':
			if slash >= 0 {
				return false
			}
			slash = i
		case 'A' <= ch && ch <= 'Z', ch <= ' ', ch >= 0x7f, strings.IndexByte(`()<>@,;:\"[]?=`, ch) >= 0:
			return false
		}
	}
	return slash > 0 && slash < len(ct)-1
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

// CanonicalJSON returns the canonical form of the JSON document b, and false
// when b is not one valid JSON value in valid UTF-8. Two documents have the
// same canonical form only when encoding/json reads them the same way into
// any Go value that does not keep raw bytes (json.RawMessage, its own
// UnmarshalJSON):
//
//   - insignificant whitespace is dropped;
//   - strings are re-escaped from their decoded value (as encoding/json
//     decodes it, a lone surrogate escape being U+FFFD), so "é" and "\u00e9"
//     are equal;
//   - numbers are kept exactly as written: 5, 5.0 and 5e0 differ, since a
//     decoder into an int accepts only the first;
//   - object members are ordered by key, keys compared the way
//     encoding/json matches them to struct fields (case-insensitively);
//     members whose keys match alike keep their order, as the last one wins,
//     and a repeated key keeps every value, as decoders differ on what a
//     repetition means (encoding/json merges repeated objects).
//
// The canonical form is itself valid JSON, and its canonical form is
// itself.
func CanonicalJSON(b []byte) ([]byte, bool) {
	var c canonicaliser
	out, ok := c.appendJSON(make([]byte, 0, len(b)), b)
	if !ok {
		return nil, false
	}
	return out, true
}

// canonicaliser writes canonical JSON in two passes, so the work stays
// linear in the input however deep it nests: value parses the document,
// checking its grammar, into a tree of nodes whose scalars and keys are
// already canonical text, ordering each object's members as it completes;
// emit then writes the tree out. Its slices are scratch space kept between
// calls.
type canonicaliser struct {
	in    []byte
	pos   int
	lit   []byte // canonical text of the scalars and keys
	keys  []byte // decoded keys, for ordering
	nodes []node
	kids  []kid // the children of every array and object, each one's contiguous
	stack []kid // the children of the containers being parsed, innermost last
	depth int   // of the containers being parsed
}

// node is one JSON value: a scalar is lit[a:b], an array or object has the
// children kids[a:b].
type node struct {
	kind byte // 's', '[' or '{'
	a, b int
}

// kid is a child of an array or object: nodes[node]; an object member's
// key is lit[qs:qe] as canonical text and keys[ks:ke] decoded.
type kid struct {
	node           int
	qs, qe, ks, ke int
}

// appendJSON appends the canonical form of the JSON document in to dst,
// and reports whether in is one valid JSON value in valid UTF-8 (as
// utf8.Valid and json.Valid), in one pass: the parse checks the grammar as
// it goes.
func (c *canonicaliser) appendJSON(dst, in []byte) ([]byte, bool) {
	if !utf8.Valid(in) {
		return dst, false
	}
	c.in, c.pos, c.depth = in, 0, 0
	c.lit, c.keys, c.nodes, c.kids, c.stack = c.lit[:0], c.keys[:0], c.nodes[:0], c.kids[:0], c.stack[:0]
	root := c.value()
	if root >= 0 {
		c.skipSpace()
		if c.pos != len(in) {
			root = -1
		}
	}
	c.in = nil
	if root < 0 {
		return dst, false
	}
	return c.emit(dst, root), true
}

// emit appends the canonical form of nodes[n].
func (c *canonicaliser) emit(out []byte, n int) []byte {
	nd := c.nodes[n]
	switch nd.kind {
	case '[':
		out = append(out, '[')
		for i, k := range c.kids[nd.a:nd.b] {
			if i > 0 {
				out = append(out, ',')
			}
			out = c.emit(out, k.node)
		}
		return append(out, ']')
	case '{':
		out = append(out, '{')
		for i, k := range c.kids[nd.a:nd.b] {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, c.lit[k.qs:k.qe]...)
			out = append(out, ':')
			out = c.emit(out, k.node)
		}
		return append(out, '}')
	}
	return append(out, c.lit[nd.a:nd.b]...)
}

// skipSpace moves past insignificant whitespace.
func (c *canonicaliser) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\r', '\n':
			c.pos++
		default:
			return
		}
	}
}

// maxDepth is the deepest nesting of arrays and objects json.Valid
// accepts.
const maxDepth = 10000

// value parses the value at c.pos into nodes and returns its index, or -1
// when the input is not valid JSON there.
func (c *canonicaliser) value() int {
	c.skipSpace()
	if c.pos >= len(c.in) {
		return -1
	}
	switch ch := c.in[c.pos]; ch {
	case '[', '{':
		return c.container(ch)
	case '"':
		start := len(c.lit)
		var ok bool
		if c.lit, ok = c.str(c.lit); !ok {
			return -1
		}
		return c.scalar(start)
	case 't':
		return c.literal("true")
	case 'f':
		return c.literal("false")
	case 'n':
		return c.literal("null")
	default: // a number: kept as written
		start := c.pos
		if !c.number() {
			return -1
		}
		at := len(c.lit)
		c.lit = append(c.lit, c.in[start:c.pos]...)
		return c.scalar(at)
	}
}

// literal parses the literal word at c.pos.
func (c *canonicaliser) literal(word string) int {
	if len(c.in)-c.pos < len(word) || string(c.in[c.pos:c.pos+len(word)]) != word {
		return -1
	}
	c.pos += len(word)
	start := len(c.lit)
	c.lit = append(c.lit, word...)
	return c.scalar(start)
}

// number moves past the number at c.pos, and reports whether it is one:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *canonicaliser) number() bool {
	in, p := c.in, c.pos
	if p < len(in) && in[p] == '-' {
		p++
	}
	switch {
	case p >= len(in):
		return false
	case in[p] == '0':
		p++
	case '1' <= in[p] && in[p] <= '9':
		p = digits(in, p)
	default:
		return false
	}
	if p < len(in) && in[p] == '.' {
		q := digits(in, p+1)
		if q == p+1 {
			return false
		}
		p = q
	}
	if p < len(in) && (in[p] == 'e' || in[p] == 'E') {
		p++
		if p < len(in) && (in[p] == '+' || in[p] == '-') {
			p++
		}
		q := digits(in, p)
		if q == p {
			return false
		}
		p = q
	}
	c.pos = p
	return true
}

// digits returns the index of the first byte from p on that is not a
// decimal digit.
func digits(in []byte, p int) int {
	for p < len(in) && '0' <= in[p] && in[p] <= '9' {
		p++
	}
	return p
}

// scalar adds the node of the scalar written at lit[start:].
func (c *canonicaliser) scalar(start int) int {
	c.nodes = append(c.nodes, node{kind: 's', a: start, b: len(c.lit)})
	return len(c.nodes) - 1
}

// container parses the array or object at c.pos, or returns -1 when it is
// not valid; an object's members are ordered by key.
func (c *canonicaliser) container(kind byte) int {
	if c.depth++; c.depth > maxDepth {
		return -1
	}
	n := len(c.nodes)
	c.nodes = append(c.nodes, node{kind: kind})
	c.pos++ // '[' or '{'
	closer := byte(']')
	if kind == '{' {
		closer = '}'
	}
	base := len(c.stack)
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == closer {
		c.pos++
	} else {
		for {
			var k kid
			if kind == '{' {
				c.skipSpace()
				if c.pos >= len(c.in) || c.in[c.pos] != '"' {
					return -1
				}
				k.qs = len(c.lit)
				var ok bool
				if c.lit, ok = c.str(c.lit); !ok {
					return -1
				}
				k.qe, k.ks = len(c.lit), len(c.keys)
				c.keys = appendUnquoted(c.keys, c.lit[k.qs:k.qe])
				k.ke = len(c.keys)
				c.skipSpace()
				if c.pos >= len(c.in) || c.in[c.pos] != ':' {
					return -1
				}
				c.pos++
			}
			if k.node = c.value(); k.node < 0 {
				return -1
			}
			c.stack = append(c.stack, k)
			c.skipSpace()
			if c.pos >= len(c.in) {
				return -1
			}
			ch := c.in[c.pos]
			c.pos++
			if ch == closer {
				break
			}
			if ch != ',' {
				return -1
			}
		}
	}
	c.depth--
	ks := c.stack[base:]
	if kind == '{' && len(ks) > 1 {
		cmp := func(a, b kid) int { return foldCompare(c.keys[a.ks:a.ke], c.keys[b.ks:b.ke]) }
		if !slices.IsSortedFunc(ks, cmp) {
			slices.SortStableFunc(ks, cmp)
		}
	}
	c.nodes[n].a = len(c.kids)
	c.kids = append(c.kids, ks...)
	c.nodes[n].b = len(c.kids)
	c.stack = c.stack[:base]
	return n
}

// str appends the canonical form of the string at c.pos: its decoded value
// between quotes, with only '"', '\\' and control characters escaped. It
// reports false when the string is not valid JSON.
func (c *canonicaliser) str(out []byte) ([]byte, bool) {
	c.pos++ // opening quote
	out = append(out, '"')
	in := c.in
	for {
		// Copy the run of bytes that need no work at once.
		run := c.pos
		for c.pos < len(in) && in[c.pos] != '"' && in[c.pos] != '\\' && in[c.pos] >= 0x20 {
			c.pos++
		}
		out = append(out, in[run:c.pos]...)
		if c.pos >= len(in) || in[c.pos] < 0x20 {
			return out, false
		}
		if in[c.pos] == '"' {
			c.pos++
			return append(out, '"'), true
		}
		// An escape.
		if c.pos+1 >= len(in) {
			return out, false
		}
		esc := in[c.pos+1]
		c.pos += 2
		switch esc {
		case 'b':
			out = appendRune(out, '\b')
		case 'f':
			out = appendRune(out, '\f')
		case 'n':
			out = appendRune(out, '\n')
		case 'r':
			out = appendRune(out, '\r')
		case 't':
			out = appendRune(out, '\t')
		case 'u':
			if len(in)-c.pos < 4 {
				return out, false
			}
			r := hex4(in[c.pos:])
			if r < 0 {
				return out, false
			}
			c.pos += 4
			if utf16.IsSurrogate(r) {
				// As encoding/json: a valid pair is one rune, anything
				// else is U+FFFD and the next escape stands alone.
				r2 := rune(-1)
				if c.pos+6 <= len(in) && in[c.pos] == '\\' && in[c.pos+1] == 'u' {
					r2 = hex4(in[c.pos+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != unicode.ReplacementChar {
					r = d
					c.pos += 6
				} else {
					r = unicode.ReplacementChar
				}
			}
			out = appendRune(out, r)
		case '"', '\\', '/':
			out = appendRune(out, rune(esc))
		default:
			return out, false
		}
	}
}

// appendRune appends r as it is written inside a canonical string.
func appendRune(out []byte, r rune) []byte {
	switch {
	case r == '"' || r == '\\':
		return append(out, '\\', byte(r))
	case r < 0x20:
		const hexDigits = "0123456789abcdef"
		return append(out, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
	}
	return utf8.AppendRune(out, r)
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) rune {
	var r rune
	for _, ch := range b[:4] {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'a' <= ch && ch <= 'f':
			ch = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			ch = ch - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(ch)
	}
	return r
}

// appendUnquoted appends the decoded value of the canonical string q.
func appendUnquoted(dst, q []byte) []byte {
	q = q[1 : len(q)-1]
	for len(q) > 0 {
		i := 0
		for i < len(q) && q[i] != '\\' {
			i++
		}
		dst = append(dst, q[:i]...)
		if i == len(q) {
			break
		}
		if q[i+1] == 'u' { // \u00XX: a control character
			dst = append(dst, byte(hex4(q[i+2:])))
			q = q[i+6:]
			continue
		}
		dst = append(dst, q[i+1]) // \" or \\
		q = q[i+2:]
	}
	return dst
}

// foldCompare orders a and b by the case folding encoding/json uses to
// match keys to struct fields: 0 exactly when it would match them alike.
func foldCompare(a, b []byte) int {
	for len(a) > 0 && len(b) > 0 {
		ra, na := foldNext(a)
		rb, nb := foldNext(b)
		if ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case len(a) > 0:
		return 1
	case len(b) > 0:
		return -1
	}
	return 0
}

// foldNext returns the folded first rune of b and its length.
func foldNext(b []byte) (rune, int) {
	if ch := b[0]; ch < utf8.RuneSelf {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		return rune(ch), 1
	}
	r, n := utf8.DecodeRune(b)
	// The smallest rune of its fold orbit, as encoding/json's foldName.
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2, n
		}
		r = r2
	}
}
