package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/conformance"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/nethttp"
	"github.com/go-playground/validator/v10"
	echo4 "github.com/labstack/echo/v4"
	echo5lib "github.com/labstack/echo/v5"
)

// catalogue is one handler error per row of the catalogue, the errors of
// the renderer's golden files (errorsx/golden_test.go), by golden file.
var catalogue = []struct {
	file string
	err  error
}{
	{"400_invalid_request.http", errorsx.InvalidRequest().WithParam("prompt").WithMessage("prompt is required")},
	{"401_invalid_api_key.http", errorsx.InvalidAPIKey()},
	{"402_insufficient_credits.http", errorsx.InsufficientCredits()},
	{"403_insufficient_scope.http", errorsx.InsufficientScope().WithMessage("This API key lacks the generations:write scope.")},
	{"404_not_found.http", errorsx.NotFound()},
	{"409_idempotency_key_reuse.http", errorsx.IdempotencyKeyReuse()},
	{"409_request_in_progress.http", errorsx.RequestInProgress().WithRetryAfter(2 * time.Second)},
	{"422_model_input_invalid.http", errorsx.ModelInputInvalid().WithParam("duration").WithMessage("duration must be at most 10 for clipia-fast")},
	{"429_rate_limit_exceeded.http", errorsx.RateLimitExceeded().WithRetryAfter(1500 * time.Millisecond)},
	{"500_internal_error.http", errors.New("dial tcp 10.0.0.7:6379: connect: connection refused")},
	{"503_service_unavailable.http", errorsx.ServiceUnavailable().WithRetryAfter(time.Second)},
}

// errorPath is the route of a catalogue row's error.
func errorPath(file string) string { return "/v1/errors/" + strings.TrimSuffix(file, ".http") }

// keyGuards is a guard on the group, written for each door as a guard of
// apiguard is: an unmatched route is 404 first, then a request without
// X-Key: ok is 401.
var keyGuards = conformance.Guards{
	Echo4: []echo4.MiddlewareFunc{func(next echo4.HandlerFunc) echo4.HandlerFunc {
		return func(c echo4.Context) error {
			if !middleware.RouteMatched(c) {
				return errorsx.NotFound()
			}
			if c.Request().Header.Get("X-Key") != "ok" {
				return errorsx.InvalidAPIKey()
			}
			return next(c)
		}
	}},
	Echo5: []echo5lib.MiddlewareFunc{func(next echo5lib.HandlerFunc) echo5lib.HandlerFunc {
		return func(c *echo5lib.Context) error {
			if !echo5.RouteMatched(c) {
				return errorsx.NotFound()
			}
			if c.Request().Header.Get("X-Key") != "ok" {
				return errorsx.InvalidAPIKey()
			}
			return next(c)
		}
	}},
	NetHTTP: []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Key") != "ok" {
				nethttp.Error(w, r, errorsx.InvalidAPIKey())
				return
			}
			next.ServeHTTP(w, r)
		})
	}},
}

// denyGuards are a guard for every route, written for each door as a guard
// of apiguard is: an unmatched route is 404 first, then a request with
// X-Deny is 403.
var denyGuards = conformance.Guards{
	Echo4: []echo4.MiddlewareFunc{func(next echo4.HandlerFunc) echo4.HandlerFunc {
		return func(c echo4.Context) error {
			if !middleware.RouteMatched(c) {
				return errorsx.NotFound()
			}
			if c.Request().Header.Get("X-Deny") != "" {
				return errorsx.InsufficientScope()
			}
			return next(c)
		}
	}},
	Echo5: []echo5lib.MiddlewareFunc{func(next echo5lib.HandlerFunc) echo5lib.HandlerFunc {
		return func(c *echo5lib.Context) error {
			if !echo5.RouteMatched(c) {
				return errorsx.NotFound()
			}
			if c.Request().Header.Get("X-Deny") != "" {
				return errorsx.InsufficientScope()
			}
			return next(c)
		}
	}},
	NetHTTP: []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Deny") != "" {
				nethttp.Error(w, r, errorsx.InsufficientScope())
				return
			}
			next.ServeHTTP(w, r)
		})
	}},
}

