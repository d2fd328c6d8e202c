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

	_ "github.com/clipia/apiguard/bind" // maps validator errors, as in an app that binds
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/conformance"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/go-playground/validator/v10"
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

// key is the guard of the /v1 group: a request without X-Key: ok is 401.
// The chain answers an unknown route under the group 404 before it runs.
var key = guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	if r.Header.Get("X-Key") != "ok" {
		return errorsx.InvalidAPIKey()
	}
	return c.Next(w, r)
})

// deny is a guard on every route: a request with X-Deny is 403.
var deny = guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	if r.Header.Get("X-Deny") != "" {
		return errorsx.InsufficientScope()
	}
	return c.Next(w, r)
})

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
func spec(problem bool) doors.Spec {
	s := doors.Spec{
		Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler), ProblemJSON: problem},
		Use: []guard.Guard{
			guard.RequestID(guard.RequestIDConfig{SendRequestID: true}),
			guard.Must(guard.Recover(guard.RecoverConfig{})),
			guard.Must(guard.HeaderLimit(guard.HeaderLimitConfig{MaxBytes: 2048})),
		},
		GroupPrefix: "/v1",
		Group:       []guard.Guard{key},
	}
	for _, rt := range []struct {
		Method, Path string
		Handler      handler
	}{
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
	} {
		s.Routes = append(s.Routes, route(rt.Method, rt.Path, rt.Handler))
	}
	for _, c := range catalogue {
		s.Routes = append(s.Routes, route("GET", errorPath(c.file), func(http.ResponseWriter, *http.Request) error { return c.err }))
	}
	return s
}

// handler is a route's handler on any door.
type handler func(w http.ResponseWriter, r *http.Request) error

// route is a route of the table's app, behind deny.
func route(method, path string, h handler) doors.Route {
	return doors.Route{Method: method, Path: path, Guards: []guard.Guard{deny},
		Handler: func(w http.ResponseWriter, r *http.Request, _ doors.Params) error { return h(w, r) }}
}

type row struct {
	name   string
	req    conformance.Request
	status int    // the status every door answers
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
		{name: "denied by a guard on every route", req: conformance.Request{Method: "GET", Path: "/open", Header: hdr("X-Deny", "1")}, status: 403},
		{name: "HEAD denied by a guard on every route", req: conformance.Request{Method: "HEAD", Path: "/open", Header: hdr("X-Deny", "1")}, status: 403},
		{name: "unknown route past a guard on every route", req: conformance.Request{Method: "GET", Path: "/nope", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "wrong method past a guard on every route", req: conformance.Request{Method: "DELETE", Path: "/open", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "wrong method in the group past a guard on every route", req: conformance.Request{Method: "DELETE", Path: "/v1/items", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "OPTIONS past a guard on every route", req: conformance.Request{Method: "OPTIONS", Path: "/open", Header: hdr("X-Deny", "1")}, status: 404},
		{name: "HEAD of an unknown route", req: conformance.Request{Method: "HEAD", Path: "/v1/nope", Header: hdr()}, status: 404},

		// Odd paths: one reading on every door (guard.CleanPath), never a
		// redirect.
		{name: "double slash first", req: conformance.Request{Method: "GET", Path: "//v1/items", Header: hdr()}, status: 404},
		{name: "double slash inside", req: conformance.Request{Method: "GET", Path: "/v1//items", Header: hdr()}, status: 404},
		{name: "dot-dot segment", req: conformance.Request{Method: "GET", Path: "/v1/../v1/items", Header: hdr()}, status: 404},
		{name: "dot segment", req: conformance.Request{Method: "GET", Path: "/v1/./items", Header: hdr()}, status: 404},
		{name: "encoded dot-dot segment", req: conformance.Request{Method: "GET", Path: "/v1/%2e%2e/v1/items", Header: hdr()}, status: 404},
		{name: "trailing slash", req: conformance.Request{Method: "GET", Path: "/v1/items/", Header: hdr()}, status: 404},
		{name: "trailing slash outside the group", req: conformance.Request{Method: "GET", Path: "/open/"}, status: 404},
		{name: "upper case", req: conformance.Request{Method: "GET", Path: "/V1/items", Header: hdr()}, status: 404},
		{name: "encoded unreserved characters", req: conformance.Request{Method: "GET", Path: "/%761/it%65ms", Header: hdr()}, status: 200},
		{name: "encoded unreserved characters, no key", req: conformance.Request{Method: "GET", Path: "/v1/it%65ms"}, status: 401},
		{name: "encoded slash", req: conformance.Request{Method: "GET", Path: "/v1/items%2Fx", Header: hdr()}, status: 404},
		{name: "encoded slash in a parameter", req: conformance.Request{Method: "GET", Path: "/v1/items/a%2Fb", Header: hdr()}, status: 404},
		{name: "HEAD of an odd path", req: conformance.Request{Method: "HEAD", Path: "/v1/../v1/items", Header: hdr()}, status: 404},
		{name: "query", req: conformance.Request{Method: "GET", Path: "/v1/items?x=1&y=%zz", Header: hdr()}, status: 200},
		{name: "query of an unknown route", req: conformance.Request{Method: "GET", Path: "/v1/nope?x=1"}, status: 404},
		{name: "semicolon", req: conformance.Request{Method: "GET", Path: "/v1/items;x=1", Header: hdr()}, status: 404},
		{name: "encoded NUL", req: conformance.Request{Method: "GET", Path: "/v1/items%00", Header: hdr()}, status: 404},
		{name: "escape that is not UTF-8", req: conformance.Request{Method: "GET", Path: "/v1/items%ff", Header: hdr()}, status: 404},
		{name: "lower-case escape in a parameter", req: conformance.Request{Method: "GET", Path: "/v1/items/%c3%a9", Header: hdr()}, status: 404},
		{name: "long path", req: conformance.Request{Method: "GET", Path: "/v1/" + strings.Repeat("a", 1500), Header: hdr()}, status: 404},
		{name: "long parameter", req: conformance.Request{Method: "GET", Path: "/v1/items/" + strings.Repeat("a", 1500), Header: hdr()}, status: 404},
		{name: "OPTIONS *", req: conformance.Request{Method: "OPTIONS", Path: "*"}, status: 404},
		{name: "absolute-form", req: conformance.Request{Method: "GET", Path: "http://api.example/v1/items", Header: hdr()}, status: 200},
		{name: "absolute-form, no key", req: conformance.Request{Method: "GET", Path: "http://api.example/v1/items"}, status: 401},
		{name: "absolute-form of an unknown route", req: conformance.Request{Method: "GET", Path: "http://api.example/v1/nope"}, status: 404},
		{name: "path over the header limit", req: conformance.Request{Method: "GET", Path: "/v1/" + strings.Repeat("a", 3000), Header: hdr()}, status: 400},
		{name: "HEAD of a path over the header limit", req: conformance.Request{Method: "HEAD", Path: "/v1/" + strings.Repeat("a", 3000)}, status: 400},

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

// TestFrontDoorsAgree sends every request of the table to the app on every
// door (doors.All) and demands the same status, headers and body bytes.
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
