package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/ratelimit"
)

// RateLimit returns the net/http rate-limiting middleware: it builds the
// limiter once with ratelimit.New(cfg) and returns its error for an invalid
// configuration (one wrapping ratelimit.ErrInvalidPolicy).
//
// For each request it calls [ratelimit.Limiter.Begin] with the route
// pattern (r.Pattern, else the path): the RateLimit-Policy and RateLimit
// headers are set on w, and a refusal (429 with Retry-After, 400 for a bad
// cost, 503 when failing closed) is written with [Error] instead of calling
// next. With cfg.DeferredCost the handler may charge more with
// ratelimit.AddCost(r.Context(), n), applied when it returns.
//
// The default caller key uses the direct TCP peer (r.RemoteAddr) as the
// client IP; behind a proxy, set cfg.ClientIP to a function that trusts
// only your proxies.
func RateLimit(cfg ratelimit.Config) (func(http.Handler) http.Handler, error) {
	l, err := ratelimit.New(cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, d, err := l.Begin(w, r, route(r))
			if err != nil {
				Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
			d.End()
		})
	}, nil
}
