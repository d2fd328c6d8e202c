// Package principal is the home of "who is calling": the authenticated
// caller of a request (its API key id, tenant, scopes and metadata), carried
// in the request's [context.Context] so that every front door (Echo v4,
// Echo v5, net/http) and every guard sees the same value.
//
// An authentication step writes it: apiguard's auth middleware, or an app's
// own authentication, calls [NewContext] and serves the rest of the request
// with the returned context (auth.Authenticator's guard does
// that). Everything after it reads it with [FromContext]: scope checks, the
// rate limiter (which keys on [Principal.KeyID]), the idempotency middleware
// (which scopes records to [Principal.Tenant]) and the app's handlers.
//
// A *Principal is shared, not copied: one key store hands the same value to
// every request of one key, and the context holds a pointer to it. Treat it
// as read-only; to change a caller, build a new Principal and put it into a
// new context.
//
// The package imports only the standard library, so any front door or
// guard can depend on it without depending on a web framework.
package principal

import (
	"context"
	"slices"
)

// Principal is the authenticated caller of a request.
//
// A Principal is shared by all requests of one key: treat it as read-only.
type Principal struct {
	// KeyID identifies the API key. It is not secret: it is logged and used
	// in rate-limit and idempotency keys. The key itself never leaves the
	// auth middleware.
	KeyID string

	// Tenant is the account the key belongs to. Idempotency records are
	// scoped to it, so two keys of one tenant share records.
	Tenant string

	// Scopes are the permissions the key grants, e.g. "generations:write".
	Scopes []string

	// Metadata is anything else the app attaches to a key.
	Metadata map[string]string
}

// HasScope reports whether p grants scope. A nil p grants nothing.
func (p *Principal) HasScope(scope string) bool {
	return p != nil && slices.Contains(p.Scopes, scope)
}

// contextKey is the type of the context key under which the principal is
// stored; being unexported, no other package can collide with it.
type contextKey struct{}

// NewContext returns a copy of ctx that carries p as the request's caller.
// A nil p is stored too; [FromContext] then reports no principal.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the caller that [NewContext] put into ctx, or nil and
// false when there is none (no authentication ran, or it stored nil). It
// does not allocate.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, _ := ctx.Value(contextKey{}).(*Principal)
	return p, p != nil
}

// ContextKey returns the key under which [NewContext] stores the principal
// and [FromContext] finds it, for code that builds a request's context its
// own way rather than with NewContext (apiguard's guards keep a request's
// values in one context). ctx.Value(ContextKey()) is a *Principal or nil.
func ContextKey() any { return contextKey{} }
