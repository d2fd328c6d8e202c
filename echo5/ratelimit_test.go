package echo5_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/doortest"
	"github.com/labstack/echo/v5"
)

// rateLimitApp is the Echo v5 app of the rate-limit suite.
func rateLimitApp(_ testing.TB, cfg ratelimit.Config, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	mw, err := echo5.RateLimit(cfg)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.GET(doortest.Path, func(c *echo.Context) error { return h(c.Response(), c.Request()) }, mw)
	return e, nil
}

func TestRateLimit(t *testing.T) { doortest.Run(t, rateLimitApp) }

func BenchmarkRateLimit(b *testing.B) { doortest.Bench(b, rateLimitApp) }
