package middleware

import (
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v4"
)

// RequestIDConfig configures [RequestID]. The zero value is valid.
type RequestIDConfig struct {
	// Skipper skips the middleware when it returns true; the renderer still
	// assigns an id to error responses. Nil runs it always.
	Skipper func(c echo.Context) bool

	// SendRequestID also sends the id as Request-Id on every response,
	// errors included, the header stripe-go reads. X-Request-Id is always
	// sent. This middleware is the one owner of the setting: the renderer
	// keeps the headers it finds on the response.
	SendRequestID bool
}

// RequestID returns a middleware that gives every request an id before
// anything else runs: the incoming X-Request-Id when it is a sane token
// (errorsx.ValidRequestID), else a new random UUID. The id is set on the
// response's X-Request-Id header (and Request-Id with
// [RequestIDConfig.SendRequestID]) and read back with errorsx.RequestID(c.Response().Header(), c.Request()).
// Install it first, so every log line and every response carries the id.
// It never returns a configuration error today; the error keeps the one
// constructor shape of this package.
func RequestID(cfg RequestIDConfig) (echo.MiddlewareFunc, error) {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper != nil && cfg.Skipper(c) {
				return next(c)
			}
			frontdoor.RequestID(c.Response().Header(), c.Request(), cfg.SendRequestID)
			return next(c)
		}
	}, nil
}
