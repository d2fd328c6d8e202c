package errorsx_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// secrets are fragments of internal detail that must never reach a client.
var secrets = []string{
	"10.0.0.7", "5432", "db-primary.internal", "SELECT", "users", "/var/lib/clipia", "config.yaml",
	"main.go", "goroutine ", "runtime/", "pq:", "redis:", "dial tcp", "nil pointer", "panic",
}

func assertNoSecrets(t *testing.T, body string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(body), strings.ToLower(s)) {
			t.Errorf("body leaks %q: %s", s, body)
		}
	}
}

func TestSanitisedMessages(t *testing.T) {
	_, pathErr := os.Open("/var/lib/clipia/config.yaml")
	opErr := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 5432},
		Err: errors.New("connect: connection refused")}
	tests := []struct {
		name  string
		err   error
		cause string // what the log must carry
	}{
		{"network address", opErr, "10.0.0.7:5432"},
		{"host name", fmt.Errorf("redis: dial db-primary.internal:6379: %w", opErr), "db-primary.internal:6379"},
		{"SQL text", errors.New(`pq: syntax error at or near "SELECT" in SELECT * FROM users WHERE id = 1`), "SELECT * FROM users"},
		{"file path", pathErr, "/var/lib/clipia/config.yaml"},
		{"wrapped in a catalogue error", errorsx.ServiceUnavailable().WithCause(opErr), "10.0.0.7:5432"},
		{"wrapped in an echo error", echo.NewHTTPError(http.StatusBadGateway, "upstream 10.0.0.7:5432 failed").SetInternal(opErr), "10.0.0.7:5432"},
		{"joined", errors.Join(pathErr, opErr), "config.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := testLogger()
			e := newEcho(errorsx.HandlerConfig{Logger: logger, ProblemJSON: true}, func() error { return tc.err })
			for _, accept := range []string{"application/json", "application/problem+json"} {
				req := httptest.NewRequest(http.MethodGet, "/fail", nil)
				req.Header.Set(echo.HeaderAccept, accept)
				req.Header.Set(errorsx.HeaderRequestID, "req-sanitise")
				rec := serve(e, req)
				if rec.Code < 500 {
					t.Errorf("got status %d, want a 5xx", rec.Code)
				}
				assertNoSecrets(t, rec.Body.String())
				for k, v := range rec.Header() {
					assertNoSecrets(t, k+": "+strings.Join(v, ","))
				}
			}
			recs := logs.records(t)
			if len(recs) == 0 {
				t.Fatal("nothing logged")
			}
			r := recs[0]
			if r["level"] != "ERROR" || r["request_id"] != "req-sanitise" || !strings.Contains(fmt.Sprint(r["error"]), tc.cause) {
				t.Errorf("got log %v, want level ERROR, request_id req-sanitise and the cause %q", r, tc.cause)
			}
		})
	}
}

// A panic whose value names a file, an address and SQL, recovered by
// guard.Recover: the body is the fixed 500; the value and the stack go
// to the log with the request id.
func TestSanitisedPanic(t *testing.T) {
	logger, logs := testLogger()
	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{Logger: logger})
	e.Use(echo4.Use(guard.RequestID(guard.RequestIDConfig{}), guard.Must(guard.Recover(guard.RecoverConfig{}))))
	e.GET("/boom", func(c echo.Context) error {
		if k := c.QueryParam("kind"); k != "" {
			var s []int
			_ = s[len(k)] // a runtime error: index out of range
		}
		panic("SELECT * FROM users failed at /var/lib/clipia/main.go:42 talking to 10.0.0.7:5432")
	})
	for _, q := range []string{"", "?kind=index"} {
		req := httptest.NewRequest(http.MethodGet, "/boom"+q, nil)
		req.Header.Set(errorsx.HeaderRequestID, "req-panic")
		rec := serve(e, req)
		env, _, err := checkRow(rec)
		if err != nil {
			t.Fatal(err)
		}
		if env.Code != string(errorsx.CodeInternal) || env.Message != rowFor(t, "internal_error").Message {
			t.Errorf("got %+v, want the fixed internal_error", env)
		}
		assertNoSecrets(t, rec.Body.String())
	}
	// One record per panic: the renderer's, at Error, with the value and
	// the stack.
	records := logs.records(t)
	if len(records) != 2 {
		t.Errorf("got %d log records for 2 panics, want one each: %s", len(records), logs)
	}
	for _, r := range records {
		if r["request_id"] != "req-panic" || r["level"] != "ERROR" {
			t.Errorf("got log record %v, want level ERROR with the request id", r)
		}
		if s, _ := r["stack"].(string); !strings.Contains(s, "goroutine ") || !strings.Contains(s, ".go:") {
			t.Errorf("got record %v, want the stack", r)
		}
		if v, _ := r["error"].(string); !strings.Contains(v, "panic recovered") {
			t.Errorf("got record %v, want the panic named in error", r)
		}
	}
	if !strings.Contains(logs.String(), "10.0.0.7:5432") {
		t.Errorf("got log %s, want the panic value", logs)
	}
}
