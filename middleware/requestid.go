package middleware

import (
	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v4"
)

// RequestID returns a middleware that gives every request an id before
// anything else runs: the incoming X-Request-Id when it is a sane token
// (errorsx.ValidRequestID), else a new random UUID. The id is set on the
// response's X-Request-Id header and read back with errorsx.RequestID(c).
// Install it first, so every log line and every response carries the id.
func RequestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			errorsx.RequestID(c)
			return next(c)
		}
	}
}
