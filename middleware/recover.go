package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"

	"github.com/clipia/apiguard/errorsx"
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
var ErrPanic = errors.New("panic recovered")

// Recover returns a middleware that turns a panic in the handlers after it
// into a returned 500 internal_error, which the renderer writes and logs
// like any other error: one record at level Error whose error names the
// panic value ([ErrPanic] is in the cause's chain) and whose "stack" holds
// the stack. Nothing of the panic reaches the client. http.ErrAbortHandler
// is re-panicked, as net/http expects, so an aborted response stays aborted.
//
// Recover returns an error when StackSize is negative.
func Recover(cfg RecoverConfig) (echo.MiddlewareFunc, error) {
	if cfg.StackSize < 0 {
		return nil, errors.New("apiguard: RecoverConfig.StackSize is negative")
	}
	if cfg.StackSize == 0 {
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
				err = errorsx.Internal().WithCause(&panicError{value: fmt.Sprint(v), stack: string(stack)})
			}()
			return next(c)
		}
	}, nil
}

// panicError is the cause of a recovered panic: the value for the log line,
// the stack for the renderer's "stack" attribute.
type panicError struct {
	value string
	stack string
}

func (p *panicError) Error() string { return ErrPanic.Error() + ": " + p.value }

// Unwrap returns ErrPanic.
func (p *panicError) Unwrap() error { return ErrPanic }

// Stack returns the stack of the panicking goroutine.
func (p *panicError) Stack() string { return p.stack }
