package echo5

import (
	"net/http"

	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v5"
)

// DefaultMaxHeaderBytes is the default of [HeaderLimitConfig].MaxBytes:
// 16 KiB, more than any API client sends and far below net/http's own
// limit (http.DefaultMaxHeaderBytes, 1 MiB).
const DefaultMaxHeaderBytes = 16 << 10

// HeaderLimitConfig configures [HeaderLimit]. The zero value is valid.
type HeaderLimitConfig struct {
	// Skip skips the check when it returns true. Nil checks every request.
	Skip func(r *http.Request) bool

	// MaxBytes is the largest accepted size of the request line and header
	// fields together, counted as HTTP/1.1 sends them ("Name: value\r\n"
	// per value, Host included). Zero means [DefaultMaxHeaderBytes];
	// negative is an error.
	MaxBytes int
}

// HeaderLimit returns a middleware that answers 400 invalid_request when a
// request's header section is larger than cfg.MaxBytes. It returns an
// *errorsx.Error for the HTTPErrorHandler to render and never writes a
// response itself. Keep http.Server.MaxHeaderBytes well above MaxBytes
// (the default 1 MiB is): net/http answers a header section over its own
// limit with a plain-text 431, outside the error contract.
//
// The returned middleware is safe for concurrent use.
func HeaderLimit(cfg HeaderLimitConfig) (echo.MiddlewareFunc, error) {
	limit, err := frontdoor.NewHeaderLimit("echo5", cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if cfg.Skip == nil || !cfg.Skip(c.Request()) {
				if err := limit.Check(c.Request()); err != nil {
					return err
				}
			}
			return next(c)
		}
	}, nil
}
