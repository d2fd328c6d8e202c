package echo5

import (
	"github.com/clipia/apiguard/auth"
	"github.com/labstack/echo/v5"
)

// Scopes returns an Echo v5 middleware that lets a request through only
// when its principal ([PrincipalFrom]) holds every scope of cfg.All and at
// least one of cfg.Any ([auth.Scopes.Check]). Otherwise it returns 403
// insufficient_scope naming what is missing, or, without a principal, 401
// invalid_api_key caused by [auth.ErrNoPrincipal]. A request that matched
// no route is answered 404 not_found first ([RouteMatched]); one that
// cfg.Skip skips goes on unchecked.
//
// Scopes returns the error of [auth.NewScopes] for an invalid scope. The
// middleware is safe for concurrent use.
func Scopes(cfg auth.ScopeConfig) (echo.MiddlewareFunc, error) {
	sc, err := auth.NewScopes(cfg)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !RouteMatched(c) {
				return errAuthRouteNotFound
			}
			if err := sc.CheckRequest(c.Request()); err != nil {
				return err
			}
			return next(c)
		}
	}, nil
}

// RequireScopes returns a middleware that requires the principal to hold
// every one of scopes (all-of): [Scopes] with All set. With no scopes it
// requires only that a principal is present. It returns an error for an
// invalid scope.
func RequireScopes(scopes ...string) (echo.MiddlewareFunc, error) {
	return Scopes(auth.ScopeConfig{All: scopes})
}

// RequireAnyScope returns a middleware that requires the principal to hold
// at least one of scopes (any-of): [Scopes] with Any set. With no scopes it
// requires only a principal. It returns an error for an invalid scope.
func RequireAnyScope(scopes ...string) (echo.MiddlewareFunc, error) {
	return Scopes(auth.ScopeConfig{Any: scopes})
}
