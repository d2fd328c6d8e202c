package middleware

import (
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v4"
)

// DefaultMaxHeaderBytes is the default of [HeaderLimitConfig].MaxBytes:
// 16 KiB, more than any API client sends and far below net/http's own
// limit (http.DefaultMaxHeaderBytes, 1 MiB).
const DefaultMaxHeaderBytes = 16 << 10

// HeaderLimitConfig configures [HeaderLimit]. The zero value is valid.
type HeaderLimitConfig struct {
	// Skipper skips the check when it returns true. Nil checks every
	// request.
	Skipper func(c echo.Context) bool

	// MaxBytes is the largest accepted size of the request line and header
	// fields together, counted as HTTP/1.1 sends them ("Name: value\r\n"
	// per value, Host included). Zero means [DefaultMaxHeaderBytes];
	// negative is an error.
	MaxBytes int
}

// HeaderLimit returns a middleware that answers 400 invalid_request when a
// request's header section is larger than cfg.MaxBytes. It returns an
// *errorsx.Error for the HTTPErrorHandler to render and never writes a
// response itself.
//
// Why a limit in the app when net/http has http.Server.MaxHeaderBytes:
// net/http answers a header section over its limit itself, with a plain-text
// 431 that is outside the error contract, before any handler runs. Keep
// MaxHeaderBytes well above MaxBytes (the default 1 MiB is) so that every
// header section the server accepts but the app refuses gets the JSON
// envelope, the request id and the rest of the contract's headers.
//
// The returned middleware is safe for concurrent use.
func HeaderLimit(cfg HeaderLimitConfig) (echo.MiddlewareFunc, error) {
	limit, err := frontdoor.NewHeaderLimit("middleware", cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper != nil && cfg.Skipper(c) {
				return next(c)
			}
			if err := limit.Check(c.Request()); err != nil {
				return err
			}
			return next(c)
		}
	}, nil
}
