package echo5

import (
	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v5"
)

// errAuthRouteNotFound is what the auth and scope guards return for a
// request that matched no route.
var errAuthRouteNotFound = errorsx.NotFound()

// Auth returns an Echo v5 middleware that authenticates every request by
// its API key with [auth.New](cfg) and puts the key's
// [principal.Principal] into the request's context ([SetPrincipal]), where
// [PrincipalFrom], principal.FromContext, the scope checks, the rate limiter
// and the idempotency guard find it.
//
// A request that matched no route is answered 404 not_found first
// ([RouteMatched]). A rejected key is returned as the 401 invalid_api_key of
// [auth.Authenticator.Authenticate] (see [auth.ErrRejected] for the logged
// reason), a store failure as 503; [ErrorHandler] renders them. A request
// that cfg.Skip skips goes on without a principal.
//
// Auth returns the error of [auth.New]: Store is nil, MaxKeyLength is
// negative, or APIKeyHeader is not a valid header name or is
// "Authorization". The middleware is safe for concurrent use.
func Auth(cfg auth.Config) (echo.MiddlewareFunc, error) {
	a, err := auth.New(cfg)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !RouteMatched(c) {
				return errAuthRouteNotFound
			}
			p, err := a.Authenticate(c.Request())
			if err != nil {
				return err
			}
			if p != nil {
				SetPrincipal(c, p)
			}
			return next(c)
		}
	}, nil
}

// SetPrincipal stores p as the authenticated caller of c: it replaces the
// request of c with one whose context carries p ([principal.NewContext]).
// [Auth] calls it; apps with their own authentication call it so that
// scopes, rate limits and idempotency work the same.
func SetPrincipal(c *echo.Context, p *principal.Principal) {
	r := c.Request()
	c.SetRequest(r.WithContext(principal.NewContext(r.Context(), p)))
}

// PrincipalFrom returns the authenticated caller of c, read from the
// request's context (principal.FromContext(c.Request().Context())), or nil
// and false when no authentication ran before.
func PrincipalFrom(c *echo.Context) (*principal.Principal, bool) {
	return principal.FromContext(c.Request().Context())
}
