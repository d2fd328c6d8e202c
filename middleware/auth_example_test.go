package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
)

// Wiring auth and a per-route scope: the reference server's keys, one read
// route and one write route.
func ExampleAuth() {
	store, err := middleware.NewMemoryKeyStore([]middleware.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme",
			Scopes: []string{"models:read", "generations:read", "generations:write"}},
		{Key: "sk_test_readonly", KeyID: "key_readonly", Tenant: "acme",
			Scopes: []string{"models:read", "generations:read"}},
		{Key: "sk_test_revoked", KeyID: "key_revoked", Tenant: "acme", Revoked: true},
	})
	if err != nil {
		panic(err)
	}
	auth, err := middleware.Auth(middleware.AuthConfig{
		Store: store,
	})
	if err != nil {
		panic(err)
	}

	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), auth)
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

// Keys can be configured by digest, so the configuration holds no secret.
// HashKey computes the digest offline.
func ExampleNewMemoryKeyStore() {
	fmt.Println(middleware.HashKey("sk_test_full"))

	store, err := middleware.NewMemoryKeyStore([]middleware.KeyConfig{
		{SHA256: "4cd1c4ad0e3a8b2efe4d4ed2c0ae1ca8e1f62cb9e4c9c1c80f1aa8a2c1e1e4a0", KeyID: "key_a", Tenant: "acme"},
		{SHA256: middleware.HashKey("sk_test_full"), KeyID: "key_full", Tenant: "acme"},
	})
	if err != nil {
		panic(err)
	}
	p, err := store.Lookup(context.Background(), "sk_test_full")
	fmt.Println(p.KeyID, p.Tenant, err)

	_, err = middleware.NewMemoryKeyStore([]middleware.KeyConfig{
		{Key: "sk_a", KeyID: "a"}, {Key: "sk_a", KeyID: "b"},
	})
	fmt.Println(err)
	// Output:
	// 7f2dcfc2cb7f67ad9765d9129c5aac345a244eb9e807b22242bf0f4bc924945c
	// key_full acme <nil>
	// apiguard: key 1 (key id "b"): same key as key id "a"
}

// RequireAnyScope lets a request through with at least one of the scopes.
func ExampleRequireAnyScope() {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	auth := middleware.Must(middleware.Auth(middleware.AuthConfig{
		Store: middleware.Must(middleware.NewMemoryKeyStore([]middleware.KeyConfig{
			{Key: "sk_reader", KeyID: "r", Scopes: []string{"generations:read"}},
			{Key: "sk_billing", KeyID: "b", Scopes: []string{"billing:read"}},
		})),
	}))
	e.GET("/v1/balance", func(c echo.Context) error {
		return c.String(http.StatusOK, "balance")
	}, auth, middleware.Must(middleware.RequireAnyScope("billing:read", "admin")))

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

// A slow store (a database) behind a cache: the second lookup of a key
// within the TTL does not reach the store.
func ExampleNewCachedKeyStore() {
	calls := 0
	db := middleware.KeyStoreFunc(func(ctx context.Context, key string) (*principal.Principal, error) {
		calls++ // a SELECT … WHERE key_sha256 = $1 in a real app
		if key == "sk_test_full" {
			return &principal.Principal{KeyID: "key_full", Tenant: "acme"}, nil
		}
		return nil, middleware.ErrKeyNotFound
	})
	store, err := middleware.NewCachedKeyStore(db, middleware.CacheConfig{TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	for range 3 {
		p, _ := store.Lookup(context.Background(), "sk_test_full")
		fmt.Println(p.KeyID)
	}
	fmt.Println("store calls:", calls)
	// Output:
	// key_full
	// key_full
	// key_full
	// store calls: 1
}
