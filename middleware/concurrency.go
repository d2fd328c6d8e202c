package middleware

import (
	"github.com/clipia/apiguard/ratelimit"
	"github.com/labstack/echo/v4"
)

// ConcurrencyLimit returns the Echo v4 concurrency-limit middleware: at
// most cfg.Limit requests of one caller in flight at once. It builds the
// guard once with ratelimit.NewConcurrency(cfg) and returns its error for
// an invalid configuration (one wrapping ratelimit.ErrInvalidPolicy).
//
// For each request it first answers an unknown route 404 not_found (see
// [RouteMatched]; no slot is taken), then calls
// [ratelimit.Concurrency.Acquire] with the route pattern c.Path(): the
// RateLimit-Policy and RateLimit headers are added to the response, and a
// refusal (429 with Retry-After, 503 when failing closed) is returned for
// [ErrorHandler] to render; the handler does not run then. Otherwise the
// slot is released when the handler returns, also when it panics, before
// the error handler renders a returned error.
//
// The default caller key is the principal's tenant, else its key id, else
// the direct TCP peer. Echo's IPExtractor is not picked up on its own:
// behind a proxy, pass it as cfg.ClientIP (ClientIP: e.IPExtractor).
func ConcurrencyLimit(cfg ratelimit.ConcurrencyConfig) (echo.MiddlewareFunc, error) {
	l, err := ratelimit.NewConcurrency(cfg)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := unmatched(c); err != nil {
				return err
			}
			release, err := l.Acquire(c.Response(), c.Request(), c.Path())
			if err != nil {
				return err
			}
			defer release()
			return next(c)
		}
	}, nil
}
