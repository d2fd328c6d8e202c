package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// idemApp is the Echo v4 app of the guardtest suite.
func idemApp(t *testing.T, cfg idempotency.Config, h guardtest.Handler) http.Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	idem, err := middleware.Idempotency(cfg)
	if err != nil {
		t.Fatalf("Idempotency: %v", err)
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), middleware.Must(middleware.Recover(middleware.RecoverConfig{})))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if tenant := c.Request().Header.Get("X-Test-Tenant"); tenant != "" {
				middleware.SetPrincipal(c, &principal.Principal{KeyID: "key_" + tenant, Tenant: tenant})
			}
			return next(c)
		}
	})
	e.Use(idem)
	handler := func(c echo.Context) error { return h(c.Response(), c.Request()) }
	e.POST("/v1/generations", handler)
	e.POST("/v1/other", handler)
	e.GET("/v1/generations", handler)
	e.DELETE("/v1/generations", handler)
	return e
}

func TestIdempotencyBehaviour(t *testing.T) {
	guardtest.Run(t, idemApp, func(t *testing.T) idempotency.Store {
		s := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestIdempotencyRejectsBadConfig(t *testing.T) {
	if mw, err := middleware.Idempotency(idempotency.Config{Lease: -1}); err == nil || mw != nil {
		t.Fatalf("got (%v, %v), want an error", mw != nil, err)
	}
}

// countingClaims counts claims.
type countingClaims struct {
	idempotency.Store
	n atomic.Int32
}

func (s *countingClaims) Claim(ctx context.Context, key, fp string, lease time.Duration) (idempotency.ClaimResult, error) {
	s.n.Add(1)
	return s.Store.Claim(ctx, key, fp, lease)
}

// TestIdempotencyUnknownRouteIn404: on a group, an unknown route or a
// wrong method answers 404 not_found and claims nothing.
func TestIdempotencyUnknownRouteIs404(t *testing.T) {
	store := &countingClaims{Store: idempotency.NewMemoryStore(idempotency.MemoryConfig{})}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	v1 := e.Group("/v1", middleware.Must(middleware.Idempotency(idempotency.Config{Store: store})))
	v1.POST("/generations", func(c echo.Context) error { return c.String(201, "made") })
	for _, tc := range []struct{ method, path string }{{"POST", "/v1/nope"}, {"PUT", "/v1/generations"}} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"not_found"`) {
			t.Errorf("%s %s: got %d %s, want 404 not_found", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
	if n := store.n.Load(); n != 0 {
		t.Errorf("claims: got %d, want 0", n)
	}
}

// TestIdempotencyRouteIsThePattern: the record key has Echo's route
// pattern (c.Path()), and the fingerprint the path as sent: the same key on
// /x/1 and then /x/2 is a changed request (409), never a replay.
func TestIdempotencyRouteIsThePattern(t *testing.T) {
	store := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.POST("/x/:id", func(c echo.Context) error {
		return c.String(http.StatusCreated, "made "+c.Param("id"))
	}, middleware.Must(middleware.Idempotency(idempotency.Config{Store: store})))
	post := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	if rec := post("/x/1"); rec.Code != http.StatusCreated || rec.Body.String() != "made 1" {
		t.Fatalf("first: got %d %s", rec.Code, rec.Body)
	}
	if _, ok, err := store.Get(context.Background(), idempotency.RecordKey("ip:192.0.2.1", "POST", "/x/:id", "k")); !ok || err != nil {
		t.Errorf("no record under the route pattern /x/:id (%v)", err)
	}
	if rec := post("/x/1"); rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.String() != "made 1" {
		t.Errorf("same path: got %d %s, want the replay", rec.Code, rec.Body)
	}
	if rec := post("/x/2"); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "idempotency_key_reuse") {
		t.Errorf("other path parameter: got %d %s, want 409 idempotency_key_reuse", rec.Code, rec.Body)
	}
}

// TestIdempotencyIPExtractor: e.IPExtractor passed as ClientIP scopes
// unauthenticated requests by the client behind the proxy.
func TestIdempotencyIPExtractor(t *testing.T) {
	_, trusted, _ := net.ParseCIDR("192.0.2.0/24")
	e := echo.New()
	e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustIPRange(trusted))
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	var calls int
	e.POST("/x", func(c echo.Context) error {
		calls++
		return c.String(http.StatusCreated, "made")
	}, middleware.Must(middleware.Idempotency(idempotency.Config{ClientIP: e.IPExtractor})))
	for i, s := range []struct {
		xff          string
		wantReplayed string
		wantCalls    int
	}{{"203.0.113.9", "", 1}, {"203.0.113.9", "true", 1}, {"203.0.113.10", "", 2}} {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		r.RemoteAddr = "192.0.2.7:5555"
		r.Header.Set(echo.HeaderXForwardedFor, s.xff)
		r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != s.wantReplayed || calls != s.wantCalls {
			t.Errorf("step %d: got %d replayed=%q calls %d", i, rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed), calls)
		}
	}
}

// TestIdempotencyResponseSeenOutside: a middleware outside the guard (a
// request log) sees the status of the fresh answer and of the replay in
// c.Response(), and the handler's own c.Response() hooks run.
func TestIdempotencyResponseSeenOutside(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	var seen []string
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			seen = append(seen, fmt.Sprintf("%d %v %d", c.Response().Status, c.Response().Committed, c.Response().Size))
			return err
		}
	})
	e.Use(middleware.Must(middleware.Idempotency(idempotency.Config{})))
	e.POST("/x", func(c echo.Context) error {
		c.Response().Before(func() { c.Response().Header().Set("ETag", `"hooked"`) })
		return c.String(http.StatusCreated, "made")
	})
	var etags []string
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		etags = append(etags, rec.Header().Get("ETag"))
	}
	if want := []string{"201 true 4", "201 true 4"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("outside: got %q, want %q", seen, want)
	}
	if fmt.Sprint(etags) != `["hooked" "hooked"]` {
		t.Errorf("ETag set in a Before hook: got %q, want it on both (stored)", etags)
	}
}

// TestIdempotencyStreamedAndHijackedOverHTTP runs over a real HTTP server,
// where the writer under Echo is net/http's: flushing and hijacking through
// c.Response() must work through the guard, and such responses are never
// stored.
func TestIdempotencyStreamedAndHijackedOverHTTP(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(c echo.Context) error
		wantBody string
	}{
		{"flushed", func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderContentType, "text/event-stream")
			c.Response().WriteHeader(http.StatusOK)
			_, _ = io.WriteString(c.Response(), "data: 1\n\n")
			c.Response().Flush()
			_, _ = io.WriteString(c.Response(), "data: 2\n\n")
			return nil
		}, "data: 1\n\ndata: 2\n\n"},
		{"hijacked", func(c echo.Context) error {
			conn, rw, err := c.Response().Hijack()
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
			e := echo.New()
			e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
			// The client can read a hijacked answer before the handler has
			// returned and the guard has released the key; a second request
			// then (rightly) finds it in progress. The test waits for the
			// whole chain to return before it sends the next request.
			done := make(chan struct{}, 1)
			e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error {
					defer func() { done <- struct{}{} }()
					return next(c)
				}
			})
			e.POST("/x", func(c echo.Context) error {
				calls.Add(1)
				return tc.handler(c)
			}, middleware.Must(middleware.Idempotency(idempotency.Config{Logger: slog.New(slog.DiscardHandler)})))
			srv := httptest.NewServer(e)
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
				<-done
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("handler calls: got %d, want 2 (never stored)", got)
			}
		})
	}
}

// TestIdempotencyPassThroughAllocs: a request the guard does not guard (no
// key, or GET) allocates no more than the same route with a middleware that
// does nothing (Echo v4 applies a route's middlewares per request: each
// costs the closure it returns).
func TestIdempotencyPassThroughAllocs(t *testing.T) {
	newApp := func(guard bool) *echo.Echo {
		e := echo.New()
		noop := func(next echo.HandlerFunc) echo.HandlerFunc {
			var state struct{ n int }
			return func(c echo.Context) error {
				_ = state.n
				return next(c)
			}
		}
		mws := []echo.MiddlewareFunc{noop}
		if guard {
			mws = []echo.MiddlewareFunc{middleware.Must(middleware.Idempotency(idempotency.Config{}))}
		}
		h := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }
		e.POST("/x", h, mws...)
		e.GET("/x", h, mws...)
		return e
	}
	allocs := func(e *echo.Echo, method string) float64 {
		r := httptest.NewRequest(method, "/x", nil)
		if method == http.MethodGet {
			r.Header.Set(idempotency.HeaderIdempotencyKey, "k")
		}
		w := httptest.NewRecorder()
		return alloctest.PerRun(200, func() { e.ServeHTTP(w, r) })
	}
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		base, guarded := allocs(newApp(false), m), allocs(newApp(true), m)
		t.Logf("%s: %v allocations with the guard, %v with a no-op middleware", m, guarded, base)
		if guarded > base {
			t.Errorf("%s: %v allocations with the guard, %v without", m, guarded, base)
		}
	}
}
