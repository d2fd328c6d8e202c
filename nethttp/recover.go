package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/internal/frontdoor"
)

// RecoverConfig configures [Recover] and [Config].Recover. The zero value
// is valid.
type RecoverConfig struct {
	// Skip skips the recovery when it returns true. Nil runs it always.
	Skip func(r *http.Request) bool

	// StackSize is the most bytes of stack kept for the log. Zero means
	// 8 KiB; negative is an error.
	StackSize int
}

// ErrPanic is the cause of the internal_error a recovered panic turns into;
// errors.Is(err, ErrPanic) tells a panic from other 500s. It is the same
// error as middleware.ErrPanic and echo5.ErrPanic.
var ErrPanic = frontdoor.ErrPanic

// Recover returns a middleware that turns a panic in the handlers after it
// into a 500 internal_error written with [Error]: one log record at level
// Error whose error names the panic value ([ErrPanic] is in the cause's
// chain) and whose "stack" holds the stack; nothing of the panic reaches
// the client. When the response was already written, the panic is only
// logged. http.ErrAbortHandler is re-panicked, as net/http expects.
// [Handler] recovers by itself; the middleware is for apps that do not use
// Handler, or to recover closer to the handler.
//
// Recover returns an error when StackSize is negative.
func Recover(cfg RecoverConfig) (func(http.Handler) http.Handler, error) {
	size, err := frontdoor.StackSize("nethttp", cfg.StackSize)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return wrap(next, func(w http.ResponseWriter, r *http.Request) {
			if cfg.Skip != nil && cfg.Skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			defer func() {
				if v := recover(); v != nil {
					Error(w, r, frontdoor.Recovered(v, size))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}, nil
}
