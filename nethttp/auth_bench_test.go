package nethttp_test

import (
	"net/http"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/internal/authtest"
	"github.com/clipia/apiguard/nethttp"
)

// BenchmarkAuth is Auth + RequireScopes("models:read") over a
// MemoryKeyStore on a ServeMux: the counterpart of middleware's
// BenchmarkAuth/*/apiguard (Echo v4) and echo5's BenchmarkAuth. "reject"
// sends an unknown key.
func BenchmarkAuth(b *testing.B) {
	app := func() http.Handler {
		mux := http.NewServeMux()
		mux.Handle("GET /v1/models", nethttp.Must(nethttp.RequireScopes("models:read"))(
			http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })))
		return nethttp.Must(nethttp.Auth(auth.Config{Store: nethttp.Must(auth.NewMemoryKeyStore(authtest.Keys()))}))(mux)
	}
	b.Run("accept", func(b *testing.B) { authtest.Bench(b, app(), "Bearer sk_test_full", 200) })
	b.Run("reject", func(b *testing.B) { authtest.Bench(b, app(), "Bearer sk_test_nope", 401) })
}
