package idempotency

import (
	"encoding/binary"
	"net/http"
)

// flatHeader holds response headers in one pointer-free slice, as the
// guard captures them and the memory store keeps them (nothing for the
// garbage collector to scan): per header its name, the number of its
// values, then each value; lengths and counts are uvarints.
type flatHeader []byte

// appendFlat appends the headers of h named in names (canonical names; nil
// means all of h) to f.
func appendFlat(f flatHeader, h http.Header, names []string) flatHeader {
	if names != nil { // one allocation: the size first
		n := 0
		for _, k := range names {
			if vs := h[k]; len(vs) > 0 {
				n += uvarintLen(len(k)) + len(k) + uvarintLen(len(vs))
				for _, v := range vs {
					n += uvarintLen(len(v)) + len(v)
				}
			}
		}
		if n > cap(f)-len(f) {
			f = append(make(flatHeader, 0, len(f)+n), f...)
		}
	}
	if names == nil {
		for k, vs := range h {
			f = appendField(f, k, vs)
		}
		return f
	}
	for _, k := range names {
		if vs := h[k]; len(vs) > 0 {
			f = appendField(f, k, vs)
		}
	}
	return f
}

// appendField appends one header to b as flatHeader and
// Response.MarshalBinary both lay it out: its name, the number of its
// values, then each value; lengths and counts are uvarints.
func appendField(b []byte, k string, vs []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	b = binary.AppendUvarint(b, uint64(len(vs)))
	for _, v := range vs {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// uvarintLen is the length of n as a uvarint.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// flatBytes splits one length-prefixed string off f.
func flatBytes(f []byte) (s, rest []byte, ok bool) {
	n, m := binary.Uvarint(f)
	if m <= 0 || n > uint64(len(f)-m) {
		return nil, nil, false
	}
	return f[m : m+int(n)], f[m+int(n):], true
}

// walk calls fn with each header of f, its name as name returns it and its
// values in a new slice.
func (f flatHeader) walk(name func([]byte) string, fn func(k string, vs []string)) {
	for len(f) > 0 {
		k, rest, ok := flatBytes(f)
		if !ok {
			return
		}
		n, m := binary.Uvarint(rest)
		if m <= 0 || n > uint64(len(rest)) {
			return
		}
		rest = rest[m:]
		vs := make([]string, 0, n)
		for range n {
			var v []byte
			if v, rest, ok = flatBytes(rest); !ok {
				return
			}
			vs = append(vs, string(v))
		}
		fn(name(k), vs)
		f = rest
	}
}

// header returns f as an http.Header.
func (f flatHeader) header() http.Header {
	h := make(http.Header)
	f.walk(func(k []byte) string { return string(k) }, func(k string, vs []string) { h[k] = vs })
	return h
}
