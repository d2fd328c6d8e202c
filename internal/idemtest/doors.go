package idemtest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/doors"
)

// countingClaims counts the claims of a store.
type countingClaims struct {
	idempotency.Store
	n atomic.Int32
}

func (s *countingClaims) Claim(ctx context.Context, key, fp string, lease time.Duration) (idempotency.ClaimResult, error) {
	s.n.Add(1)
	return s.Store.Claim(ctx, key, fp, lease)
}

// spec is an app of door tests: the renderer with logs discarded, and
// routes.
func spec(routes ...doors.Route) doors.Spec {
	return doors.Spec{Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}, Routes: routes}
}

func newGuard(t *testing.T, cfg idempotency.Config) *idempotency.Guard {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := idempotency.New(cfg)
	if err != nil {
		t.Fatalf("idempotency.New: %v", err)
	}
	return g
}

func send(h http.Handler, method, path, key string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "192.0.2.1:1234"
	if key != "" {
		r.Header.Set(idempotency.HeaderIdempotencyKey, key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// runUnknownRoute: on a group, an unknown path or a wrong method answers
// 404 not_found before the guard, and claims nothing.
func runUnknownRoute(t *testing.T, d doors.Door, newStore func(t *testing.T) idempotency.Store) {
	store := &countingClaims{Store: newStore(t)}
	s := spec(doors.Route{Method: http.MethodPost, Path: "/v1/generations", Handler: func(w http.ResponseWriter, _ *http.Request, _ doors.Params) error {
		return text(w, http.StatusCreated, "made")
	}})
	s.GroupPrefix, s.Group = "/v1", []guard.Guard{newGuard(t, idempotency.Config{Store: store})}
	h := d.New(t, s)
	for _, tc := range []struct{ method, path string }{{"POST", "/v1/nope"}, {"PUT", "/v1/generations"}, {"DELETE", "/v1/generations"}} {
		rec := send(h, tc.method, tc.path, "k")
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Errorf("%s %s: got %d %s, want 404 not_found", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
	if n := store.n.Load(); n != 0 {
		t.Errorf("claims: got %d, want 0", n)
	}
	if rec := send(h, http.MethodPost, "/v1/generations", "k"); rec.Code != 201 || store.n.Load() != 1 {
		t.Errorf("the route: got %d and %d claims, want 201 and 1", rec.Code, store.n.Load())
	}
}

// runRouteTemplate: the record key has the route's canonical template
// (/x/{id} on every door), and the fingerprint the path as sent: the same
// key on /x/1 and then /x/2 is a changed request (409), never a replay.
// The handler reads the path parameter through the door.
func runRouteTemplate(t *testing.T, d doors.Door, newStore func(t *testing.T) idempotency.Store) {
	store := newStore(t)
	h := d.New(t, spec(doors.Route{Method: http.MethodPost, Path: "/x/{id}", Guards: []guard.Guard{newGuard(t, idempotency.Config{Store: store})},
		Handler: func(w http.ResponseWriter, _ *http.Request, p doors.Params) error {
			return text(w, http.StatusCreated, "made "+p.Param("id"))
		}}))
	if rec := send(h, http.MethodPost, "/x/1", "k"); rec.Code != http.StatusCreated || rec.Body.String() != "made 1" {
		t.Fatalf("first: got %d %s, want 201 made 1", rec.Code, rec.Body)
	}
	if _, ok, err := store.Get(context.Background(), idempotency.RecordKey("ip:192.0.2.1", "POST", "/x/{id}", "k")); !ok || err != nil {
		t.Errorf("no record under the route template /x/{id} (%v)", err)
	}
	if rec := send(h, http.MethodPost, "/x/1", "k"); rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.String() != "made 1" {
		t.Errorf("same path: got %d %s, want the replay", rec.Code, rec.Body)
	}
	if rec := send(h, http.MethodPost, "/x/2", "k"); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "idempotency_key_reuse") {
		t.Errorf("other path parameter: got %d %s, want 409 idempotency_key_reuse", rec.Code, rec.Body)
	}
}

// runHead: a door serves HEAD as GET, the guard included. With GET
// guarded, a HEAD stores the GET answer (the handler's body, which the
// client of the HEAD does not get), a GET with the key replays it whole,
// and a HEAD replay has the status and headers and no body.
func runHead(t *testing.T, d doors.Door, newStore func(t *testing.T) idempotency.Store) {
	var calls atomic.Int32
	h := d.New(t, spec(doors.Route{Method: http.MethodGet, Path: "/v1/items",
		Guards: []guard.Guard{newGuard(t, idempotency.Config{Store: newStore(t), Methods: []string{"GET"}})},
		Handler: func(w http.ResponseWriter, r *http.Request, _ doors.Params) error {
			calls.Add(1)
			return text(w, http.StatusOK, "hello")
		}}))
	for i, s := range []struct {
		method, body, replayed string
	}{
		{"HEAD", "", ""},
		{"GET", "hello", "true"},
		{"HEAD", "", "true"},
	} {
		rec := send(h, s.method, "/v1/items", "k")
		if rec.Code != 200 || rec.Body.String() != s.body || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != s.replayed {
			t.Errorf("step %d %s: got %d %q replayed=%q, want 200 %q replayed=%q", i, s.method, rec.Code, rec.Body,
				rec.Header().Get(idempotency.HeaderIdempotentReplayed), s.body, s.replayed)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
			t.Errorf("step %d %s: got Content-Type %q", i, s.method, ct)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("handler calls: got %d, want 1", got)
	}
}

// runOverHTTP runs over a real HTTP server, where the writer under the
// door is net/http's: flushing and hijacking (http.ResponseController on
// the writer the door hands the handler) work through the guard, and such
// responses are never stored.
func runOverHTTP(t *testing.T, d doors.Door, newStore func(t *testing.T) idempotency.Store) {
	tests := []struct {
		name     string
		handler  func(w http.ResponseWriter) error
		wantBody string
	}{
		{"flushed", func(w http.ResponseWriter) error {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "data: 1\n\n")
			if err := http.NewResponseController(w).Flush(); err != nil {
				return err
			}
			_, _ = io.WriteString(w, "data: 2\n\n")
			return nil
		}, "data: 1\n\ndata: 2\n\n"},
		{"hijacked", func(w http.ResponseWriter) error {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return err
			}
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nraw ok")
			return rw.Flush()
		}, "raw ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			// The client can read a hijacked answer before the handler has
			// returned and the guard has released the key; a second request
			// then (rightly) finds it in progress. The test waits for the
			// route's chain to return before it sends the next request.
			done := make(chan struct{}, 1)
			signal := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
				defer func() { done <- struct{}{} }()
				return c.Next(w, r)
			})
			h := d.New(t, spec(doors.Route{Method: http.MethodPost, Path: "/x",
				Guards: []guard.Guard{signal, newGuard(t, idempotency.Config{Store: newStore(t)})},
				Handler: func(w http.ResponseWriter, _ *http.Request, _ doors.Params) error {
					calls.Add(1)
					return tc.handler(w)
				}}))
			srv := httptest.NewServer(h)
			defer srv.Close()
			for i := range 2 {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x", strings.NewReader(`{}`))
				req.Header.Set(idempotency.HeaderIdempotencyKey, "stream-key")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != tc.wantBody {
					t.Fatalf("request %d: got %d %q, want 200 %q", i, resp.StatusCode, body, tc.wantBody)
				}
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					t.Fatalf("request %d: the route's chain never returned", i)
				}
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("handler calls: got %d, want 2 (never stored)", got)
			}
		})
	}
}
