package middleware_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// benchWriter keeps only headers, status and a byte count.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkFrontDoor is a request through the Echo v4 front door's basics
// (Head, RequestID, Recover, HeaderLimit, ErrorHandler): a success, a HEAD
// of it, an unknown route and a handler's error.
func BenchmarkFrontDoor(b *testing.B) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Pre(middleware.Must(middleware.Head(middleware.HeadConfig{})))
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})))
	e.Use(middleware.Must(middleware.Recover(middleware.RecoverConfig{})))
	e.Use(middleware.Must(middleware.HeaderLimit(middleware.HeaderLimitConfig{})))
	e.GET("/v1/items/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/v1/fail", func(c echo.Context) error { return errorsx.RateLimitExceeded() })
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"GET-204", "GET", "/v1/items/7", 204},
		{"HEAD-204", "HEAD", "/v1/items/7", 204},
		{"unknown-404", "GET", "/nope", 404},
		{"handler-429", "GET", "/v1/fail", 429},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set(errorsx.HeaderRequestID, "req_0b6f5f0e8d2a4e8b")
			w := &benchWriter{h: make(http.Header)}
			e.ServeHTTP(w, req)
			if w.code != tc.want {
				b.Fatalf("got %d, want %d", w.code, tc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				e.ServeHTTP(w, req)
			}
		})
	}
}
