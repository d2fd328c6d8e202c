package middleware

import (
	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v4"
)

// RecoverConfig configures [Recover]. The zero value is valid.
type RecoverConfig struct {
	// Skipper skips the middleware when it returns true. Nil runs it always.
	Skipper func(c echo.Context) bool

	// StackSize is the most bytes of stack kept for the log. Zero means
	// 8 KiB.
	StackSize int
}

// ErrPanic is the cause of the internal_error a recovered panic turns into;
// errors.Is(err, ErrPanic) tells a panic from other 500s.
var ErrPanic = frontdoor.ErrPanic

// Recover returns a middleware that turns a panic in the handlers after it
// into a returned 500 internal_error, which the renderer writes and logs
// like any other error: one record at level Error whose error names the
// panic value ([ErrPanic] is in the cause's chain) and whose "stack" holds
// the stack. Nothing of the panic reaches the client. http.ErrAbortHandler
// is re-panicked, as net/http expects, so an aborted response stays aborted.
//
// Recover returns an error when StackSize is negative.
func Recover(cfg RecoverConfig) (echo.MiddlewareFunc, error) {
	size, err := frontdoor.StackSize("apiguard", cfg.StackSize)
	if err != nil {
		return nil, err
	}
	cfg.StackSize = size // Echo v4 builds the chain per request: keep the closure small
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			if cfg.Skipper != nil && cfg.Skipper(c) {
				return next(c)
			}
			defer func() {
				if v := recover(); v != nil {
					err = frontdoor.Recovered(v, cfg.StackSize)
				}
			}()
			return next(c)
		}
	}, nil
}
