package middleware_test

import (
	"net/http"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// BenchmarkIdempotency is the guard through the Echo v4 front door (what
// idempotency's BenchmarkMiddleware measured before the core became
// framework-neutral).
func BenchmarkIdempotency(b *testing.B) {
	guardtest.Bench(b, func(cfg *idempotency.Config, h http.HandlerFunc) http.Handler {
		e := echo.New()
		e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
		if cfg != nil {
			e.Use(middleware.Must(middleware.Idempotency(*cfg)))
		}
		e.POST("/v1/generations", func(c echo.Context) error {
			h(c.Response(), c.Request())
			return nil
		})
		return e
	})
}
