package nethttp_test

import (
	"net/http"
	"testing"

	"github.com/clipia/apiguard/nethttp"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/doortest"
)

// rateLimitApp is the net/http app of the rate-limit suite: a ServeMux
// route behind nethttp.RateLimit; errors are written with nethttp.Error.
func rateLimitApp(_ testing.TB, cfg ratelimit.Config, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	mw, err := nethttp.RateLimit(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+doortest.Path, mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			nethttp.Error(w, r, err)
		}
	})))
	return mux, nil
}

func TestRateLimit(t *testing.T) { doortest.Run(t, rateLimitApp) }

func BenchmarkRateLimit(b *testing.B) { doortest.Bench(b, rateLimitApp) }
