package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// Wiring auth and a per-route scope: the reference server's keys, one read
// route and one write route.
func ExampleAuth() {
	store, err := auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme",
			Scopes: []string{"models:read", "generations:read", "generations:write"}},
		{Key: "sk_test_readonly", KeyID: "key_readonly", Tenant: "acme",
			Scopes: []string{"models:read", "generations:read"}},
		{Key: "sk_test_revoked", KeyID: "key_revoked", Tenant: "acme", Revoked: true},
	})
	if err != nil {
		panic(err)
	}
	guard, err := middleware.Auth(auth.Config{
		Store: store,
	})
	if err != nil {
		panic(err)
	}

	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), guard)
	e.POST("/v1/generations", func(c echo.Context) error {
		p, _ := middleware.PrincipalFrom(c)
		return c.String(http.StatusCreated, "created for "+p.Tenant)
	}, middleware.Must(middleware.RequireScopes("generations:write")))

	for _, key := range []string{"sk_test_full", "sk_test_readonly", "sk_test_revoked", ""} {
		req := httptest.NewRequest(http.MethodPost, "/v1/generations", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// 201 created for acme
	// 403 {"error":{"type":"permission_error","code":"insufficient_scope","message":"This API key lacks the required scope: generations:write"}}
	// 401 {"error":{"type":"authentication_error","code":"invalid_api_key","message":"The API key is missing, invalid or revoked."}}
	// 401 {"error":{"type":"authentication_error","code":"invalid_api_key","message":"The API key is missing, invalid or revoked."}}
}

// RequireAnyScope lets a request through with at least one of the scopes.
func ExampleRequireAnyScope() {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	guard := middleware.Must(middleware.Auth(auth.Config{
		Store: middleware.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
			{Key: "sk_reader", KeyID: "r", Scopes: []string{"generations:read"}},
			{Key: "sk_billing", KeyID: "b", Scopes: []string{"billing:read"}},
		})),
	}))
	e.GET("/v1/balance", func(c echo.Context) error {
		return c.String(http.StatusOK, "balance")
	}, guard, middleware.Must(middleware.RequireAnyScope("billing:read", "admin")))

	for _, key := range []string{"sk_billing", "sk_reader"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/balance", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// 200 balance
	// 403 {"error":{"type":"permission_error","code":"insufficient_scope","message":"This API key needs one of the scopes: billing:read, admin"}}
}
