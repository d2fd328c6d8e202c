package idempotency

import "strings"

// HeaderIdempotencyKey is the request header that carries the client's key.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderIdempotentReplayed is set to "true" on a replayed response.
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// MaxKeyLen is the longest Idempotency-Key accepted, in bytes.
const MaxKeyLen = 255

// keyError is a problem with the Idempotency-Key header; its text is the
// message sent to the client.
type keyError string

func (e keyError) Error() string { return string(e) }

const (
	errKeyEmpty    keyError = "Idempotency-Key must not be empty"
	errKeyTooLong  keyError = "Idempotency-Key must be at most 255 characters long"
	errKeyChars    keyError = "Idempotency-Key must contain only printable ASCII characters"
	errKeyQuoting  keyError = "Idempotency-Key is not a valid quoted string"
	errKeyMultiple keyError = "Idempotency-Key must be sent only once"
	errKeyMissing  keyError = "Idempotency-Key header is required"
)

// ParseKey parses the value of an Idempotency-Key header. Both forms of the
// IETF draft are accepted: a bare token such as
//
//	Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324
//
// and the RFC 8941 Structured-Field string, in double quotes with \" and \\
// as the only escapes:
//
//	Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"
//
// Both name the same key. Surrounding spaces and tabs are ignored. The key
// itself must be 1 to [MaxKeyLen] printable ASCII characters (0x20–0x7E);
// anything else is an error whose text is fit to show to the client.
func ParseKey(v string) (string, error) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return "", errKeyEmpty
	}
	if v[0] != '"' {
		if len(v) > MaxKeyLen {
			return "", errKeyTooLong
		}
		if !printable(v) {
			return "", errKeyChars
		}
		return v, nil
	}
	// RFC 8941 §4.2.5: sf-string.
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i >= len(v) || (v[i] != '"' && v[i] != '\\') {
				return "", errKeyQuoting
			}
			b.WriteByte(v[i])
		case c == '"':
			if i != len(v)-1 {
				return "", errKeyQuoting
			}
			k := b.String()
			switch {
			case k == "":
				return "", errKeyEmpty
			case len(k) > MaxKeyLen:
				return "", errKeyTooLong
			}
			return k, nil
		case c < 0x20 || c > 0x7e:
			return "", errKeyChars
		default:
			b.WriteByte(c)
		}
		if b.Len() > MaxKeyLen {
			return "", errKeyTooLong
		}
	}
	return "", errKeyQuoting // no closing quote
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
