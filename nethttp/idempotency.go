package nethttp

import (
	"net/http"

	"github.com/clipia/apiguard/idempotency"
)

// Idempotency returns the net/http front door of the idempotency guard
// (idempotency.New, idempotency.Guard.Serve): a retried POST, PATCH, PUT or
// DELETE with the same Idempotency-Key runs the handler once and gets the
// first answer back. Install it after authentication and before
// validation:
//
//	idem := nethttp.Must(nethttp.Idempotency(idempotency.Config{Store: store}))
//	mux.Handle("POST /v1/generations", auth(idem(create)))
//
// The route of the record key is the ServeMux pattern (r.Pattern), else the
// path. Errors are written with [Error]. The handler gets the guard's
// writer and a request whose context is cancelled with cause
// idempotency.ErrLeaseLost when the claim is lost. It returns the errors
// of idempotency.New.
func Idempotency(cfg idempotency.Config) (func(http.Handler) http.Handler, error) {
	g, err := idempotency.New(cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		run := func(w http.ResponseWriter, r *http.Request) error {
			next.ServeHTTP(w, r)
			return nil
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := g.Serve(w, r, route(r), run, Error); err != nil {
				Error(w, r, err)
			}
		})
	}, nil
}
