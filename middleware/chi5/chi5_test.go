package chi5_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/chi5"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/go-chi/chi/v5"
)

// TestSubrouterGroupGuards: the guards of a chi subrouter's r.Use answer
// an unknown path, a wrong method and the bare prefix 404 before asking
// for a key, and see a known route as its canonical template.
func TestSubrouterGroupGuards(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	key := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		mu.Lock()
		seen = append(seen, "group "+r.Method+" "+c.Route())
		mu.Unlock()
		if r.Header.Get("Authorization") == "" {
			return errorsx.InvalidAPIKey()
		}
		return c.Next(w, r)
	})
	see := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		mu.Lock()
		seen = append(seen, "route "+c.Route()+" "+c.Param("id"))
		mu.Unlock()
		return c.Next(w, r)
	})
	mux := chi.NewRouter()
	mux.NotFound(nethttp.NotFound)
	mux.MethodNotAllowed(nethttp.NotFound)
	mux.Route("/v1", func(r chi.Router) {
		r.Use(nethttp.Use(key))
		r.With(nethttp.Use(see)).Get("/models/{id:[a-z0-9-]+}", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "model "+chi.URLParam(r, "id"))
		})
	})
	h := nethttp.Install(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}, Routes: chi5.Routes(mux)})

	for _, tc := range []struct {
		method, path string
		key          bool
		status       int
		body         string
		seen         string
	}{
		{"GET", "/v1/models/m-1", true, 200, "model m-1", "group GET /v1/models/{id},route /v1/models/{id} m-1"},
		{"HEAD", "/v1/models/m-1", true, 200, "", "group GET /v1/models/{id},route /v1/models/{id} m-1"},
		{"GET", "/v1/models/m-1", false, 401, "invalid_api_key", "group GET /v1/models/{id}"},
		{"GET", "/v1/nope", false, 404, "not_found", ""},
		{"GET", "/v1/models/UPPER", false, 404, "not_found", ""},
		{"DELETE", "/v1/models/m-1", false, 404, "not_found", ""},
		{"GET", "/v1", false, 404, "not_found", ""},
		{"GET", "/v1/", false, 404, "not_found", ""},
		{"GET", "/nope", false, 404, "not_found", ""},
		{"GET", "/v1//models/m-1", true, 404, "not_found", ""},
	} {
		seen = nil
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.key {
			req.Header.Set("Authorization", "Bearer k")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) || rec.Header().Get("Allow") != "" ||
			tc.method == "HEAD" && rec.Body.Len() != 0 {
			t.Errorf("%s %s: got %d %v %q, want %d %q", tc.method, tc.path, rec.Code, rec.Header(), rec.Body, tc.status, tc.body)
		}
		if got := strings.Join(seen, ","); got != tc.seen {
			t.Errorf("%s %s: guards saw %q, want %q", tc.method, tc.path, got, tc.seen)
		}
	}
}

// TestRoutes: the finder gives chi's pattern for a method, "" for none,
// and reads a subrouter's own path as the subrouter routes it.
func TestRoutes(t *testing.T) {
	mux := chi.NewRouter()
	mux.Get("/a/{x}", func(http.ResponseWriter, *http.Request) {})
	nop := func(http.ResponseWriter, *http.Request) {}
	mux.Route("/v1", func(r chi.Router) {
		r.Post("/b", nop)
		r.Route("/admin", func(r chi.Router) { r.Get("/c", nop) })
	})
	mux.Route("/v2", func(r chi.Router) { r.Get("/", nop) })
	mux.Get("/v3", nop)
	mux.Mount("/v3/", chi.NewRouter().Group(func(r chi.Router) { r.Get("/d", nop) }))
	find := chi5.Routes(mux)
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/a/1", "/a/{x}"},
		{"POST", "/a/1", ""},
		{"POST", "/v1/b", "/v1/b"},
		{"GET", "/v1/b", ""},
		{"GET", "/zzz", ""},
		{"POST", "/v1", ""},
		{"POST", "/v1/", ""},
		{"GET", "/v1/admin", ""},
		{"GET", "/v1/admin/c", "/v1/admin/c"},
		{"GET", "/v2", "/v2/"},
		{"GET", "/v2/", "/v2/"},
		{"POST", "/v2", ""},
		{"GET", "/v3", "/v3"},
		{"GET", "/v3/d", "/v3/d"},
	} {
		if got := find(httptest.NewRequest("GET", tc.path, nil), tc.method); got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.method, tc.path, got, tc.want)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if routed := rec.Code < 400; routed != (tc.want != "") {
			t.Errorf("%s %s: chi answers %d, the finder %q", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}
