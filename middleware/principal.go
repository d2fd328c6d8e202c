package middleware

import (
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// SetPrincipal stores p as the authenticated caller of c: it replaces the
// request of c with one whose context carries p ([principal.NewContext]),
// so every later middleware, guard and handler, whatever its front door,
// finds it with [principal.FromContext] or [PrincipalFrom]. The auth
// middleware calls it; apps with their own authentication call it so that
// scopes, rate limits and idempotency work the same.
func SetPrincipal(c echo.Context, p *principal.Principal) {
	r := c.Request()
	c.SetRequest(r.WithContext(principal.NewContext(r.Context(), p)))
}

// PrincipalFrom returns the authenticated caller of c, read from the
// request's context (it is principal.FromContext(c.Request().Context())),
// or nil and false when no auth middleware ran before.
func PrincipalFrom(c echo.Context) (*principal.Principal, bool) {
	return principal.FromContext(c.Request().Context())
}
