package echo5_test

import (
	"net/http"
	"testing"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
	"github.com/labstack/echo/v5"
)

// BenchmarkIdempotency is the guard through the Echo v5 front door.
func BenchmarkIdempotency(b *testing.B) {
	guardtest.Bench(b, func(cfg *idempotency.Config, h http.HandlerFunc) http.Handler {
		e := echo.New()
		e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{})
		if cfg != nil {
			e.Use(echo5.Must(echo5.Idempotency(*cfg)))
		}
		e.POST("/v1/generations", func(c *echo.Context) error {
			h(c.Response(), c.Request())
			return nil
		})
		return e
	})
}
