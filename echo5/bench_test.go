package echo5_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/labstack/echo/v5"
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

// presetID is the X-Request-Id the RequestID middleware would already have
// put on the response; only read, so one slice serves every iteration.
var presetID = []string{"req_0b6f5f0e8d2a4e8b"}

// BenchmarkErrorHandler compares echo5.ErrorHandler with Echo v5's
// DefaultHTTPErrorHandler on the same request, as errorsx's
// BenchmarkRender does for Echo v4: the router's 404, a catalogue error,
// and a whole request to an unknown route through the app.
func BenchmarkErrorHandler(b *testing.B) {
	ours := echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		name string
		h    echo.HTTPErrorHandler
		err  error
	}{
		{"echo-default/ErrNotFound", echo.DefaultHTTPErrorHandler(false), echo.ErrNotFound},
		{"echo5/ErrNotFound", ours, echo.ErrNotFound},
		{"echo5/errorsx.NotFound", ours, errorsx.NotFound()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := echo.New()
			req := httptest.NewRequest(http.MethodGet, "/v1/models/clipia-x", nil)
			req.Header.Set(errorsx.HeaderRequestID, "req_0b6f5f0e8d2a4e8b")
			w := &benchWriter{h: make(http.Header)}
			c := e.NewContext(req, w)
			once := func() {
				clear(w.h)
				w.h[errorsx.HeaderRequestID] = presetID // as echo5.RequestID would have
				c.Reset(req, w)
				tc.h(c, tc.err)
			}
			once()
			if w.code != http.StatusNotFound || w.n == 0 {
				b.Fatalf("got %d and %d body bytes, want a 404 with a body", w.code, w.n)
			}
			b.ReportAllocs()
			for b.Loop() {
				once()
			}
		})
	}
	for _, tc := range []struct {
		name string
		h    echo.HTTPErrorHandler
	}{
		{"app/echo-default/unknown-404", echo.DefaultHTTPErrorHandler(false)},
		{"app/echo5/unknown-404", ours},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := echo.New()
			e.HTTPErrorHandler = tc.h
			e.GET("/v1/items/:id", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) })
			req := httptest.NewRequest(http.MethodGet, "/nope", nil)
			req.Header.Set(errorsx.HeaderRequestID, "req_0b6f5f0e8d2a4e8b")
			w := &benchWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				e.ServeHTTP(w, req)
			}
			if w.code != http.StatusNotFound {
				b.Fatalf("got %d", w.code)
			}
		})
	}
}
