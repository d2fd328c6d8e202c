package middleware_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// scopeEcho serves GET /r behind the given middlewares; a request header
// X-Scopes (space-separated) installs a principal with those scopes first,
// standing in for an app's own authentication.
func scopeEcho(mws ...echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if v, ok := c.Request().Header["X-Scopes"]; ok {
				middleware.SetPrincipal(c, &principal.Principal{KeyID: "k", Tenant: "t", Scopes: strings.Fields(v[0])})
			}
			return next(c)
		}
	})
	e.GET("/r", func(c echo.Context) error { return c.String(http.StatusOK, "ok") }, mws...)
	return e
}

func scopeMessage(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code == http.StatusOK {
		return ""
	}
	var env struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return env.Error.Code + ": " + env.Error.Message
}

func TestScopes(t *testing.T) {
	tests := []struct {
		name     string
		mw       echo.MiddlewareFunc
		scopes   *string // nil: no principal
		wantCode int
		wantMsg  string
	}{
		{"all-of held", middleware.Must(middleware.RequireScopes("a", "b")), ptr("b a c"), 200, ""},
		{"all-of one missing", middleware.Must(middleware.RequireScopes("a", "b")), ptr("a"), 403,
			"insufficient_scope: This API key lacks the required scope: b"},
		{"all-of two missing, in declared order", middleware.Must(middleware.RequireScopes("b", "a", "c")), ptr("a"), 403,
			"insufficient_scope: This API key lacks the required scopes: b, c"},
		{"all-of repeated scope named once", middleware.Must(middleware.RequireScopes("x", "x", "y")), ptr(""), 403,
			"insufficient_scope: This API key lacks the required scopes: x, y"},
		{"all-of with a principal without scopes", middleware.Must(middleware.RequireScopes("a")), ptr(""), 403,
			"insufficient_scope: This API key lacks the required scope: a"},
		{"scope names are case-sensitive", middleware.Must(middleware.RequireScopes("models:read")), ptr("Models:Read"), 403,
			"insufficient_scope: This API key lacks the required scope: models:read"},
		{"no scopes needs a principal only", middleware.Must(middleware.RequireScopes()), ptr(""), 200, ""},
		{"any-of first", middleware.Must(middleware.RequireAnyScope("a", "b")), ptr("a"), 200, ""},
		{"any-of second", middleware.Must(middleware.RequireAnyScope("a", "b")), ptr("b"), 200, ""},
		{"any-of none", middleware.Must(middleware.RequireAnyScope("a", "b")), ptr("c"), 403,
			"insufficient_scope: This API key needs one of the scopes: a, b"},
		{"any-of empty list needs a principal only", middleware.Must(middleware.RequireAnyScope()), ptr(""), 200, ""},
		{"all-of without principal fails closed", middleware.Must(middleware.RequireScopes("a")), nil, 401,
			"invalid_api_key: The API key is missing, invalid or revoked."},
		{"no scopes without principal fails closed", middleware.Must(middleware.RequireScopes()), nil, 401,
			"invalid_api_key: The API key is missing, invalid or revoked."},
		{"any-of without principal fails closed", middleware.Must(middleware.RequireAnyScope("a")), nil, 401,
			"invalid_api_key: The API key is missing, invalid or revoked."},
		{"config all and any, both met", mustScopeMW(t, auth.ScopeConfig{All: []string{"a"}, Any: []string{"x", "y"}}), ptr("a y"), 200, ""},
		{"config all and any, any unmet", mustScopeMW(t, auth.ScopeConfig{All: []string{"a"}, Any: []string{"x", "y"}}), ptr("a"), 403,
			"insufficient_scope: This API key needs one of the scopes: x, y"},
		{"config all and any, all unmet first", mustScopeMW(t, auth.ScopeConfig{All: []string{"a"}, Any: []string{"x"}}), ptr("x"), 403,
			"insufficient_scope: This API key lacks the required scope: a"},
		{"config skip", mustScopeMW(t, auth.ScopeConfig{All: []string{"a"}, Skip: func(*http.Request) bool { return true }}), nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := scopeEcho(tt.mw)
			req := httptest.NewRequest(http.MethodGet, "/r", nil)
			if tt.scopes != nil {
				req.Header.Set("X-Scopes", *tt.scopes)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("got status %d, want %d (body %s)", rec.Code, tt.wantCode, rec.Body)
			}
			if got := scopeMessage(t, rec); got != tt.wantMsg {
				t.Errorf("got %q, want %q", got, tt.wantMsg)
			}
			if tt.wantCode == 401 {
				if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="api"` {
					t.Errorf("got WWW-Authenticate %q, want the renderer's challenge", got)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func mustScopeMW(t *testing.T, cfg auth.ScopeConfig) echo.MiddlewareFunc {
	t.Helper()
	mw, err := middleware.Scopes(cfg)
	if err != nil {
		t.Fatalf("Scopes: %v", err)
	}
	return mw
}

func TestScopesConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     auth.ScopeConfig
		wantErr bool
	}{
		{"zero config", auth.ScopeConfig{}, false},
		{"valid", auth.ScopeConfig{All: []string{"generations:write"}, Any: []string{"a", "b"}}, false},
		{"empty in all", auth.ScopeConfig{All: []string{""}}, true},
		{"space in any", auth.ScopeConfig{Any: []string{"a b"}}, true},
		{"quote", auth.ScopeConfig{All: []string{`a"`}}, true},
		{"backslash", auth.ScopeConfig{All: []string{`a\b`}}, true},
		{"non-ASCII", auth.ScopeConfig{All: []string{"é"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := middleware.Scopes(tt.cfg)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if (mw == nil) != tt.wantErr {
				t.Errorf("got middleware %v with error %v", mw != nil, err)
			}
		})
	}
}

// TestScopesNoPrincipalCause: the 401 of a scope check without auth carries
// ErrNoPrincipal for the log, so the misconfiguration is findable.
func TestScopesNoPrincipalCause(t *testing.T) {
	e := echo.New()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	c.SetPath("/")
	err := middleware.Must(middleware.RequireScopes("a"))(func(echo.Context) error { return nil })(c)
	if !errors.Is(err, auth.ErrNoPrincipal) || !errors.Is(err, errorsx.InvalidAPIKey()) {
		t.Errorf("got %v, want invalid_api_key caused by ErrNoPrincipal", err)
	}
	middleware.SetPrincipal(c, nil)
	err = middleware.Must(middleware.RequireScopes())(func(echo.Context) error { return nil })(c)
	if !errors.Is(err, auth.ErrNoPrincipal) {
		t.Errorf("nil principal: got %v, want ErrNoPrincipal", err)
	}
}

func TestScopesAllocs(t *testing.T) {
	e := echo.New()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	c.SetPath("/") // as the router sets it: the request matched a route
	middleware.SetPrincipal(c, &principal.Principal{KeyID: "k", Scopes: []string{"a", "b"}})
	ok := func(echo.Context) error { return nil }
	tests := []struct {
		name string
		mw   echo.MiddlewareFunc
		want error
	}{
		{"granted", middleware.Must(middleware.RequireScopes("a", "b")), nil},
		{"one missing", middleware.Must(middleware.RequireScopes("a", "c")), errorsx.InsufficientScope()},
		{"any-of missing", middleware.Must(middleware.RequireAnyScope("x", "y")), errorsx.InsufficientScope()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.mw(ok)
			var err error
			allocs := alloctest.PerRun(100, func() { err = h(c) })
			if !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if allocs != 0 {
				t.Errorf("got %v allocs per request, want 0", allocs)
			}
		})
	}
}

// An invalid scope is a configuration error at construction, never a 500 at
// request time.
func TestRequireScopesRejectsInvalidScopes(t *testing.T) {
	for _, bad := range [][]string{{"a b"}, {""}, {"ok", `q"uote`}, {"\x7f"}} {
		if _, err := middleware.RequireScopes(bad...); err == nil {
			t.Errorf("RequireScopes(%q): got no error", bad)
		}
		if _, err := middleware.RequireAnyScope(bad...); err == nil {
			t.Errorf("RequireAnyScope(%q): got no error", bad)
		}
	}
	if _, err := middleware.RequireScopes("models:read", "generations:write"); err != nil {
		t.Errorf("got %v for valid scopes", err)
	}
}
