package nethttp_test

import (
	"net/http"
	"testing"

	"github.com/clipia/apiguard/nethttp"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/concstoretest"
)

// concurrencyApp is the net/http app of the concurrency suite: a ServeMux
// route behind nethttp.ConcurrencyLimit; errors are written with
// nethttp.Error.
func concurrencyApp(_ testing.TB, cfg ratelimit.ConcurrencyConfig, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	mw, err := nethttp.ConcurrencyLimit(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+concstoretest.DoorPath, mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			nethttp.Error(w, r, err)
		}
	})))
	return mux, nil
}

func TestConcurrencyLimit(t *testing.T) { concstoretest.RunDoor(t, concurrencyApp) }
