package guard_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// A guard is a function of the request and the door's Call (guard.Func
// makes one): it returns an error, which the door renders, or passes the
// request on with c.Next. guard.Chain names a stack of guards once, to
// mount on any door (here Echo v4). The chain answers an unknown route
// 404 before its first guard runs, so the tenant check never sees
// /v1/nope; the route is the one canonical template on every door.
func ExampleChain() {
	tenant := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		t := r.Header.Get("X-Tenant")
		if t == "" {
			return errorsx.InvalidRequest().WithParam("X-Tenant").WithMessage("Send the X-Tenant header.")
		}
		fmt.Printf("tenant %s on %s (id %s)\n", t, c.Route(), c.Param("id"))
		return c.Next(w, r)
	})
	perTenant := guard.Chain(tenant /* , a rate limit, … */)

	e := echo.New()
	echo4.Install(e, echo4.Config{Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}})
	v1 := e.Group("/v1", echo4.Use(perTenant))
	v1.GET("/models/:id", func(c echo.Context) error { return c.String(http.StatusOK, "model "+c.Param("id")) })

	for _, tc := range []struct{ path, tenant string }{
		{"/v1/models/clipia-fast", "acme"},
		{"/v1/models/clipia-fast", ""},
		{"/v1/nope", ""},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.tenant != "" {
			req.Header.Set("X-Tenant", tc.tenant)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// tenant acme on /v1/models/{id} (id clipia-fast)
	// 200 model clipia-fast
	// 400 {"error":{"type":"invalid_request_error","code":"invalid_request","message":"Send the X-Tenant header.","param":"X-Tenant"}}
	// 404 {"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}
}

// Template spells every router's pattern of a route the same way.
func ExampleTemplate() {
	for _, p := range []string{
		"/v1/generations/:id",         // Echo, gin
		"GET /v1/generations/{id}",    // ServeMux
		"/v1/generations/{id:gen_.+}", // chi
		"/static/*path",               // gin
		"GET /static/{path...}",       // ServeMux
	} {
		fmt.Println(guard.Template(p))
	}
	// Output:
	// /v1/generations/{id}
	// /v1/generations/{id}
	// /v1/generations/{id}
	// /static/{path}
	// /static/{path}
}

// CleanPath reads a path once for every door: encoded unreserved
// characters are the characters; an empty, "." or ".." segment routes
// nowhere (the door answers 404, never a redirect).
func ExampleCleanPath() {
	for _, target := range []string{"/%761/mod%65ls", "/v1/models%2fx", "//v1/models", "/v1/%2e%2e/admin"} {
		u, _ := url.ParseRequestURI(target)
		r := &http.Request{Method: http.MethodGet, URL: u}
		ok := guard.CleanPath(r)
		fmt.Println(target, ok, r.URL.EscapedPath())
	}
	// Output:
	// /%761/mod%65ls true /v1/models
	// /v1/models%2fx true /v1/models%2Fx
	// //v1/models false //v1/models
	// /v1/%2e%2e/admin false /v1/../admin
}
