package nethttp_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/nethttp"
	"github.com/clipia/apiguard/principal"
)

// idemApp is the net/http app of the guardtest suite: a ServeMux whose
// routes are wrapped in the test auth and the guard, behind a request id
// and a recover.
func idemApp(t *testing.T, cfg idempotency.Config, h guardtest.Handler) http.Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	idem, err := nethttp.Idempotency(cfg)
	if err != nil {
		t.Fatalf("Idempotency: %v", err)
	}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tenant := r.Header.Get("X-Test-Tenant"); tenant != "" {
				r = r.WithContext(principal.NewContext(r.Context(), &principal.Principal{KeyID: "key_" + tenant, Tenant: tenant}))
			}
			next.ServeHTTP(w, r)
		})
	}
	handler := auth(idem(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			nethttp.Error(w, r, err)
		}
	})))
	mux := http.NewServeMux()
	for _, p := range []string{"POST /v1/generations", "POST /v1/other", "GET /v1/generations", "DELETE /v1/generations"} {
		mux.Handle(p, handler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errorsx.RequestID(w.Header(), r)
		defer func() {
			if v := recover(); v != nil {
				nethttp.Error(w, r, errorsx.Internal())
			}
		}()
		mux.ServeHTTP(w, r)
	})
}

func TestIdempotencyBehaviour(t *testing.T) {
	guardtest.Run(t, idemApp, func(t *testing.T) idempotency.Store {
		s := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestIdempotencyRejectsBadConfig(t *testing.T) {
	if mw, err := nethttp.Idempotency(idempotency.Config{Lease: -1}); err == nil || mw != nil {
		t.Fatalf("got (%v, %v), want an error", mw != nil, err)
	}
}

// TestIdempotencyRouteIsThePattern: the record key has the ServeMux
// pattern; the fingerprint has the path as sent.
func TestIdempotencyRouteIsThePattern(t *testing.T) {
	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	idem := nethttp.Must(nethttp.Idempotency(idempotency.Config{Store: store, Logger: slog.New(slog.DiscardHandler)}))
	mux := http.NewServeMux()
	mux.Handle("POST /x/{id}", idem(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("made " + r.PathValue("id")))
	})))
	send := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		return rec
	}
	if rec := send("/x/1"); rec.Code != 201 || rec.Body.String() != "made 1" {
		t.Fatalf("first: got %d %s", rec.Code, rec.Body)
	}
	if _, ok, _ := store.Get(context.Background(), idempotency.RecordKey("ip:192.0.2.1", "POST", "POST /x/{id}", "k")); !ok {
		t.Error(`no record under the pattern "POST /x/{id}"`)
	}
	if rec := send("/x/1"); rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.String() != "made 1" {
		t.Errorf("same path: got %d %s, want the replay", rec.Code, rec.Body)
	}
	if rec := send("/x/2"); rec.Code != 409 || !strings.Contains(rec.Body.String(), "idempotency_key_reuse") {
		t.Errorf("other path parameter: got %d %s, want 409 idempotency_key_reuse", rec.Code, rec.Body)
	}
}

// TestIdempotencyPassThroughAllocs: a request the guard does not guard
// costs no allocation.
func TestIdempotencyPassThroughAllocs(t *testing.T) {
	idem := nethttp.Must(nethttp.Idempotency(idempotency.Config{}))
	h := idem(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	w := httptest.NewRecorder()
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		r := httptest.NewRequest(m, "/x", nil)
		if m == http.MethodGet {
			r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		}
		if n := alloctest.PerRun(200, func() { h.ServeHTTP(w, r) }); n != 0 {
			t.Errorf("%s: %v allocations, want 0", m, n)
		}
	}
}
