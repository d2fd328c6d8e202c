package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/auth"
)

// Scopes returns a net/http middleware that lets a request through only
// when its principal (principal.FromContext(r.Context())) holds every scope
// of cfg.All and at least one of cfg.Any ([auth.Scopes.Check]). Otherwise it
// writes with [Error] 403 insufficient_scope naming what is missing, or,
// without a principal, 401 invalid_api_key caused by [auth.ErrNoPrincipal].
// A request that cfg.Skip skips goes on unchecked.
//
// Scopes returns the error of [auth.NewScopes] for an invalid scope. The
// middleware is safe for concurrent use.
func Scopes(cfg auth.ScopeConfig) (func(http.Handler) http.Handler, error) {
	sc, err := auth.NewScopes(cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := sc.CheckRequest(r); err != nil {
				Error(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// RequireScopes returns a middleware that requires the principal to hold
// every one of scopes (all-of): [Scopes] with All set. With no scopes it
// requires only that a principal is present. It returns an error for an
// invalid scope:
//
//	mux.Handle("POST /v1/generations", nethttp.Must(nethttp.RequireScopes("generations:write"))(create))
func RequireScopes(scopes ...string) (func(http.Handler) http.Handler, error) {
	return Scopes(auth.ScopeConfig{All: scopes})
}

// RequireAnyScope returns a middleware that requires the principal to hold
// at least one of scopes (any-of): [Scopes] with Any set. With no scopes it
// requires only a principal. It returns an error for an invalid scope.
func RequireAnyScope(scopes ...string) (func(http.Handler) http.Handler, error) {
	return Scopes(auth.ScopeConfig{Any: scopes})
}
