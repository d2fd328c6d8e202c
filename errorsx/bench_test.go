package errorsx_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// discardWriter is a ResponseWriter that keeps only headers and status, so
// the benchmarks measure the renderers, not a recorder's buffer.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }

// presetID is the X-Request-Id the RequestID guard would already have
// put on the response. It is only read, so one slice serves every iteration.
var presetID = []string{"req_0b6f5f0e8d2a4e8b"}

type benchCase struct {
	name     string
	handler  func(e *echo.Echo) echo.HTTPErrorHandler
	err      error
	presetID bool
}

var benchCases = []benchCase{
	// The reference: Echo's own handler rendering an *echo.HTTPError 404.
	{name: "echo-default/HTTPError-404", handler: func(e *echo.Echo) echo.HTTPErrorHandler { return e.DefaultHTTPErrorHandler },
		err: echo.ErrNotFound, presetID: true},
	// The renderer, the id already set by guard.RequestID.
	{name: "errorsx/NotFound", handler: newBenchHandler, err: errorsx.NotFound(), presetID: true},
	// The renderer mapping Echo's own 404.
	{name: "errorsx/echo.ErrNotFound", handler: newBenchHandler, err: echo.ErrNotFound, presetID: true},
	// A wrapped catalogue error: the errors.As walk.
	{name: "errorsx/wrapped-NotFound", handler: newBenchHandler, err: fmt.Errorf("loading model: %w", errorsx.NotFound()), presetID: true},
	// The renderer without the guard: it makes a new UUID itself.
	{name: "errorsx/NotFound-new-uuid", handler: newBenchHandler, err: errorsx.NotFound(), presetID: false},
}

func newBenchHandler(*echo.Echo) echo.HTTPErrorHandler {
	return echo4.ErrorHandler(errorsx.HandlerConfig{Logger: discardLogger()})
}

// benchRequest is the same request for every renderer: GET with an Accept
// header and an incoming X-Request-Id that is not sane (so without the
// guard's preset id the renderer must make a UUID).
func benchRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/v1/models/clipia-x", nil)
	req.Header.Set(echo.HeaderAccept, "application/json")
	req.Header.Set(errorsx.HeaderRequestID, "not a sane id")
	return req
}

func renderOnce(h echo.HTTPErrorHandler, c echo.Context, req *http.Request, w *discardWriter, bc benchCase) {
	clear(w.h)
	c.Reset(req, w)
	if bc.presetID {
		w.h[errorsx.HeaderRequestID] = presetID
	}
	h(bc.err, c)
}

// BenchmarkRender compares the renderer with Echo's DefaultHTTPErrorHandler
// on the same request in the same run.
func BenchmarkRender(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			e := echo.New()
			h := bc.handler(e)
			req := benchRequest()
			w := &discardWriter{h: make(http.Header)}
			c := e.NewContext(req, w)
			renderOnce(h, c, req, w, bc)
			if w.code != http.StatusNotFound || w.n == 0 {
				b.Fatalf("got status %d and %d body bytes, want a 404 with a body", w.code, w.n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				renderOnce(h, c, req, w, bc)
			}
		})
	}
}

// BenchmarkRenderParallel is BenchmarkRender from all Ps at once.
func BenchmarkRenderParallel(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			e := echo.New()
			h := bc.handler(e)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := benchRequest()
				w := &discardWriter{h: make(http.Header)}
				c := e.NewContext(req, w)
				for pb.Next() {
					renderOnce(h, c, req, w, bc)
				}
			})
		})
	}
}

// BenchmarkUUIDNewString is what a new request id costs on its own.
func BenchmarkUUIDNewString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = uuid.NewString()
	}
}

// The renderer allocates no more than Echo's DefaultHTTPErrorHandler for the
// same 404, measured the same way (a regression guard for the benchmark's
// goal).
func TestRenderAllocsNoMoreThanEcho(t *testing.T) {
	allocs := func(bc benchCase) float64 {
		e := echo.New()
		h := bc.handler(e)
		req := benchRequest()
		w := &discardWriter{h: make(http.Header)}
		c := e.NewContext(req, w)
		return alloctest.PerRun(200, func() { renderOnce(h, c, req, w, bc) })
	}
	echoAllocs := allocs(benchCases[0])
	for _, bc := range benchCases[1:] {
		if got := allocs(bc); got > echoAllocs {
			t.Errorf("%s: got %.1f allocs per render, want at most Echo's %.1f", bc.name, got, echoAllocs)
		}
	}
}
