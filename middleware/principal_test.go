package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// TestAuthPrincipalInRequestContext: behind Auth, the caller is in the
// request's context.Context, so a plain net/http handler (another front
// door) finds it with principal.FromContext, and PrincipalFrom agrees.
func TestAuthPrincipalInRequestContext(t *testing.T) {
	e := echo.New()
	e.Use(middleware.Must(middleware.Auth(auth.Config{
		Store: middleware.Must(auth.NewMemoryKeyStore(authDemoKeys())),
	})))
	var fromEcho *principal.Principal
	e.GET("/v1/whoami", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := principal.FromContext(r.Context())
		if !ok {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(p.KeyID + " " + p.Tenant))
	})))
	e.GET("/v1/echo", func(c echo.Context) error {
		fromEcho, _ = middleware.PrincipalFrom(c)
		p, _ := principal.FromContext(c.Request().Context())
		if p != fromEcho {
			t.Errorf("PrincipalFrom = %v, principal.FromContext = %v; want the same", fromEcho, p)
		}
		return c.NoContent(http.StatusNoContent)
	})

	req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer sk_test_full")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "key_full acme" {
		t.Errorf("net/http handler: got %d %q, want 200 \"key_full acme\"", rec.Code, rec.Body.String())
	}

	req = httptest.NewRequest(http.MethodGet, "/v1/echo", nil)
	req.Header.Set("Authorization", "Bearer sk_test_other")
	e.ServeHTTP(httptest.NewRecorder(), req)
	if fromEcho == nil || fromEcho.KeyID != "key_other" {
		t.Errorf("echo handler: got %v, want key_other", fromEcho)
	}
}

// TestSetPrincipalContext: an app's own authentication calls SetPrincipal;
// the request's context carries the caller from then on, and the
// request's other context values survive.
func TestSetPrincipalContext(t *testing.T) {
	type ctxKey struct{}
	e := echo.New()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(context.WithValue(req.Context(), ctxKey{}, "kept"))
	c := e.NewContext(req, httptest.NewRecorder())
	if _, ok := middleware.PrincipalFrom(c); ok {
		t.Fatal("a fresh request has a principal")
	}
	p := &principal.Principal{KeyID: "k", Tenant: "t"}
	middleware.SetPrincipal(c, p)
	if got, ok := principal.FromContext(c.Request().Context()); !ok || got != p {
		t.Errorf("principal.FromContext = %v, %v; want the principal set", got, ok)
	}
	if got, ok := middleware.PrincipalFrom(c); !ok || got != p {
		t.Errorf("PrincipalFrom = %v, %v; want the principal set", got, ok)
	}
	if _, ok := principal.FromContext(req.Context()); ok {
		t.Error("SetPrincipal changed the context of the original request")
	}
	if v, _ := c.Request().Context().Value(ctxKey{}).(string); v != "kept" {
		t.Errorf("the request's other context value is %q, want \"kept\"", v)
	}
}
