package conformance_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/internal/conformance"
	"github.com/clipia/apiguard/internal/logtest"
)

// logBuffer collects the JSON log records of the app under test.
type logBuffer = logtest.Buffer

// TestLogOnce: every door logs each failed request exactly once, at Error
// for a 5xx or an error after the response was written, at Debug for a 4xx,
// with the route in its one spelling on every door (guard.Template; none
// for a request that matched no route, a wrong method included); a
// successful request logs nothing.
func TestLogOnce(t *testing.T) {
	buf := &logBuffer{}
	s := spec(false)
	s.Errors.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	apps := conformance.Build(t, s)
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		level, msg, route  string // "" level: no record
		panic              bool
	}{
		{"success", "GET", "/v1/items", hdr(), "", "", "", false},
		{"HEAD success", "HEAD", "/v1/items", hdr(), "", "", "", false},
		{"unknown route", "GET", "/nope", nil, "DEBUG", "request failed", "", false},
		{"wrong method", "DELETE", "/open", nil, "DEBUG", "request failed", "", false},
		{"odd path", "GET", "/v1/../v1/items", hdr(), "DEBUG", "request failed", "", false},
		{"route with a parameter", "GET", "/v1/items/x", hdr(), "DEBUG", "request failed", "/v1/items/{id}", false},
		{"HEAD of a panic", "HEAD", "/v1/panic", hdr(), "ERROR", "request failed", "/v1/panic", true},
		{"guard 401", "GET", "/v1/items", nil, "DEBUG", "request failed", "/v1/items", false},
		{"handler 500", "GET", "/v1/errors/500_internal_error", hdr(), "ERROR", "request failed", "/v1/errors/500_internal_error", false},
		{"HEAD of a 429", "HEAD", "/v1/errors/429_rate_limit_exceeded", hdr(), "DEBUG", "request failed", "/v1/errors/429_rate_limit_exceeded", false},
		{"panic", "GET", "/v1/panic", hdr(), "ERROR", "request failed", "/v1/panic", true},
		{"error after the response was written", "GET", "/v1/committed", hdr(), "ERROR", "error after response was committed", "/v1/committed", false},
		{"panic after the response was written", "GET", "/v1/committed-panic", hdr(), "ERROR", "error after response was committed", "/v1/committed-panic", false},
		{"rendered elsewhere", "GET", "/v1/rendered", hdr(), "", "", "", false},
	} {
		for _, app := range apps {
			t.Run(tc.name+"/"+app.Name, func(t *testing.T) {
				buf.Take(t)
				conformance.Do(t, app, conformance.Request{Method: tc.method, Path: tc.path, Header: tc.header})
				recs := buf.Take(t)
				if tc.level == "" {
					if len(recs) != 0 {
						t.Fatalf("got %d records, want none: %v", len(recs), recs)
					}
					return
				}
				if len(recs) != 1 {
					t.Fatalf("got %d records, want 1: %v", len(recs), recs)
				}
				r := recs[0]
				if r["level"] != tc.level || r["msg"] != tc.msg {
					t.Errorf("got %v %q, want %s %q", r["level"], r["msg"], tc.level, tc.msg)
				}
				if got, _ := r["route"].(string); got != tc.route {
					t.Errorf("got route %q, want %q", got, tc.route)
				}
				if _, ok := r["stack"]; ok != tc.panic {
					t.Errorf("got a stack %v, want %v", ok, tc.panic)
				}
				if tc.panic && !strings.Contains(r["error"].(string), "panic recovered: boom") {
					t.Errorf("got error %q, want the panic value", r["error"])
				}
			})
		}
	}
}
