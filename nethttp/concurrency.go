package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/ratelimit"
)

// ConcurrencyLimit returns the net/http concurrency-limit middleware: at
// most cfg.Limit requests of one caller in flight at once. It builds the
// guard once with ratelimit.NewConcurrency(cfg) and returns its error for
// an invalid configuration (one wrapping ratelimit.ErrInvalidPolicy).
//
// For each request it calls [ratelimit.Concurrency.Acquire] with the route
// pattern (r.Pattern, else the path): the RateLimit-Policy and RateLimit
// headers are added to w, and a refusal (429 with Retry-After, 503 when
// failing closed) is written with [Error] instead of calling next.
// Otherwise next runs and the slot is released when it returns, also when
// it panics.
//
// The default caller key is the principal's tenant, else its key id, else
// the direct TCP peer (r.RemoteAddr); behind a proxy, set cfg.ClientIP to a
// function that trusts only your proxies.
func ConcurrencyLimit(cfg ratelimit.ConcurrencyConfig) (func(http.Handler) http.Handler, error) {
	c, err := ratelimit.NewConcurrency(cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			release, err := c.Acquire(w, r, route(r))
			if err != nil {
				Error(w, r, err)
				return
			}
			defer release()
			next.ServeHTTP(w, r)
		})
	}, nil
}
