package idempotency

// The canonicaliser as it was before it validated the JSON itself (it
// relied on utf8.Valid and json.Valid, then trusted the grammar): the
// reference of FuzzCanonicalJSONReference.

import (
	"encoding/json"
	"slices"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// refCanonicaliser writes canonical JSON in two passes, so the work stays
// linear in the input however deep it nests: value parses the document
// into a tree of nodes whose scalars and keys are already canonical text,
// ordering each object's members as it completes; emit then writes the
// tree out. Its slices are scratch space kept between calls.
type refCanonicaliser struct {
	in    []byte
	pos   int
	lit   []byte // canonical text of the scalars and keys
	keys  []byte // decoded keys, for ordering
	nodes []node
	kids  []kid // the children of every array and object, each one's contiguous
	stack []kid // the children of the containers being parsed, innermost last
}

// appendJSON appends the canonical form of the JSON document in to dst.
func (c *refCanonicaliser) appendJSON(dst, in []byte) ([]byte, bool) {
	if !utf8.Valid(in) || !json.Valid(in) {
		return dst, false
	}
	c.in, c.pos = in, 0
	c.lit, c.keys, c.nodes, c.kids, c.stack = c.lit[:0], c.keys[:0], c.nodes[:0], c.kids[:0], c.stack[:0]
	root := c.value()
	c.in = nil
	return c.emit(dst, root), true
}

// emit appends the canonical form of nodes[n].
func (c *refCanonicaliser) emit(out []byte, n int) []byte {
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
func (c *refCanonicaliser) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\r', '\n':
			c.pos++
		default:
			return
		}
	}
}

// value parses the value at c.pos into nodes and returns its index. The
// input has been validated, so the parse trusts its grammar.
func (c *refCanonicaliser) value() int {
	c.skipSpace()
	switch ch := c.in[c.pos]; ch {
	case '[', '{':
		return c.container(ch)
	case '"':
		start := len(c.lit)
		c.lit = c.str(c.lit)
		return c.scalar(start)
	case 't':
		c.pos += 4
		start := len(c.lit)
		c.lit = append(c.lit, "true"...)
		return c.scalar(start)
	case 'f':
		c.pos += 5
		start := len(c.lit)
		c.lit = append(c.lit, "false"...)
		return c.scalar(start)
	case 'n':
		c.pos += 4
		start := len(c.lit)
		c.lit = append(c.lit, "null"...)
		return c.scalar(start)
	default: // a number: kept as written
		start := c.pos
		for c.pos < len(c.in) && refIsNumberByte(c.in[c.pos]) {
			c.pos++
		}
		at := len(c.lit)
		c.lit = append(c.lit, c.in[start:c.pos]...)
		return c.scalar(at)
	}
}

// scalar adds the node of the scalar written at lit[start:].
func (c *refCanonicaliser) scalar(start int) int {
	c.nodes = append(c.nodes, node{kind: 's', a: start, b: len(c.lit)})
	return len(c.nodes) - 1
}

// refIsNumberByte reports whether ch can be part of a JSON number.
func refIsNumberByte(ch byte) bool {
	return '0' <= ch && ch <= '9' || ch == '-' || ch == '+' || ch == '.' || ch == 'e' || ch == 'E'
}

// container parses the array or object at c.pos; an object's members are
// ordered by key.
func (c *refCanonicaliser) container(kind byte) int {
	n := len(c.nodes)
	c.nodes = append(c.nodes, node{kind: kind})
	c.pos++ // '[' or '{'
	closer := byte(']')
	if kind == '{' {
		closer = '}'
	}
	base := len(c.stack)
	c.skipSpace()
	if c.in[c.pos] == closer {
		c.pos++
	} else {
		for {
			var k kid
			if kind == '{' {
				c.skipSpace()
				k.qs = len(c.lit)
				c.lit = c.str(c.lit)
				k.qe, k.ks = len(c.lit), len(c.keys)
				c.keys = appendUnquoted(c.keys, c.lit[k.qs:k.qe])
				k.ke = len(c.keys)
				c.skipSpace()
				c.pos++ // ':'
			}
			k.node = c.value()
			c.stack = append(c.stack, k)
			c.skipSpace()
			ch := c.in[c.pos]
			c.pos++
			if ch == closer {
				break
			}
		}
	}
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
// between quotes, with only '"', '\\' and control characters escaped.
func (c *refCanonicaliser) str(out []byte) []byte {
	c.pos++ // opening quote
	out = append(out, '"')
	in := c.in
	for {
		// Copy the run of bytes that need no work at once.
		run := c.pos
		for c.pos < len(in) && in[c.pos] != '"' && in[c.pos] != '\\' {
			c.pos++
		}
		out = append(out, in[run:c.pos]...)
		if in[c.pos] == '"' {
			c.pos++
			return append(out, '"')
		}
		// An escape.
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
			r := hex4(in[c.pos:])
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
		default: // '"', '\\', '/'
			out = appendRune(out, rune(esc))
		}
	}
}
