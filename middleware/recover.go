package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"

	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v4"
)

// RecoverConfig configures [Recover]. The zero value is valid.
type RecoverConfig struct {
	// Skipper skips the middleware when it returns true. Nil runs it always.
	Skipper func(c echo.Context) bool

	// Logger receives the panic value and stack at level Error, with the
	// request id. Nil means slog.Default().
	Logger *slog.Logger

	// StackSize is the most bytes of stack logged. Default 8 KiB.
	StackSize int
}

// ErrPanic is the cause of the internal_error a recovered panic turns into;
// errors.Is(err, ErrPanic) tells a panic from other 500s.
var ErrPanic = errors.New("panic recovered")

// Recover returns a middleware that turns a panic in the handlers after it
// into a returned 500 internal_error, which the renderer writes like any
// other error. The panic value and the stack go to the log only.
// http.ErrAbortHandler is re-panicked, as net/http expects, so an aborted
// response stays aborted.
func Recover(cfg RecoverConfig) echo.MiddlewareFunc {
	if cfg.StackSize <= 0 {
		cfg.StackSize = 8 << 10
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			if cfg.Skipper != nil && cfg.Skipper(c) {
				return next(c)
			}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				stack := make([]byte, cfg.StackSize)
				stack = stack[:runtime.Stack(stack, false)]
				l := cfg.Logger
				if l == nil {
					l = slog.Default()
				}
				l.LogAttrs(c.Request().Context(), slog.LevelError, "panic recovered",
					slog.String("request_id", errorsx.RequestID(c)),
					slog.String("method", c.Request().Method),
					slog.String("route", c.Path()),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(stack)),
				)
				err = errorsx.Internal().WithCause(ErrPanic)
			}()
			return next(c)
		}
	}
}
