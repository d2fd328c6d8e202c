package middleware_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/concstoretest"
	"github.com/labstack/echo/v4"
)

// concurrencyApp is the Echo v4 app of the concurrency suite.
func concurrencyApp(_ testing.TB, cfg ratelimit.ConcurrencyConfig, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	mw, err := middleware.ConcurrencyLimit(cfg)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.GET(concstoretest.DoorPath, func(c echo.Context) error { return h(c.Response(), c.Request()) }, mw)
	return e, nil
}

func TestConcurrencyLimit(t *testing.T) { concstoretest.RunDoor(t, concurrencyApp) }

// The guard reads a tenant that an earlier Echo middleware set with
// SetPrincipal, and answers a route the group does not have 404 without
// taking a slot or setting headers.
func TestConcurrencyLimitEchoGroup(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	auth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			middleware.SetPrincipal(c, &principal.Principal{KeyID: "key_" + c.Request().Header.Get("X-Tenant"), Tenant: c.Request().Header.Get("X-Tenant")})
			return next(c)
		}
	}
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	g := e.Group("/v1", auth, middleware.Must(middleware.ConcurrencyLimit(ratelimit.ConcurrencyConfig{Limit: 1})))
	g.GET("/slow", func(c echo.Context) error { entered <- struct{}{}; <-release; return c.NoContent(http.StatusNoContent) })
	g.GET("/fast", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	get := func(method, path, tenant string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("X-Tenant", tenant)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- get(http.MethodGet, "/v1/slow", "acme") }()
	<-entered
	for i, tc := range []struct {
		method, path, tenant string
		status               int
		policy               string
	}{
		{http.MethodGet, "/v1/nope", "acme", 404, ""},
		{http.MethodPost, "/v1/fast", "acme", 404, ""},
		{http.MethodGet, "/v1/fast", "acme", 429, `"inflight";q=1;qu="concurrent-requests"`},
		{http.MethodGet, "/v1/fast", "globex", 204, `"inflight";q=1;qu="concurrent-requests"`},
	} {
		rec := get(tc.method, tc.path, tc.tenant)
		if rec.Code != tc.status || rec.Header().Get(ratelimit.HeaderRateLimitPolicy) != tc.policy {
			t.Errorf("request %d %s %s: got %d RateLimit-Policy %q, want %d %q", i, tc.method, tc.path, rec.Code,
				rec.Header().Get(ratelimit.HeaderRateLimitPolicy), tc.status, tc.policy)
		}
	}
	close(release)
	if rec := <-done; rec.Code != http.StatusNoContent {
		t.Fatalf("slow request: got %d", rec.Code)
	}
	if rec := get(http.MethodGet, "/v1/fast", "acme"); rec.Code != http.StatusNoContent {
		t.Errorf("after the slow request: got %d, want 204", rec.Code)
	}
}
