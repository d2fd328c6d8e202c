package errorsx

import "unicode/utf8"

// The bounds on client input echoed in an error. Every message and param
// goes through them, whoever set it (a guard, the binder, a handler, [From]),
// so that an error rendered, logged, stored and replayed by the idempotency
// guard is always small, whatever the client sent.
const (
	// MaxEcho is the most characters (runes) of a param, and of each word
	// of a message: a longer one is cut to its first MaxEcho characters
	// followed by "…". Client input echoed in a message (an unknown field's
	// name, a model id) is such a word.
	MaxEcho = 64

	// MaxMessage is the most characters (runes) of a message: a longer one
	// is cut to its first MaxMessage characters followed by "…". Messages
	// written by an application are far shorter; the bound only catches
	// client input with spaces in it.
	MaxMessage = 512
)

// ellipsis marks where an echo was cut.
const ellipsis = "…"

// clipParam returns p cut to [MaxEcho] characters plus "…".
func clipParam(p string) string {
	if len(p) <= MaxEcho {
		return p // fast path: at most MaxEcho bytes, so at most MaxEcho runes
	}
	n := 0
	for i := range p {
		if n == MaxEcho {
			return p[:i] + ellipsis
		}
		n++
	}
	return p
}

// isSpace reports whether r separates the words of a message.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x85, 0xA0:
		return true
	}
	return false
}

// clipMessage returns m with each word longer than [MaxEcho] characters cut
// to MaxEcho plus "…", and the whole cut to [MaxMessage] plus "…". A message
// within both bounds is returned as is, without allocating.
func clipMessage(m string) string {
	if len(m) <= MaxEcho || !messageNeedsClip(m) {
		return m
	}
	b := make([]byte, 0, min(len(m), 4*MaxMessage)+len(ellipsis))
	total, word := 0, 0
	for i := 0; i < len(m); {
		r, size := utf8.DecodeRuneInString(m[i:])
		if total == MaxMessage {
			return string(append(b, ellipsis...))
		}
		if isSpace(r) {
			word = 0
		} else {
			word++
			if word > MaxEcho {
				if word == MaxEcho+1 {
					b = append(b, ellipsis...)
					total++
				}
				i += size
				continue
			}
		}
		b = append(b, m[i:i+size]...)
		total++
		i += size
	}
	return string(b)
}

// messageNeedsClip reports whether m has a word longer than [MaxEcho]
// characters or is longer than [MaxMessage].
func messageNeedsClip(m string) bool {
	total, word := 0, 0
	for _, r := range m {
		total++
		if total > MaxMessage {
			return true
		}
		if isSpace(r) {
			word = 0
			continue
		}
		word++
		if word > MaxEcho {
			return true
		}
	}
	return false
}
