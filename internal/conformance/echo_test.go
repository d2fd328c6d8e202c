package conformance_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/conformance"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/nethttp"
	echo4 "github.com/labstack/echo/v4"
	echo4mw "github.com/labstack/echo/v4/middleware"
	echo5lib "github.com/labstack/echo/v5"
	echo5mw "github.com/labstack/echo/v5/middleware"
)

type payload struct {
	N int `json:"n"`
}

// TestEchoErrorsAgree: Echo's own errors (its binders, body limit, HTTP
// errors and sentinels) answer the same on the Echo v4 and the Echo v5
// door. Not here, because the two Echos decode JSON differently (v4 with a
// json.Decoder, v5 with json.Unmarshal): a body cut short (v4: "unexpected
// end of input"; v5 adds "at byte N") and data after the JSON value (v4
// ignores it; v5 answers 400).
func TestEchoErrorsAgree(t *testing.T) {
	cfg := errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}
	sentinels := []struct {
		name string
		v4   error
		v5   error
	}{
		{"400", echo4.ErrBadRequest, echo5lib.ErrBadRequest},
		{"401", echo4.ErrUnauthorized, echo5lib.ErrUnauthorized},
		{"403", echo4.ErrForbidden, echo5lib.ErrForbidden},
		{"404", echo4.ErrNotFound, echo5lib.ErrNotFound},
		{"405", echo4.ErrMethodNotAllowed, echo5lib.ErrMethodNotAllowed},
		{"408", echo4.ErrRequestTimeout, echo5lib.ErrRequestTimeout},
		{"413", echo4.ErrStatusRequestEntityTooLarge, echo5lib.ErrStatusRequestEntityTooLarge},
		{"415", echo4.ErrUnsupportedMediaType, echo5lib.ErrUnsupportedMediaType},
		{"429", echo4.ErrTooManyRequests, echo5lib.ErrTooManyRequests},
		{"500", echo4.ErrInternalServerError, echo5lib.ErrInternalServerError},
		{"502", echo4.ErrBadGateway, echo5lib.ErrBadGateway},
		{"503", echo4.ErrServiceUnavailable, echo5lib.ErrServiceUnavailable},
		{"418 with a message", echo4.NewHTTPError(http.StatusTeapot, "internal detail"), echo5lib.NewHTTPError(http.StatusTeapot, "internal detail")},
		{"400 around a 413", echo4.NewHTTPError(http.StatusBadRequest).SetInternal(echo4.ErrStatusRequestEntityTooLarge),
			echo5lib.ErrBadRequest.Wrap(echo5lib.ErrStatusRequestEntityTooLarge)},
		{"400 around a catalogue error", echo4.NewHTTPError(http.StatusBadRequest).SetInternal(errorsx.RateLimitExceeded()),
			echo5lib.ErrBadRequest.Wrap(errorsx.RateLimitExceeded())},
		{"wrapped 404", fmt.Errorf("finding: %w", echo4.ErrNotFound), fmt.Errorf("finding: %w", echo5lib.ErrNotFound)},
		{"binding error", echo4.NewBindingError("id", []string{"x"}, "path param", fmt.Errorf("strconv")),
			echo5lib.NewBindingError("id", []string{"x"}, "path value", fmt.Errorf("strconv"))},
		{"wrapped binding error", fmt.Errorf("reading: %w", echo4.NewBindingError("id", []string{"x"}, "m", nil)),
			fmt.Errorf("reading: %w", echo5lib.NewBindingError("id", []string{"x"}, "m", nil))},
		{"400 around a validator error", echo4.NewHTTPError(http.StatusBadRequest).SetInternal(validate.Struct(prompt{})),
			echo5lib.ErrBadRequest.Wrap(validate.Struct(prompt{}))},
		{"typed nil", (*echo4.HTTPError)(nil), (*echo5lib.HTTPError)(nil)},
	}

	e4 := echo4.New()
	e4.HTTPErrorHandler = middleware.ErrorHandler(cfg)
	e4.Pre(middleware.Must(middleware.Head(middleware.HeadConfig{})))
	e4.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})))
	e4.POST("/bind", func(c echo4.Context) error { var p payload; return c.Bind(&p) })
	e4.POST("/limited", func(c echo4.Context) error { var p payload; return c.Bind(&p) }, echo4mw.BodyLimit("8B"))
	e4.GET("/query", func(c echo4.Context) error {
		var n int
		return echo4.QueryParamsBinder(c).Int("n", &n).BindError()
	})
	e4.GET("/path/:id", func(c echo4.Context) error {
		var n int
		return echo4.PathParamsBinder(c).Int("id", &n).BindError()
	})
	for _, s := range sentinels {
		e4.GET("/sentinel/"+strings.ReplaceAll(s.name, " ", "-"), func(echo4.Context) error { return s.v4 })
	}

	e5 := echo5lib.New()
	e5.HTTPErrorHandler = echo5.ErrorHandler(cfg)
	e5.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{})))
	e5.Use(echo5.Must(echo5.RequestID(echo5.RequestIDConfig{})))
	e5.POST("/bind", func(c *echo5lib.Context) error { var p payload; return c.Bind(&p) })
	e5.POST("/limited", func(c *echo5lib.Context) error { var p payload; return c.Bind(&p) }, echo5mw.BodyLimit(8))
	e5.GET("/query", func(c *echo5lib.Context) error {
		var n int
		return echo5lib.QueryParamsBinder(c).Int("n", &n).BindError()
	})
	e5.GET("/path/:id", func(c *echo5lib.Context) error {
		var n int
		return echo5lib.PathValuesBinder(c).Int("id", &n).BindError()
	})
	for _, s := range sentinels {
		e5.GET("/sentinel/"+strings.ReplaceAll(s.name, " ", "-"), func(*echo5lib.Context) error { return s.v5 })
	}

	apps := []conformance.App{{Name: "echo4", Server: httptest.NewServer(e4)}, {Name: "echo5", Server: httptest.NewServer(e5)}}
	for _, a := range apps {
		t.Cleanup(a.Server.Close)
	}
	jsonBody := func(body string) conformance.Request {
		return conformance.Request{Method: "POST", Path: "/bind", Body: body, Header: http.Header{"Content-Type": {"application/json"}}}
	}
	reqs := []struct {
		name   string
		req    conformance.Request
		status int
	}{
		{"JSON syntax", jsonBody(`{"n":}`), 400},
		{"JSON type", jsonBody(`{"n":"x"}`), 400},
		{"JSON out of range", jsonBody(`{"n":1e400}`), 400},
		{"media type", conformance.Request{Method: "POST", Path: "/bind", Body: "n=1", Header: http.Header{"Content-Type": {"text/plain"}}}, 400},
		{"body limit", conformance.Request{Method: "POST", Path: "/limited", Body: `{"n":12345678901}`, Header: http.Header{"Content-Type": {"application/json"}}}, 400},
		{"query parameter", conformance.Request{Method: "GET", Path: "/query?n=x"}, 400},
		{"path parameter", conformance.Request{Method: "GET", Path: "/path/x"}, 400},
		{"HEAD of a path parameter", conformance.Request{Method: "HEAD", Path: "/path/x"}, 400},
		{"wrong method", conformance.Request{Method: "GET", Path: "/bind"}, 404},
	}
	for _, s := range sentinels {
		status := 0
		fmt.Sscanf(s.name, "%d", &status)
		switch {
		case status == 405:
			status = 404
		case status == 413:
			status = 400
		case status == 408 || status == 415 || status == 418:
			status = 400
		case status == 0 && strings.Contains(s.name, "404"):
			status = 404
		case status == 0 && strings.Contains(s.name, "binding"):
			status = 400
		case status == 0:
			status = 500
		case status == 502:
			status = 500
		}
		if s.name == "400 around a catalogue error" {
			status = 429
		}
		reqs = append(reqs, struct {
			name   string
			req    conformance.Request
			status int
		}{"sentinel " + s.name, conformance.Request{Method: "GET", Path: "/sentinel/" + strings.ReplaceAll(s.name, " ", "-")}, status})
	}
	for _, tc := range reqs {
		t.Run(tc.name, func(t *testing.T) {
			check(t, apps, row{req: tc.req, status: tc.status})
		})
	}
}

// TestErrPanic: the three doors share the cause of a recovered panic.
func TestErrPanic(t *testing.T) {
	if middleware.ErrPanic != echo5.ErrPanic || middleware.ErrPanic != nethttp.ErrPanic {
		t.Error("the doors' ErrPanic differ")
	}
}

// TestDefaults: the doors' defaults are the same.
func TestDefaults(t *testing.T) {
	for _, n := range []int{echo5.DefaultMaxHeaderBytes, nethttp.DefaultMaxHeaderBytes} {
		if n != middleware.DefaultMaxHeaderBytes {
			t.Errorf("DefaultMaxHeaderBytes %d, want Echo v4's %d", n, middleware.DefaultMaxHeaderBytes)
		}
	}
}
