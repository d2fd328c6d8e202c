package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/principal"
)

// Auth returns a net/http middleware that authenticates every request by
// its API key with [auth.New](cfg) and serves the next handler with the
// key's [principal.Principal] in the request's context, where
// principal.FromContext(r.Context()), the scope checks, the rate limiter and
// the idempotency guard find it.
//
// A rejected key is written with [Error] as the 401 invalid_api_key of
// [auth.Authenticator.Authenticate] (see [auth.ErrRejected] for the logged
// reason), a store failure as 503; the next handler does not run. A request
// that cfg.Skip skips goes on without a principal.
//
// Auth returns the error of [auth.New]: Store is nil, MaxKeyLength is
// negative, or APIKeyHeader is not a valid header name or is
// "Authorization". The middleware is safe for concurrent use.
func Auth(cfg auth.Config) (func(http.Handler) http.Handler, error) {
	a, err := auth.New(cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.Authenticate(r)
			if err != nil {
				Error(w, r, err)
				return
			}
			if p != nil {
				r = r.WithContext(principal.NewContext(r.Context(), p))
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
