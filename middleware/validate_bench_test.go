package middleware_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/clipia/apiguard/middleware"
	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
)

// benchGeneration is a typical generation request, the same struct for
// both binders.
type benchGeneration struct {
	Model      string `json:"model" validate:"required"`
	Prompt     string `json:"prompt" validate:"required,max=4000"`
	Duration   int    `json:"duration" validate:"omitempty,min=1"`
	Resolution string `json:"resolution" validate:"omitempty,oneof=480p 720p 1080p 4k"`
	Seed       *int64 `json:"seed"`
}

func (g *benchGeneration) ModelID() string { return g.Model }

var benchBody = []byte(`{"model":"clipia-fast","prompt":"a cat riding a skateboard through a rainy neon city, cinematic, 35mm","duration":8,"resolution":"720p","seed":42}`)

// echoValidator is the usual Echo setup: validator/v10 behind e.Validator.
type echoValidator struct{ v *validator.Validate }

func (ev *echoValidator) Validate(i any) error { return ev.v.Struct(i) }

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures binding, not recording. Like net/http's own writers it takes a
// read deadline (and ignores it), so Bind's body deadline costs what it
// costs on a real server, not http.ResponseController's error for writers
// that cannot.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header             { return w.h }
func (w *discardWriter) Write(b []byte) (int, error)     { return len(b), nil }
func (w *discardWriter) WriteHeader(int)                 {}
func (w *discardWriter) SetReadDeadline(time.Time) error { return nil }

func benchEcho(b *testing.B, withMiddleware bool, cfg middleware.BindConfig) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = newRenderer()
	if withMiddleware {
		e.POST("/v1/generations", func(c echo.Context) error {
			if middleware.Body[benchGeneration](c) == nil {
				b.Fatal("no body")
			}
			return c.NoContent(http.StatusNoContent)
		}, middleware.Must(middleware.Bind[benchGeneration](cfg)))
		return e
	}
	e.Validator = &echoValidator{v: middleware.NewValidator()}
	e.POST("/v1/generations", func(c echo.Context) error {
		var req benchGeneration
		if err := c.Bind(&req); err != nil {
			return err
		}
		if err := c.Validate(&req); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	return e
}

// serveLoop sends the same request n times through e, reusing the request
// and the writer.
type serveLoop struct {
	e   *echo.Echo
	req *http.Request
	rd  *bytes.Reader
	w   *discardWriter
}

func newServeLoop(e *echo.Echo) *serveLoop {
	rd := bytes.NewReader(benchBody)
	req, _ := http.NewRequest(http.MethodPost, "/v1/generations", io.NopCloser(rd))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	return &serveLoop{e: e, req: req, rd: rd, w: &discardWriter{h: http.Header{}}}
}

func (l *serveLoop) once() {
	l.rd.Reset(benchBody)
	l.req.ContentLength = int64(len(benchBody))
	l.e.ServeHTTP(l.w, l.req)
}

// BenchmarkBindGeneration compares bind + validate of a typical generation
// request through Bind with Echo's c.Bind + c.Validate (validator/v10), and
// shows the cost of the model rules on top.
func BenchmarkBindGeneration(b *testing.B) {
	models, err := middleware.NewMemoryModels(middleware.Model{
		ID: "clipia-fast",
		Rules: []middleware.Rule{
			middleware.MaxInt("duration", 10, "seconds"),
			middleware.OneOf("resolution", "480p", "720p"),
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		mw   bool
		cfg  middleware.BindConfig
	}{
		{"echo-bind-validate", false, middleware.BindConfig{}},
		{"apiguard-bind", true, middleware.BindConfig{}},
		{"apiguard-bind-strict", true, middleware.BindConfig{Strict: true}},
		{"apiguard-bind-models", true, middleware.BindConfig{Models: models}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			l := newServeLoop(benchEcho(b, tc.mw, tc.cfg))
			b.ReportAllocs()
			for b.Loop() {
				l.once()
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			e := benchEcho(b, tc.mw, tc.cfg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				l := newServeLoop(e)
				for pb.Next() {
					l.once()
				}
			})
		})
	}
}
