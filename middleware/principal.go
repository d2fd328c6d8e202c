package middleware

import (
	"slices"

	"github.com/labstack/echo/v4"
)

// Principal is the authenticated caller of a request, put into the request
// context by the auth middleware (or by an app's own authentication through
// [SetPrincipal]). The rate limiter and the idempotency middleware key on it.
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

// HasScope reports whether p grants scope.
func (p *Principal) HasScope(scope string) bool {
	return p != nil && slices.Contains(p.Scopes, scope)
}

// principalKey is the echo.Context key under which the principal is stored.
const principalKey = "github.com/clipia/apiguard/middleware.principal"

// SetPrincipal stores p as the authenticated caller of c. The auth
// middleware calls it; apps with their own authentication call it so that
// scopes, rate limits and idempotency work the same.
func SetPrincipal(c echo.Context, p *Principal) { c.Set(principalKey, p) }

// PrincipalFrom returns the authenticated caller of c, or nil and false when
// no auth middleware ran before.
func PrincipalFrom(c echo.Context) (*Principal, bool) {
	p, ok := c.Get(principalKey).(*Principal)
	return p, ok && p != nil
}
