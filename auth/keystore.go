package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/clipia/apiguard/principal"
)

// KeyStore resolves an API key to the [principal.Principal] it
// authenticates. [Authenticator.Authenticate] calls it once per request with
// the key exactly as the client sent it (scheme and surrounding whitespace
// removed, length and characters already checked).
//
// Lookup reports an unknown key with an error that matches [ErrKeyNotFound]
// and a revoked key with one that matches [ErrKeyRevoked] (errors.Is); for a
// revoked key it may also return the key's principal, so the authenticator can
// log which key id was used. Both answer 401 invalid_api_key. Any other error
// means the store itself failed (database down, context cancelled): the
// request answers 503 service_unavailable, never 401, so an outage never
// looks like a bad key to clients. A nil principal with a nil error is a bug
// in the store and answers 500.
//
// The key is a secret: an implementation must never log it, keep it in clear
// or put it into a returned error. It should compare keys in constant time
// or, as [MemoryKeyStore] does, only ever compare digests of them.
//
// The returned principal may be shared by all requests of one key; callers
// treat it as read-only. Implementations must be safe for concurrent use.
type KeyStore interface {
	Lookup(ctx context.Context, key string) (*principal.Principal, error)
}

// KeyStoreFunc adapts a function to a [KeyStore].
type KeyStoreFunc func(ctx context.Context, key string) (*principal.Principal, error)

// Lookup calls f(ctx, key).
func (f KeyStoreFunc) Lookup(ctx context.Context, key string) (*principal.Principal, error) {
	return f(ctx, key)
}

// Sentinel errors of [KeyStore.Lookup]. Match them with errors.Is.
var (
	// ErrKeyNotFound reports that no such key exists.
	ErrKeyNotFound = errors.New("apiguard: API key not found")
	// ErrKeyRevoked reports that the key exists but was revoked.
	ErrKeyRevoked = errors.New("apiguard: API key revoked")
)

// visibleASCII reports whether s is non-empty and only holds 0x21–0x7E.
func visibleASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validScope reports whether s is an RFC 6749 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScope(s string) bool {
	return visibleASCII(s) && !strings.ContainsAny(s, `"\`)
}
