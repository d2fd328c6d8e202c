package echo5

import (
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/labstack/echo/v5"
)

// RateLimit returns the Echo v5 rate-limiting middleware: it builds the
// limiter once with ratelimit.New(cfg) and returns its error for an invalid
// configuration (one wrapping ratelimit.ErrInvalidPolicy).
//
// For each request it first answers an unknown route 404 not_found (see
// [RouteMatched]; no token is spent), then calls [ratelimit.Limiter.Begin]
// with the route pattern c.Path(): the RateLimit-Policy and RateLimit
// headers are set on the response, and a refusal (429 with Retry-After, 400
// for a bad cost, 503 when failing closed) is returned for [ErrorHandler] to
// render; the handler does not run then. With cfg.DeferredCost the
// handler may charge more with ratelimit.AddCost(c.Request().Context(), n),
// applied when it returns.
//
// The default caller key uses the direct TCP peer as the client IP. Echo's
// IPExtractor is not picked up on its own: behind a proxy, pass it as
// cfg.ClientIP (ClientIP: e.IPExtractor).
func RateLimit(cfg ratelimit.Config) (echo.MiddlewareFunc, error) {
	l, err := ratelimit.New(cfg)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !RouteMatched(c) {
				return errorsx.NotFound()
			}
			r, d, err := l.Begin(c.Response(), c.Request(), c.Path())
			if err != nil {
				return err
			}
			if d == nil {
				return next(c)
			}
			c.SetRequest(r)
			err = next(c)
			d.End()
			return err
		}
	}, nil
}
