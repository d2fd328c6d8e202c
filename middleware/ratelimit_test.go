package middleware_test

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/doortest"
	"github.com/labstack/echo/v4"
)

// rateLimitApp is the Echo v4 app of the rate-limit suite.
func rateLimitApp(_ testing.TB, cfg ratelimit.Config, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	mw, err := middleware.RateLimit(cfg)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.GET(doortest.Path, func(c echo.Context) error { return h(c.Response(), c.Request()) }, mw)
	return e, nil
}

func TestRateLimit(t *testing.T) { doortest.Run(t, rateLimitApp) }

func BenchmarkRateLimit(b *testing.B) { doortest.Bench(b, rateLimitApp) }

// An Echo app behind a proxy passes its IPExtractor as Config.ClientIP; the
// IPExtractor alone is not used (a raw X-Forwarded-For never is).
func TestRateLimitEchoIPExtractor(t *testing.T) {
	_, trusted, _ := net.ParseCIDR("192.0.2.0/24")
	extractor := echo.ExtractIPFromXFFHeader(echo.TrustLoopback(false), echo.TrustLinkLocal(false),
		echo.TrustPrivateNet(false), echo.TrustIPRange(trusted))
	for _, tc := range []struct {
		name     string
		clientIP func(*http.Request) string
		want     []int
	}{
		{"passed_as_client_ip", extractor, []int{200, 200, 429}},
		{"ignored_unless_passed", nil, []int{200, 429, 429}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			e.IPExtractor = extractor
			e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
			e.GET("/r", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) },
				middleware.Must(middleware.RateLimit(ratelimit.Config{
					Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
					ClientIP: tc.clientIP,
				})))
			for i, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"} {
				req := httptest.NewRequest(http.MethodGet, "/r", nil)
				req.RemoteAddr = "192.0.2.1:1234"
				req.Header.Set("X-Forwarded-For", ip)
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if want := tc.want[i]; rec.Code != want && !(want == 200 && rec.Code == http.StatusNoContent) {
					t.Errorf("request %d from %s: got status %d, want %d", i, ip, rec.Code, want)
				}
			}
		})
	}
}

// The limiter reads a principal that an earlier Echo middleware set with
// SetPrincipal, and answers a route the group does not have 404 without
// spending a token or setting headers.
func TestRateLimitEchoGroup(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	auth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			middleware.SetPrincipal(c, &principal.Principal{KeyID: c.Request().Header.Get("X-Test-Key")})
			return next(c)
		}
	}
	g := e.Group("/v1", auth, middleware.Must(middleware.RateLimit(ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
	})))
	g.GET("/r", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	do := func(path, key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Test-Key", key)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	for i, tc := range []struct {
		path, key string
		status    int
		rateLimit string
	}{
		{"/v1/nope", "key_1", 404, ""},
		{"/v1/r", "key_1", 204, `"default";r=0;t=1`},
		{"/v1/r", "key_1", 429, `"default";r=0;t=1`},
		{"/v1/r", "key_2", 204, `"default";r=0;t=1`},
		{"/v1/nope", "key_3", 404, ""},
		{"/v1/r", "key_3", 204, `"default";r=0;t=1`},
	} {
		rec := do(tc.path, tc.key)
		if rec.Code != tc.status || rec.Header().Get(ratelimit.HeaderRateLimit) != tc.rateLimit {
			t.Errorf("request %d: got %d RateLimit %q, want %d %q", i, rec.Code, rec.Header().Get(ratelimit.HeaderRateLimit), tc.status, tc.rateLimit)
		}
		if tc.status == 404 && rec.Header().Get(ratelimit.HeaderRateLimitPolicy) != "" {
			t.Errorf("request %d: an unknown route got RateLimit-Policy", i)
		}
	}
}