// write answers status with a JSON body, as a handler on any door does.
func write(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", `"v1"`)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

type prompt struct {
	Prompt string `validate:"required"`
}

var validate = validator.New()

// spec is the app of the table.
func spec(problem bool) conformance.Spec {
	s := conformance.Spec{
		Errors:         errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler), ProblemJSON: problem},
		SendRequestID:  true,
		MaxHeaderBytes: 2048,
		Use:            denyGuards,
		Group:          "/v1",
		GroupGuards:    keyGuards,
		Routes: []conformance.Route{
			{Method: "GET", Path: "/open", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 200, `{"open":true}`)
				return nil
			}},
			{Method: "GET", Path: "/v1/items", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 200, `{"data":["a","b"]}`)
				return nil
			}},
			{Method: "POST", Path: "/v1/items", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 201, `{"id":"c"}`)
				return nil
			}},
			{Method: "GET", Path: "/v1/items/{id}", Handler: func(w http.ResponseWriter, r *http.Request) error {
				return errorsx.NotFound().WithParam("id")
			}},
			{Method: "GET", Path: "/v1/big", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 200, `"`+strings.Repeat("x", 10000)+`"`)
				return nil
			}},
			{Method: "GET", Path: "/v1/empty", Handler: func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
			{Method: "GET", Path: "/v1/own-head", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 200, `"get"`)
				return nil
			}},
			{Method: "HEAD", Path: "/v1/own-head", Handler: func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("X-Own", "head")
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
			{Method: "GET", Path: "/v1/method", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 200, `"`+r.Method+`"`)
				return nil
			}},
			{Method: "GET", Path: "/v1/panic", Handler: func(w http.ResponseWriter, r *http.Request) error {
				panic("boom")
			}},
			{Method: "GET", Path: "/v1/validate", Handler: func(w http.ResponseWriter, r *http.Request) error {
				return validate.Struct(prompt{})
			}},
			{Method: "GET", Path: "/v1/committed", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 200, `{"partial":`)
				return errors.New("stream broke")
			}},
			{Method: "GET", Path: "/v1/committed-panic", Handler: func(w http.ResponseWriter, r *http.Request) error {
				write(w, 200, `{"partial":`)
				panic("late boom")
			}},
			{Method: "GET", Path: "/v1/wrapped", Handler: func(w http.ResponseWriter, r *http.Request) error {
				return fmt.Errorf("loading: %w", errorsx.RateLimitExceeded())
			}},
			{Method: "GET", Path: "/v1/deadline", Handler: func(w http.ResponseWriter, r *http.Request) error {
				return fmt.Errorf("query: %w", context.DeadlineExceeded)
			}},
			{Method: "GET", Path: "/v1/rendered", Handler: func(w http.ResponseWriter, r *http.Request) error {
				return errorsx.Rendered(errors.New("already written"))
			}},
		},
	}
	for _, c := range catalogue {
		s.Routes = append(s.Routes, conformance.Route{Method: "GET", Path: errorPath(c.file),
			Handler: func(http.ResponseWriter, *http.Request) error { return c.err }})
	}
	return s
}

type row struct {
	name   string
	req    conformance.Request
	status int    // the status all three doors answer
	golden string // the golden file the answer matches, if any
}

