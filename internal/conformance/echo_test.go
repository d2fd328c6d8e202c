package conformance_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/conformance"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/clipia/apiguard/middleware/echo5"
	echov4 "github.com/labstack/echo/v4"
	echov4mw "github.com/labstack/echo/v4/middleware"
	echov5 "github.com/labstack/echo/v5"
	echov5mw "github.com/labstack/echo/v5/middleware"
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
		{"400", echov4.ErrBadRequest, echov5.ErrBadRequest},
		{"401", echov4.ErrUnauthorized, echov5.ErrUnauthorized},
		{"403", echov4.ErrForbidden, echov5.ErrForbidden},
		{"404", echov4.ErrNotFound, echov5.ErrNotFound},
		{"405", echov4.ErrMethodNotAllowed, echov5.ErrMethodNotAllowed},
		{"408", echov4.ErrRequestTimeout, echov5.ErrRequestTimeout},
		{"413", echov4.ErrStatusRequestEntityTooLarge, echov5.ErrStatusRequestEntityTooLarge},
		{"415", echov4.ErrUnsupportedMediaType, echov5.ErrUnsupportedMediaType},
		{"429", echov4.ErrTooManyRequests, echov5.ErrTooManyRequests},
		{"500", echov4.ErrInternalServerError, echov5.ErrInternalServerError},
		{"502", echov4.ErrBadGateway, echov5.ErrBadGateway},
		{"503", echov4.ErrServiceUnavailable, echov5.ErrServiceUnavailable},
		{"418 with a message", echov4.NewHTTPError(http.StatusTeapot, "internal detail"), echov5.NewHTTPError(http.StatusTeapot, "internal detail")},
		{"400 around a 413", echov4.NewHTTPError(http.StatusBadRequest).SetInternal(echov4.ErrStatusRequestEntityTooLarge),
			echov5.ErrBadRequest.Wrap(echov5.ErrStatusRequestEntityTooLarge)},
		{"400 around a catalogue error", echov4.NewHTTPError(http.StatusBadRequest).SetInternal(errorsx.RateLimitExceeded()),
			echov5.ErrBadRequest.Wrap(errorsx.RateLimitExceeded())},
		{"wrapped 404", fmt.Errorf("finding: %w", echov4.ErrNotFound), fmt.Errorf("finding: %w", echov5.ErrNotFound)},
		{"binding error", echov4.NewBindingError("id", []string{"x"}, "path param", fmt.Errorf("strconv")),
			echov5.NewBindingError("id", []string{"x"}, "path value", fmt.Errorf("strconv"))},
		{"wrapped binding error", fmt.Errorf("reading: %w", echov4.NewBindingError("id", []string{"x"}, "m", nil)),
			fmt.Errorf("reading: %w", echov5.NewBindingError("id", []string{"x"}, "m", nil))},
		{"400 around a validator error", echov4.NewHTTPError(http.StatusBadRequest).SetInternal(validate.Struct(prompt{})),
			echov5.ErrBadRequest.Wrap(validate.Struct(prompt{}))},
		{"typed nil", (*echov4.HTTPError)(nil), (*echov5.HTTPError)(nil)},
	}

	requestID := []guard.Guard{guard.RequestID(guard.RequestIDConfig{})}
	e4 := echov4.New()
	echo4.Install(e4, echo4.Config{Errors: cfg, Use: requestID})
	e4.POST("/bind", func(c echov4.Context) error { var p payload; return c.Bind(&p) })
	e4.POST("/limited", func(c echov4.Context) error { var p payload; return c.Bind(&p) }, echov4mw.BodyLimit("8B"))
	e4.GET("/query", func(c echov4.Context) error {
		var n int
		return echov4.QueryParamsBinder(c).Int("n", &n).BindError()
	})
	e4.GET("/path/:id", func(c echov4.Context) error {
		var n int
		return echov4.PathParamsBinder(c).Int("id", &n).BindError()
	})
	for _, s := range sentinels {
		e4.GET("/sentinel/"+strings.ReplaceAll(s.name, " ", "-"), func(echov4.Context) error { return s.v4 })
	}

	e5 := echov5.New()
	echo5.Install(e5, echo5.Config{Errors: cfg, Use: requestID})
	e5.POST("/bind", func(c *echov5.Context) error { var p payload; return c.Bind(&p) })
	e5.POST("/limited", func(c *echov5.Context) error { var p payload; return c.Bind(&p) }, echov5mw.BodyLimit(8))
	e5.GET("/query", func(c *echov5.Context) error {
		var n int
		return echov5.QueryParamsBinder(c).Int("n", &n).BindError()
	})
	e5.GET("/path/:id", func(c *echov5.Context) error {
		var n int
		return echov5.PathValuesBinder(c).Int("id", &n).BindError()
	})
	for _, s := range sentinels {
		e5.GET("/sentinel/"+strings.ReplaceAll(s.name, " ", "-"), func(*echov5.Context) error { return s.v5 })
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
