// Package headerval builds a header's value slice, []string{s}, in one
// allocation instead of two (the string's bytes and the slice), for the
// headers the guards set on every request (X-Request-Id, RateLimit).
package headerval

import "unsafe"

// inline is the longest value One keeps with its slice; longer values take
// the two allocations.
const inline = 48

// one is a header value slice and the bytes of its only string.
type one struct {
	s   [1]string
	buf [inline]byte
}

// One returns []string{string(b)}, a slice of one string holding a copy
// of b. The string's bytes live in the same allocation as the slice and are
// never written after One returns, so the string is immutable like any
// other; the allocation stays alive as long as the slice or the string is
// referenced.
func One(b []byte) []string {
	if len(b) == 0 || len(b) > inline {
		return []string{string(b)}
	}
	v := new(one)
	n := copy(v.buf[:], b)
	v.s[0] = unsafe.String(&v.buf[0], n)
	return v.s[:]
}
