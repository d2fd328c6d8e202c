package echo5

import (
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v5"
)

// PrincipalFrom returns the authenticated caller of c, read from the
// request's context (it is principal.FromContext(c.Request().Context())),
// or nil and false when no auth middleware ran before.
func PrincipalFrom(c *echo.Context) (*principal.Principal, bool) {
	return principal.FromContext(c.Request().Context())
}
