package echo5

import (
	"net/http"

	"github.com/clipia/apiguard/internal/frontdoor"
	"github.com/labstack/echo/v5"
)

// RecoverConfig configures [Recover]. The zero value is valid.
type RecoverConfig struct {
	// Skip skips the middleware when it returns true. Nil runs it always.
	Skip func(r *http.Request) bool

	// StackSize is the most bytes of stack kept for the log. Zero means
	// 8 KiB; negative is an error.
	StackSize int
}

// ErrPanic is the cause of the internal_error a recovered panic turns into;
// errors.Is(err, ErrPanic) tells a panic from other 500s. It is the same
// error as middleware.ErrPanic and nethttp.ErrPanic.
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
	size, err := frontdoor.StackSize("echo5", cfg.StackSize)
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) (err error) {
			if cfg.Skip != nil && cfg.Skip(c.Request()) {
				return next(c)
			}
			defer func() {
				if v := recover(); v != nil {
					err = frontdoor.Recovered(v, size)
				}
			}()
			return next(c)
		}
	}, nil
}
