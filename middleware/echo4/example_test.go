package echo4_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// An Echo v4 app with API-key auth on the /v1 group and a scope on one
// route. Every failure is one row of the catalogue; an unknown route and a
// wrong method are 404 before auth runs; HEAD answers as GET, without a
// body.
func Example() {
	keys := guard.Must(auth.NewMemoryKeyStore([]auth.KeyConfig{
		{Key: "sk_test_full", KeyID: "key_full", Tenant: "acme", Scopes: []string{"models:read"}},
		{Key: "sk_test_none", KeyID: "key_none", Tenant: "acme"},
	}))
	authn := guard.Must(auth.New(auth.Config{Store: keys}))
	read := guard.Must(auth.RequireScopes("models:read"))

	e := echo.New()
	echo4.Install(e, echo4.Config{
		Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		Use:    []guard.Guard{guard.RequestID(guard.RequestIDConfig{})},
	})
	v1 := e.Group("/v1", echo4.Use(authn))
	v1.GET("/models/:id", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"id": c.Param("id")})
	}, echo4.Use(read))

	for _, tc := range []struct{ method, path, key string }{
		{"GET", "/v1/models/clipia-fast", "sk_test_full"},
		{"HEAD", "/v1/models/clipia-fast", "sk_test_full"},
		{"GET", "/v1/models/clipia-fast", ""},
		{"GET", "/v1/models/clipia-fast", "sk_test_none"},
		{"GET", "/v1/nope", ""},
		{"DELETE", "/v1/models/clipia-fast", "sk_test_full"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		body := strings.TrimSpace(rec.Body.String())
		if tc.method == http.MethodHead {
			body = "Content-Length " + rec.Header().Get("Content-Length") + ", no body"
		}
		fmt.Printf("%s %s: %d %s\n", tc.method, tc.path, rec.Code, body)
	}
	// Output:
	// GET /v1/models/clipia-fast: 200 {"id":"clipia-fast"}
	// HEAD /v1/models/clipia-fast: 200 Content-Length 21, no body
	// GET /v1/models/clipia-fast: 401 {"error":{"type":"authentication_error","code":"invalid_api_key","message":"The API key is missing, invalid or revoked."}}
	// GET /v1/models/clipia-fast: 403 {"error":{"type":"permission_error","code":"insufficient_scope","message":"This API key lacks the required scope: models:read"}}
	// GET /v1/nope: 404 {"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}
	// DELETE /v1/models/clipia-fast: 404 {"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}
}
