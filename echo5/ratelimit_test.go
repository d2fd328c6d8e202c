package echo5_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/doortest"
	"github.com/labstack/echo/v5"
)

// rateLimitApp is the Echo v5 app of the rate-limit suite.
func rateLimitApp(_ testing.TB, cfg ratelimit.Config, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	mw, err := echo5.RateLimit(cfg)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.GET(doortest.Path, func(c *echo.Context) error { return h(c.Response(), c.Request()) }, mw)
	return e, nil
}

func TestRateLimit(t *testing.T) { doortest.Run(t, rateLimitApp) }

func BenchmarkRateLimit(b *testing.B) { doortest.Bench(b, rateLimitApp) }

// A route the group does not have is 404 without a token or headers.
//
// It needs the complete echo5.RouteMatched and ErrorHandler (the front
// door's own work, merged separately): remove the Skip once they are in.
func TestRateLimitUnknownRoute(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	g := e.Group("/v1", echo5.Must(echo5.RateLimit(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
	})))
	g.GET("/r", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) })
	for i, tc := range []struct {
		method, path string
		status       int
		rateLimit    string
	}{
		{http.MethodGet, "/v1/nope", 404, ""},
		{http.MethodPost, "/v1/r", 404, ""},
		{http.MethodGet, "/v1/r", 204, `"default";r=0;t=1`},
		{http.MethodGet, "/v1/nope", 404, ""},
		{http.MethodGet, "/v1/r", 429, `"default";r=0;t=1`},
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || rec.Header().Get(ratelimit.HeaderRateLimit) != tc.rateLimit {
			t.Errorf("request %d %s %s: got %d RateLimit %q, want %d %q", i, tc.method, tc.path, rec.Code,
				rec.Header().Get(ratelimit.HeaderRateLimit), tc.status, tc.rateLimit)
		}
		if tc.status == 404 && rec.Header().Get(ratelimit.HeaderRateLimitPolicy) != "" {
			t.Errorf("request %d: an unknown route got RateLimit-Policy", i)
		}
	}
}
