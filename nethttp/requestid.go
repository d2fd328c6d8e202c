package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/internal/frontdoor"
)

// RequestIDConfig configures [RequestID] and [Config].RequestID. The zero
// value is valid.
type RequestIDConfig struct {
	// Skip skips the request id when it returns true; the renderer still
	// assigns an id to error responses. Nil runs it always.
	Skip func(r *http.Request) bool

	// SendRequestID also sends the id as Request-Id on every response,
	// errors included, the header stripe-go reads. X-Request-Id is always
	// sent.
	SendRequestID bool
}

// RequestID returns a middleware that gives every request an id before
// anything else runs: the incoming X-Request-Id when it is a sane token
// (errorsx.ValidRequestID), else a new random UUID, set on the response's
// X-Request-Id header (and Request-Id with [RequestIDConfig.SendRequestID])
// and read back with errorsx.RequestID(w.Header(), r). [Handler] does this
// itself; the middleware is for apps that do not use Handler. It never
// returns a configuration error today.
func RequestID(cfg RequestIDConfig) (func(http.Handler) http.Handler, error) {
	return func(next http.Handler) http.Handler {
		return wrap(next, func(w http.ResponseWriter, r *http.Request) {
			if cfg.Skip == nil || !cfg.Skip(r) {
				frontdoor.RequestID(w.Header(), r, cfg.SendRequestID)
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
