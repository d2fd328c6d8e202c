package conformance_test

import (
	"github.com/clipia/apiguard/internal/logtest"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/clipia/apiguard/internal/conformance"
)

// logBuffer collects the JSON log records of the app under test.
type logBuffer = logtest.Buffer

// TestLogOnce: every door logs each failed request exactly once, at Error
// for a 5xx or an error after the response was written, at Debug for a 4xx,
// with the route pattern; a successful request logs nothing.
func TestLogOnce(t *testing.T) {
	buf := &logBuffer{}
	s := spec(false)
	s.Errors.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	apps := conformance.Build(t, s)
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		level, msg, route  string // "" level: no record; route as Echo names it
		panic              bool
	}{
		{"success", "GET", "/v1/items", hdr(), "", "", "", false},
		{"HEAD success", "HEAD", "/v1/items", hdr(), "", "", "", false},
		{"unknown route", "GET", "/nope", nil, "DEBUG", "request failed", "", false},
		{"wrong method", "DELETE", "/open", nil, "DEBUG", "request failed", "/open", false},
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
				want := tc.route
				if app.Name == "nethttp" {
					// ServeMux's pattern, with its method; an unmatched
					// request has none.
					want = ""
					if tc.route != "" && tc.name != "wrong method" {
						want = "GET " + tc.route
					}
				}
				if got := r["route"]; got != want {
					t.Errorf("got route %q, want %q", got, want)
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
