package middleware_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/nethttp"
	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
	echov5 "github.com/labstack/echo/v5"
)

// benchGeneration is a typical generation request, the same struct for
// every binder.
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

// benchStack is one way of serving POST /v1/generations.
type benchStack int

const (
	stackEchoBare    benchStack = iota // Echo v4 c.Bind + c.Validate
	stackEcho                          // middleware.Bind (Echo v4)
	stackEcho5                         // echo5.Bind (Echo v5)
	stackNetHTTP                       // nethttp.Bind on a ServeMux
	stackNetHTTPBare                   // net/http: json Decode + validator.Struct
)

func benchHandler(b *testing.B, stack benchStack, cfg bind.Config) http.Handler {
	switch stack {
	case stackEcho:
		e := echo.New()
		e.HTTPErrorHandler = newRenderer()
		e.POST("/v1/generations", func(c echo.Context) error {
			if middleware.Body[benchGeneration](c) == nil {
				b.Fatal("no body")
			}
			return c.NoContent(http.StatusNoContent)
		}, middleware.Must(middleware.Bind[benchGeneration](cfg)))
		return e
	case stackEcho5:
		e := echov5.New()
		e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
		e.POST("/v1/generations", func(c *echov5.Context) error {
			if echo5.Body[benchGeneration](c) == nil {
				b.Fatal("no body")
			}
			return c.NoContent(http.StatusNoContent)
		}, echo5.Must(echo5.Bind[benchGeneration](cfg)))
		return e
	case stackNetHTTP:
		mux := http.NewServeMux()
		mux.Handle("POST /v1/generations", nethttp.Must(nethttp.Bind[benchGeneration](cfg))(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if nethttp.Body[benchGeneration](r) == nil {
					b.Fatal("no body")
				}
				w.WriteHeader(http.StatusNoContent)
			})))
		return mux
	case stackNetHTTPBare:
		v := bind.NewValidator()
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/generations", func(w http.ResponseWriter, r *http.Request) {
			var req benchGeneration
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				nethttp.Error(w, r, err)
				return
			}
			if err := v.Struct(&req); err != nil {
				nethttp.Error(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		return mux
	}
	e := echo.New()
	e.HTTPErrorHandler = newRenderer()
	e.Validator = &echoValidator{v: bind.NewValidator()}
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

// serveLoop sends the same request n times through h, reusing the request
// and the writer.
type serveLoop struct {
	h   http.Handler
	req *http.Request
	rd  *bytes.Reader
	w   *discardWriter
}

func newServeLoop(h http.Handler) *serveLoop {
	rd := bytes.NewReader(benchBody)
	req, _ := http.NewRequest(http.MethodPost, "/v1/generations", io.NopCloser(rd))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	return &serveLoop{h: h, req: req, rd: rd, w: &discardWriter{h: http.Header{}}}
}

func (l *serveLoop) once() {
	l.rd.Reset(benchBody)
	l.req.ContentLength = int64(len(benchBody))
	l.h.ServeHTTP(l.w, l.req)
}

// BenchmarkBindGeneration compares bind + validate of a typical generation
// request through Bind with Echo's c.Bind + c.Validate (validator/v10), and
// shows the cost of the model rules on top; then the same Bind through the
// Echo v5 and net/http front doors, against a bare net/http handler that
// decodes with encoding/json and calls validator.Struct.
func BenchmarkBindGeneration(b *testing.B) {
	models, err := bind.NewMemoryModels(bind.Model{
		ID: "clipia-fast",
		Rules: []bind.Rule{
			bind.MaxInt("duration", 10, "seconds"),
			bind.OneOf("resolution", "480p", "720p"),
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		stack benchStack
		cfg   bind.Config
	}{
		{"echo-bind-validate", stackEchoBare, bind.Config{}},
		{"apiguard-bind", stackEcho, bind.Config{}},
		{"apiguard-bind-strict", stackEcho, bind.Config{Strict: true}},
		{"apiguard-bind-models", stackEcho, bind.Config{Models: models}},
		{"echo5-bind", stackEcho5, bind.Config{}},
		{"nethttp-bind", stackNetHTTP, bind.Config{}},
		{"nethttp-decode-validate", stackNetHTTPBare, bind.Config{}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			l := newServeLoop(benchHandler(b, tc.stack, tc.cfg))
			b.ReportAllocs()
			for b.Loop() {
				l.once()
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			h := benchHandler(b, tc.stack, tc.cfg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				l := newServeLoop(h)
				for pb.Next() {
					l.once()
				}
			})
		})
	}
}
