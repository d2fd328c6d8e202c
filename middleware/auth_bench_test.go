package middleware_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
)

// benchRW is a ResponseWriter that keeps nothing, so the benchmark measures
// the middleware and not a recorder.
type benchRW struct{ h http.Header }

func (w *benchRW) Header() http.Header         { return w.h }
func (w *benchRW) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchRW) WriteHeader(int)             {}

// benchServe runs GET /v1/models with the given Authorization through e on
// all Ps and checks the status of the first response.
func benchServe(b *testing.B, e *echo.Echo, authorization string, wantCode int) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	req.Header.Set("Authorization", authorization)
	e.ServeHTTP(rec, req)
	if rec.Code != wantCode {
		b.Fatalf("got status %d, want %d", rec.Code, wantCode)
	}
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		req.Header.Set("Authorization", authorization)
		w := &benchRW{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			e.ServeHTTP(w, req)
		}
	})
	b.StopTimer()
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func benchOK(c echo.Context) error { return c.NoContent(http.StatusOK) }

// BenchmarkAuth compares, in one run, apiguard's Auth + RequireScopes
// (SHA-256 of the key, digest table, principal into the context, scope
// check) with Echo's KeyAuth around a map lookup:
//
//   - echo-keyauth-map: KeyAuth whose validator only looks the clear key up
//     in a map (the baseline; it authenticates but sets no principal
//     and checks no scope);
//   - echo-keyauth-map+scope: the same, plus what apiguard also does, so the
//     work is equal: SetPrincipal in the validator and a scope check;
//   - apiguard: Auth + RequireScopes("models:read").
//
// The "reject" cases send an unknown key. Besides ns/op each reports
// cpu-ns/op, the process CPU time per request (GC included), which stays
// meaningful when other processes load the machine.
func BenchmarkAuth(b *testing.B) {
	keys := authDemoKeys()
	byKey := make(map[string]*principal.Principal, len(keys))
	for _, k := range keys {
		if !k.Revoked {
			byKey[k.Key] = &principal.Principal{KeyID: k.KeyID, Tenant: k.Tenant, Scopes: k.Scopes}
		}
	}
	quiet := slog.New(slog.DiscardHandler)

	keyAuthBare := func() *echo.Echo {
		e := echo.New()
		e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: quiet})
		e.Use(echomw.KeyAuth(func(key string, c echo.Context) (bool, error) {
			_, ok := byKey[key]
			return ok, nil
		}))
		e.GET("/v1/models", benchOK)
		return e
	}
	keyAuthScope := func() *echo.Echo {
		e := echo.New()
		e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: quiet})
		e.Use(echomw.KeyAuth(func(key string, c echo.Context) (bool, error) {
			p, ok := byKey[key]
			if ok {
				middleware.SetPrincipal(c, p)
			}
			return ok, nil
		}))
		scope := func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				p, _ := middleware.PrincipalFrom(c)
				if !p.HasScope("models:read") {
					return echo.ErrForbidden
				}
				return next(c)
			}
		}
		e.GET("/v1/models", benchOK, scope)
		return e
	}
	apiguard := func() *echo.Echo {
		e := echo.New()
		e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: quiet})
		e.Use(middleware.Must(middleware.Auth(auth.Config{Store: middleware.Must(auth.NewMemoryKeyStore(keys))})))
		e.GET("/v1/models", benchOK, middleware.Must(middleware.RequireScopes("models:read")))
		return e
	}

	b.Run("accept/echo-keyauth-map", func(b *testing.B) { benchServe(b, keyAuthBare(), "Bearer sk_test_full", 200) })
	b.Run("accept/echo-keyauth-map+scope", func(b *testing.B) { benchServe(b, keyAuthScope(), "Bearer sk_test_full", 200) })
	b.Run("accept/apiguard", func(b *testing.B) { benchServe(b, apiguard(), "Bearer sk_test_full", 200) })
	b.Run("reject/echo-keyauth-map", func(b *testing.B) { benchServe(b, keyAuthBare(), "Bearer sk_test_nope", 401) })
	b.Run("reject/apiguard", func(b *testing.B) { benchServe(b, apiguard(), "Bearer sk_test_nope", 401) })
}