func hdr(kv ...string) http.Header {
	h := http.Header{"X-Key": {"ok"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func rows() []row {
	rs := []row{
		{name: "unknown route", req: conformance.Request{Method: "GET", Path: "/nope"}, status: 404},
		{name: "unknown route under the group, no key", req: conformance.Request{Method: "GET", Path: "/v1/nope", Header: http.Header{}}, status: 404},
		{name: "unknown route under the group", req: conformance.Request{Method: "GET", Path: "/v1/nope", Header: hdr()}, status: 404},
		{name: "the group's own path", req: conformance.Request{Method: "GET", Path: "/v1", Header: hdr()}, status: 404},
		{name: "below a route", req: conformance.Request{Method: "GET", Path: "/v1/big/x", Header: hdr()}, status: 404},
		{name: "OPTIONS under the group", req: conformance.Request{Method: "OPTIONS", Path: "/v1/items", Header: hdr()}, status: 404},
		{name: "wrong method", req: conformance.Request{Method: "DELETE", Path: "/v1/items", Header: hdr()}, status: 404},
		{name: "wrong method, no key", req: conformance.Request{Method: "PUT", Path: "/v1/items"}, status: 404},
		{name: "wrong method outside the group", req: conformance.Request{Method: "POST", Path: "/open"}, status: 404},
		{name: "denied by a global guard", req: conformance.Request{Method: "GET", Path: "/open", Header: hdr("X-Deny", "1")}, status: 403},
		{name: "HEAD denied by a global guard", req: conformance.Request{Method: "HEAD", Path: "/open", Header: hdr("X-Deny", "1")}, status: 403},
		{name: "unknown route past a global guard", req: conformance.Request{Method: "GET", Path: "/nope", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "wrong method past a global guard", req: conformance.Request{Method: "DELETE", Path: "/open", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "wrong method in the group past a global guard", req: conformance.Request{Method: "DELETE", Path: "/v1/items", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "OPTIONS past a global guard", req: conformance.Request{Method: "OPTIONS", Path: "/open", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "HEAD of an unknown route", req: conformance.Request{Method: "HEAD", Path: "/v1/nope", Header: hdr()}, status: 404},
		{name: "unknown route with a sane id", req: conformance.Request{Method: "GET", Path: "/nope",
			Header: hdr("X-Request-Id", "req_golden_1")}, status: 404, golden: "404_not_found.http"},

		{name: "GET", req: conformance.Request{Method: "GET", Path: "/v1/items", Header: hdr()}, status: 200},
		{name: "GET outside the group", req: conformance.Request{Method: "GET", Path: "/open"}, status: 200},
		{name: "POST", req: conformance.Request{Method: "POST", Path: "/v1/items", Header: hdr()}, status: 201},
		{name: "no key", req: conformance.Request{Method: "GET", Path: "/v1/items"}, status: 401},
		{name: "path parameter", req: conformance.Request{Method: "GET", Path: "/v1/items/x", Header: hdr()}, status: 404},

		{name: "HEAD", req: conformance.Request{Method: "HEAD", Path: "/v1/items", Header: hdr()}, status: 200},
		{name: "HEAD of a large body", req: conformance.Request{Method: "HEAD", Path: "/v1/big", Header: hdr()}, status: 200},
		{name: "HEAD of a 204", req: conformance.Request{Method: "HEAD", Path: "/v1/empty", Header: hdr()}, status: 204},
		{name: "HEAD, no key", req: conformance.Request{Method: "HEAD", Path: "/v1/items"}, status: 401},
		{name: "HEAD of an error", req: conformance.Request{Method: "HEAD", Path: "/v1/errors/429_rate_limit_exceeded", Header: hdr()}, status: 429},
		{name: "HEAD of a panic", req: conformance.Request{Method: "HEAD", Path: "/v1/panic", Header: hdr()}, status: 500},
		{name: "HEAD of an own HEAD route", req: conformance.Request{Method: "HEAD", Path: "/v1/own-head", Header: hdr()}, status: 204},
		{name: "GET beside an own HEAD route", req: conformance.Request{Method: "GET", Path: "/v1/own-head", Header: hdr()}, status: 200},
		{name: "HEAD seen as GET by the handler", req: conformance.Request{Method: "HEAD", Path: "/v1/method", Header: hdr()}, status: 200},
		{name: "HEAD outside the group", req: conformance.Request{Method: "HEAD", Path: "/open"}, status: 200},

		{name: "panic", req: conformance.Request{Method: "GET", Path: "/v1/panic", Header: hdr()}, status: 500},
		{name: "panic after the response was written", req: conformance.Request{Method: "GET", Path: "/v1/committed-panic", Header: hdr()}, status: 200},
		{name: "validator error", req: conformance.Request{Method: "GET", Path: "/v1/validate", Header: hdr()}, status: 400},
		{name: "error after the response was written", req: conformance.Request{Method: "GET", Path: "/v1/committed", Header: hdr()}, status: 200},
		{name: "wrapped catalogue error", req: conformance.Request{Method: "GET", Path: "/v1/wrapped", Header: hdr()}, status: 429},
		{name: "deadline", req: conformance.Request{Method: "GET", Path: "/v1/deadline", Header: hdr()}, status: 503},

		{name: "sane request id", req: conformance.Request{Method: "GET", Path: "/v1/items", Header: hdr("X-Request-Id", "req_abc-123")}, status: 200},
		{name: "forged request id", req: conformance.Request{Method: "GET", Path: "/v1/items", Header: hdr("X-Request-Id", "bad id\"<x>")}, status: 200},
		{name: "request id too long", req: conformance.Request{Method: "GET", Path: "/v1/nope", Header: hdr("X-Request-Id", strings.Repeat("a", 200))}, status: 404},

		{name: "oversized headers", req: conformance.Request{Method: "GET", Path: "/v1/items", Header: hdr("X-Big", strings.Repeat("b", 3000))}, status: 400},
		{name: "headers at the limit", req: conformance.Request{Method: "GET", Path: "/v1/items", Header: hdr("X-Big", strings.Repeat("b", 1500))}, status: 200},
	}
	for _, c := range catalogue {
		h := hdr("X-Request-Id", "req_golden_1")
		if c.file == "401_invalid_api_key.http" {
			h.Set("Authorization", "Bearer sk_test_unknown")
		}
		status := 0
		fmt.Sscanf(c.file, "%d", &status)
		rs = append(rs, row{name: "catalogue " + c.file, req: conformance.Request{Method: "GET", Path: errorPath(c.file), Header: h},
			status: status, golden: c.file})
	}
	return rs
}

// TestFrontDoorsAgree sends every request of the table to the Echo v4, Echo
// v5 and net/http apps and demands the same status, headers and body.
func TestFrontDoorsAgree(t *testing.T) {
	apps := conformance.Build(t, spec(false))
	for _, tc := range rows() {
		t.Run(tc.name, func(t *testing.T) {
			check(t, apps, tc)
		})
	}
}

// TestProblemJSON: the renderer's configuration reaches each door.
func TestProblemJSON(t *testing.T) {
	apps := conformance.Build(t, spec(true))
	check(t, apps, row{
		req: conformance.Request{Method: "GET", Path: errorPath("422_model_input_invalid.http"),
			Header: hdr("X-Request-Id", "req_golden_1", "Accept", "application/problem+json")},
		status: 422, golden: "problem_422_model_input_invalid.http"})
}

func check(t *testing.T, apps []conformance.App, tc row) {
	t.Helper()
	want := conformance.Do(t, apps[0], tc.req)
	if want.Status != tc.status {
		t.Errorf("%s: status %d, want %d (body %s)", apps[0].Name, want.Status, tc.status, want.Body)
	}
	if tc.req.Method == http.MethodHead && len(want.Body) != 0 {
		t.Errorf("%s: HEAD answered with a body %q", apps[0].Name, want.Body)
	}
	for _, app := range apps[1:] {
		got := conformance.Do(t, app, tc.req)
		if d := conformance.Diff(got, want); d != "" {
			t.Errorf("%s differs from %s:\n%s", app.Name, apps[0].Name, d)
		}
	}
	if tc.golden != "" {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", tc.golden))
		if err != nil {
			t.Fatal(err)
		}
		if got := conformance.Golden(want); got != string(b) {
			t.Errorf("differs from %s:\ngot:\n%s\nwant:\n%s", tc.golden, got, b)
		}
	}
}
