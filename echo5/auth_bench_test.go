package echo5_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/authtest"
	"github.com/labstack/echo/v5"
)

// BenchmarkAuth is Auth + RequireScopes("models:read") over a
// MemoryKeyStore on Echo v5: the counterpart of middleware's
// BenchmarkAuth/*/apiguard (Echo v4) and nethttp's BenchmarkAuth. "reject"
// sends an unknown key.
func BenchmarkAuth(b *testing.B) {
	app := func() *echo.Echo {
		e := echo.New()
		e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
		e.Use(echo5.Must(echo5.Auth(auth.Config{Store: echo5.Must(auth.NewMemoryKeyStore(authtest.Keys()))})))
		e.GET("/v1/models", func(c *echo.Context) error { return c.NoContent(http.StatusOK) },
			echo5.Must(echo5.RequireScopes("models:read")))
		return e
	}
	b.Run("accept", func(b *testing.B) { authtest.Bench(b, app(), "Bearer sk_test_full", 200) })
	b.Run("reject", func(b *testing.B) { authtest.Bench(b, app(), "Bearer sk_test_nope", 401) })
}
