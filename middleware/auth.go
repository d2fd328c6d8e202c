package middleware

import (
	"github.com/clipia/apiguard/auth"
	"github.com/labstack/echo/v4"
)

// Auth returns an Echo v4 middleware that authenticates every request by
// its API key with [auth.New](cfg) and puts the key's
// [principal.Principal] into the request's context ([SetPrincipal]), where
// [principal.FromContext], [PrincipalFrom], [RequireScopes], the rate
// limiter and the idempotency middleware find it.
//
// A request that matched no route is answered 404 not_found first
// ([RouteMatched]). A rejected key is returned as the 401 invalid_api_key of
// [auth.Authenticator.Authenticate] (see [auth.ErrRejected] for the logged
// reason), a store failure as 503; [ErrorHandler] renders them, with the
// challenge
//
//	WWW-Authenticate: Bearer realm="api"
//
// (`, error="invalid_token"` added when the request sent a key; the realm is
// errorsx.HandlerConfig.Realm). A request that cfg.Skip skips goes on
// without a principal.
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
		return func(c echo.Context) error {
			if err := unmatched(c); err != nil {
				return err
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
