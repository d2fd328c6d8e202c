package echoroute_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/internal/echoroute"
	"github.com/labstack/echo/v4"
)

// TestMatched: behind a group middleware, a real route matches; an unknown
// path under the group and a wrong method on a known path do not.
func TestMatched(t *testing.T) {
	e := echo.New()
	got := map[string]bool{}
	g := e.Group("/v1", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			got[c.Request().Method+" "+c.Request().URL.Path] = echoroute.Matched(c)
			return next(c)
		}
	})
	g.GET("/models", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	g.HEAD("/ping", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{http.MethodGet, "/v1/models", true},
		{http.MethodGet, "/v1/nope", false},
		{http.MethodPost, "/v1/models", false},
		{http.MethodHead, "/v1/ping", true},
	} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
		key := tc.method + " " + tc.path
		if m, ok := got[key]; !ok || m != tc.want {
			t.Errorf("%s: Matched = %v (ran %v), want %v", key, m, ok, tc.want)
		}
	}
}
