package nethttp_test

import (
	"net/http"
	"testing"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
	"github.com/clipia/apiguard/nethttp"
)

// BenchmarkIdempotency is the guard through the net/http front door.
func BenchmarkIdempotency(b *testing.B) {
	guardtest.Bench(b, func(cfg *idempotency.Config, h http.HandlerFunc) http.Handler {
		mux := http.NewServeMux()
		var handler http.Handler = h
		if cfg != nil {
			handler = nethttp.Must(nethttp.Idempotency(*cfg))(handler)
		}
		mux.Handle("POST /v1/generations", handler)
		return mux
	})
}
