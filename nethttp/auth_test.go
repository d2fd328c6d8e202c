package nethttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/authtest"
	"github.com/clipia/apiguard/nethttp"
	"github.com/clipia/apiguard/principal"
)

// authApp is the app of the auth behaviour table (internal/authtest) on a
// ServeMux: Auth around the mux, each route's scope guard around its
// handler.
func authApp(t *testing.T) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	for _, r := range authtest.Routes {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, authtest.Body(principal.FromContext(r.Context())))
		})
		switch r.Guard {
		case authtest.RequireScopes:
			h = nethttp.Must(nethttp.RequireScopes(r.Scopes...))(h)
		case authtest.RequireAnyScope:
			h = nethttp.Must(nethttp.RequireAnyScope(r.Scopes...))(h)
		case authtest.Scopes:
			h = nethttp.Must(nethttp.Scopes(r.Config))(h)
		}
		mux.Handle(r.Method+" "+r.Path, h)
	}
	return nethttp.Must(nethttp.Auth(authtest.Config()))(mux)
}

// TestAuthDoor runs the auth behaviour table, the same for the three front
// doors, through a ServeMux.
func TestAuthDoor(t *testing.T) {
	authtest.Run(t, authApp(t))
}

// TestAuthStopsTheChain: a rejected request never reaches the next
// handler, and an accepted one reaches it once with the principal.
func TestAuthStopsTheChain(t *testing.T) {
	var calls int
	var got *principal.Principal
	h := nethttp.Must(nethttp.Auth(authtest.Config()))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		got, _ = principal.FromContext(r.Context())
	}))
	for _, tt := range []struct {
		authorization string
		wantCode      int
		wantCalls     int
		wantKeyID     string
	}{
		{"Bearer sk_test_nope", 401, 0, ""},
		{"Bearer " + authtest.KeyDown, 503, 0, ""},
		{"Bearer sk_test_full", 200, 1, "key_full"},
	} {
		calls, got = 0, nil
		req := httptest.NewRequest(http.MethodGet, "/anything", nil)
		req.Header.Set("Authorization", tt.authorization)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.wantCode || calls != tt.wantCalls {
			t.Errorf("%s: got %d with %d calls, want %d with %d", tt.authorization, rec.Code, calls, tt.wantCode, tt.wantCalls)
		}
		if tt.wantKeyID != "" && (got == nil || got.KeyID != tt.wantKeyID) {
			t.Errorf("%s: got principal %v, want %s", tt.authorization, got, tt.wantKeyID)
		}
	}
}

func TestAuthConfigErrors(t *testing.T) {
	if mw, err := nethttp.Auth(auth.Config{}); err == nil || mw != nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("Auth without a store: got %v, %v; want no middleware and an error naming Store", mw != nil, err)
	}
	if _, err := nethttp.Auth(auth.Config{Store: auth.KeyStoreFunc(nil), MaxKeyLength: -1}); err == nil {
		t.Error("Auth with a negative MaxKeyLength: got no error")
	}
	for _, bad := range [][]string{{""}, {"a b"}, {`q"`}} {
		if mw, err := nethttp.RequireScopes(bad...); err == nil || mw != nil {
			t.Errorf("RequireScopes(%q): got %v, %v; want an error", bad, mw != nil, err)
		}
		if mw, err := nethttp.RequireAnyScope(bad...); err == nil || mw != nil {
			t.Errorf("RequireAnyScope(%q): got %v, %v; want an error", bad, mw != nil, err)
		}
		if mw, err := nethttp.Scopes(auth.ScopeConfig{All: bad}); err == nil || mw != nil {
			t.Errorf("Scopes(All: %q): got %v, %v; want an error", bad, mw != nil, err)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Must(Auth(no store)): got no panic")
			}
		}()
		nethttp.Must(nethttp.Auth(auth.Config{}))
	}()
}

// TestAuthSkipAllocs: a skipped request passes Auth and a skipped scope
// check without allocating.
func TestAuthSkipAllocs(t *testing.T) {
	cfg := authtest.Config()
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := nethttp.Must(nethttp.Auth(cfg))(nethttp.Must(nethttp.Scopes(auth.ScopeConfig{All: []string{"a"}, Skip: cfg.Skip}))(next))
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("X-Skip", "1")
	w := httptest.NewRecorder()
	if n := alloctest.PerRun(100, func() { h.ServeHTTP(w, req) }); n != 0 {
		t.Errorf("got %v allocs per skipped request, want 0", n)
	}
}
