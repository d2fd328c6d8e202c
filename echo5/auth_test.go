package echo5_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/authtest"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v5"
)

// authApp is the app of the auth behaviour table (internal/authtest) on
// Echo v5.
func authApp(t *testing.T) *echo.Echo {
	t.Helper()
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(echo5.Must(echo5.Auth(authtest.Config())))
	for _, r := range authtest.Routes {
		var mws []echo.MiddlewareFunc
		switch r.Guard {
		case authtest.RequireScopes:
			mws = append(mws, echo5.Must(echo5.RequireScopes(r.Scopes...)))
		case authtest.RequireAnyScope:
			mws = append(mws, echo5.Must(echo5.RequireAnyScope(r.Scopes...)))
		case authtest.Scopes:
			mws = append(mws, echo5.Must(echo5.Scopes(r.Config)))
		}
		e.Add(r.Method, r.Path, func(c *echo.Context) error {
			return c.String(http.StatusOK, authtest.Body(echo5.PrincipalFrom(c)))
		}, mws...)
	}
	return e
}

// TestAuthDoor runs the auth behaviour table, the same for the three front
// doors, through an Echo v5 app.
func TestAuthDoor(t *testing.T) {
	authtest.Run(t, authApp(t))
}

// TestAuthPrincipalInRequestContext: behind Auth the caller is in the
// request's context.Context, where plain net/http code finds it, and
// PrincipalFrom agrees.
func TestAuthPrincipalInRequestContext(t *testing.T) {
	e := echo.New()
	e.Use(echo5.Must(echo5.Auth(authtest.Config())))
	e.GET("/v1/whoami", func(c *echo.Context) error {
		p, ok := principal.FromContext(c.Request().Context())
		q, _ := echo5.PrincipalFrom(c)
		if !ok || p != q {
			return errors.New("principal missing or different")
		}
		return c.String(http.StatusOK, p.KeyID)
	})
	req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer sk_test_other")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "key_other" {
		t.Errorf("got %d %q, want 200 \"key_other\"", rec.Code, rec.Body.String())
	}
}

// TestAuthErrorReturned: the guards return their errors (the renderer
// writes them): a rejection is an auth.ErrRejected 401, a scope check
// without a principal an auth.ErrNoPrincipal 401, and an unmatched request
// a 404 before anything else.
func TestAuthErrorReturned(t *testing.T) {
	authMW := echo5.Must(echo5.Auth(authtest.Config()))
	scopeMW := echo5.Must(echo5.RequireScopes("models:read"))
	ok := func(*echo.Context) error { return nil }
	e := echo.New()
	newCtx := func(path string) *echo.Context {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("Authorization", "Bearer sk_test_revoked")
		c := e.NewContext(req, httptest.NewRecorder())
		c.SetPath(path)
		return c
	}
	if err := authMW(ok)(newCtx("/x")); !errors.Is(err, auth.ErrRejected) || !errors.Is(err, errorsx.InvalidAPIKey()) ||
		!strings.Contains(err.Error(), "revoked") || strings.Contains(err.Error(), "sk_test") {
		t.Errorf("Auth: got %v, want a 401 caused by auth.ErrRejected naming the reason, not the key", err)
	}
	if err := scopeMW(ok)(newCtx("/x")); !errors.Is(err, auth.ErrNoPrincipal) {
		t.Errorf("RequireScopes without Auth: got %v, want auth.ErrNoPrincipal", err)
	}
	for name, mw := range map[string]echo.MiddlewareFunc{"Auth": authMW, "RequireScopes": scopeMW} {
		if err := mw(ok)(newCtx("")); !errors.Is(err, errorsx.NotFound()) {
			t.Errorf("%s on an unmatched route: got %v, want 404 not_found", name, err)
		}
	}
}

func TestAuthConfigErrors(t *testing.T) {
	if mw, err := echo5.Auth(auth.Config{}); err == nil || mw != nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("Auth without a store: got %v, %v; want no middleware and an error naming Store", mw != nil, err)
	}
	for _, bad := range [][]string{{""}, {"a b"}, {`q"`}} {
		if mw, err := echo5.RequireScopes(bad...); err == nil || mw != nil {
			t.Errorf("RequireScopes(%q): got %v, %v; want an error", bad, mw != nil, err)
		}
		if mw, err := echo5.RequireAnyScope(bad...); err == nil || mw != nil {
			t.Errorf("RequireAnyScope(%q): got %v, %v; want an error", bad, mw != nil, err)
		}
		if mw, err := echo5.Scopes(auth.ScopeConfig{Any: bad}); err == nil || mw != nil {
			t.Errorf("Scopes(Any: %q): got %v, %v; want an error", bad, mw != nil, err)
		}
	}
}
