package middleware_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/labstack/echo/v4"
)

// groupApp wires the guards the way most Echo users do: on a group.
func groupApp(t *testing.T) *echo.Echo {
	t.Helper()
	keys := middleware.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"models:read"}},
	}))
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Pre(middleware.Must(middleware.Head(middleware.HeadConfig{})))
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})))
	authMW := middleware.Must(middleware.Auth(auth.Config{Store: keys}))
	limit := middleware.Must(middleware.RateLimit(ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 5)}}))
	v1 := e.Group("/v1", authMW, limit)
	v1.GET("/models", func(c echo.Context) error {
		c.Response().Header().Set("ETag", `"m1"`)
		return c.JSON(http.StatusOK, map[string]any{"data": []string{"clipia-fast"}})
	}, middleware.Must(middleware.RequireScopes("models:read")))
	v1.GET("/admin", func(c echo.Context) error { return c.String(http.StatusOK, "admin") },
		middleware.Must(middleware.RequireScopes("admin")))
	v1.HEAD("/own-head", func(c echo.Context) error {
		c.Response().Header().Set("X-Own", "head")
		return c.NoContent(http.StatusNoContent)
	})
	v1.GET("/own-head", func(c echo.Context) error { return c.String(http.StatusOK, "get") })
	return e
}

func send(t *testing.T, srv *httptest.Server, method, path, key string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestGroupWiringUnknownRoutes: with auth and the limiter on a group, an
// unknown route under it answers 404, needs no key and spends no token.
func TestGroupWiringUnknownRoutes(t *testing.T) {
	srv := httptest.NewServer(groupApp(t))
	defer srv.Close()

	for _, tc := range []struct{ method, path, key string }{
		{http.MethodGet, "/v1/nope", ""},
		{http.MethodGet, "/v1/nope", "sk_test_bad"},
		{http.MethodGet, "/v1", ""},
		{http.MethodGet, "/v1/models/extra", ""},
		{http.MethodDelete, "/v1/models", ""},
		{http.MethodPost, "/v1/models", "sk_test_full"},
		{http.MethodGet, "/elsewhere", ""},
	} {
		res, body := send(t, srv, tc.method, tc.path, tc.key)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
			t.Errorf("%s %s (key %q): got %d %s, want 404 not_found", tc.method, tc.path, tc.key, res.StatusCode, body)
		}
		if res.Header.Get("WWW-Authenticate") != "" || res.Header.Get(ratelimit.HeaderRateLimit) != "" {
			t.Errorf("%s %s: got auth or rate-limit headers on a 404: %v", tc.method, tc.path, res.Header)
		}
	}
	// With a valid key, unknown routes spend nothing: the burst of 5 is whole.
	for range 10 {
		if res, _ := send(t, srv, http.MethodGet, "/v1/nope", "sk_test_full"); res.StatusCode != http.StatusNotFound {
			t.Fatalf("got %d, want 404", res.StatusCode)
		}
	}
	res, _ := send(t, srv, http.MethodGet, "/v1/models", "sk_test_full")
	if got, want := res.Header.Get(ratelimit.HeaderRateLimit), `"default";r=4;`; res.StatusCode != 200 || !strings.HasPrefix(got, want) {
		t.Errorf("got %d RateLimit %q, want 200 and %q: unknown routes spent tokens", res.StatusCode, got, want)
	}
	// Known routes keep their guards.
	if res, _ := send(t, srv, http.MethodGet, "/v1/models", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/models without a key: got %d, want 401", res.StatusCode)
	}
	if res, _ := send(t, srv, http.MethodGet, "/v1/admin", "sk_test_full"); res.StatusCode != http.StatusForbidden {
		t.Errorf("GET /v1/admin: got %d, want 403", res.StatusCode)
	}
}

// TestHeadAnswersAsGet: HEAD on a GET route answers as GET would, through
// every guard, with no body.
func TestHeadAnswersAsGet(t *testing.T) {
	srv := httptest.NewServer(groupApp(t))
	defer srv.Close()

	for _, tc := range []struct {
		name, path, key string
		want            int
	}{
		{"success", "/v1/models", "sk_test_full", 200},
		{"no key", "/v1/models", "", 401},
		{"bad key", "/v1/models", "sk_nope", 401},
		{"scope", "/v1/admin", "sk_test_full", 403},
		{"unknown route", "/v1/nope", "sk_test_full", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			get, getBody := send(t, srv, http.MethodGet, tc.path, tc.key)
			head, headBody := send(t, srv, http.MethodHead, tc.path, tc.key)
			if get.StatusCode != tc.want || head.StatusCode != tc.want {
				t.Fatalf("got GET %d, HEAD %d, want %d", get.StatusCode, head.StatusCode, tc.want)
			}
			if headBody != "" || getBody == "" {
				t.Errorf("got HEAD body %q, GET body %q: want none and some", headBody, getBody)
			}
			for _, k := range []string{"Content-Type", "Content-Length", "ETag", "X-Should-Retry", "WWW-Authenticate", ratelimit.HeaderRateLimitPolicy} {
				if g, h := get.Header.Get(k), head.Header.Get(k); g != h {
					t.Errorf("%s: got HEAD %q, GET %q", k, h, g)
				}
			}
		})
	}
	// HEAD costs a token as GET does: 5 in the burst, two HEADs and a GET.
	srv2 := httptest.NewServer(groupApp(t))
	defer srv2.Close()
	send(t, srv2, http.MethodHead, "/v1/models", "sk_test_full")
	send(t, srv2, http.MethodHead, "/v1/models", "sk_test_full")
	res, _ := send(t, srv2, http.MethodGet, "/v1/models", "sk_test_full")
	if got := res.Header.Get(ratelimit.HeaderRateLimit); !strings.HasPrefix(got, `"default";r=2;`) {
		t.Errorf("got RateLimit %q, want r=2 after two HEADs and a GET", got)
	}
	// An app's own HEAD route is kept.
	res, body := send(t, srv2, http.MethodHead, "/v1/own-head", "sk_test_full")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("X-Own") != "head" || body != "" {
		t.Errorf("own HEAD route: got %d %v %q", res.StatusCode, res.Header, body)
	}
}
