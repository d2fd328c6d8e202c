package idempotency_test

import (
	"net/http"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
)

// BenchmarkGuard is the core through Guard.Serve on plain net/http, with
// the thinnest front door possible; the front doors have their own.
func BenchmarkGuard(b *testing.B) {
	guardtest.Bench(b, func(cfg *idempotency.Config, h http.HandlerFunc) http.Handler {
		mux := http.NewServeMux()
		if cfg == nil {
			mux.HandleFunc("POST /v1/generations", h)
			return mux
		}
		g, err := idempotency.New(*cfg)
		if err != nil {
			b.Fatal(err)
		}
		rd := errorsx.NewRenderer(errorsx.HandlerConfig{})
		next := func(w http.ResponseWriter, r *http.Request) error { h(w, r); return nil }
		render := func(w http.ResponseWriter, r *http.Request, err error) { rd.Write(w, r, r.Pattern, err) }
		mux.HandleFunc("POST /v1/generations", func(w http.ResponseWriter, r *http.Request) {
			if err := g.Serve(w, r, r.Pattern, next, render); err != nil {
				render(w, r, err)
			}
		})
		return mux
	})
}
