package middleware_test

import (
	"errors"
	"fmt"
	"github.com/clipia/apiguard/internal/logtest"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// recoverLogBuf collects the JSON log records of the app under test.
type recoverLogBuf = logtest.Buffer

// recoverEcho wires the renderer (its Logger set to a buffer), RequestID and
// Recover (with cfg) and returns the Echo, the log and the last error the
// renderer received.
func recoverEcho(cfg middleware.RecoverConfig) (*echo.Echo, *recoverLogBuf, func() error) {
	logs := &recoverLogBuf{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	render := middleware.ErrorHandler(errorsx.HandlerConfig{Logger: logger})
	var (
		mu   sync.Mutex
		last error
	)
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		mu.Lock()
		last = err
		mu.Unlock()
		render(err, c)
	}
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})), middleware.Must(middleware.Recover(cfg)))
	return e, logs, func() error {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

const panicSecret = "SELECT * FROM users at /srv/app/db.go:17 via 10.0.0.7:5432"

func TestRecover(t *testing.T) {
	internal, _ := errorsx.Lookup(errorsx.CodeInternal)
	tests := []struct {
		name      string
		panicWith func() any
		wantValue string // substring of the logged panic value
	}{
		{"string", func() any { return panicSecret }, panicSecret},
		{"error", func() any { return errors.New(panicSecret) }, panicSecret},
		{"catalogue error stays a 500", func() any { return errorsx.NotFound() }, "not_found"},
		{"struct", func() any { return struct{ Addr string }{"10.0.0.7:5432"} }, "10.0.0.7:5432"},
		{"runtime error", func() any {
			var s []string
			return s[len(panicSecret)] // index out of range
		}, "index out of range"},
		{"nil", func() any { return nil }, "nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, logs, last := recoverEcho(middleware.RecoverConfig{})
			e.POST("/v1/generations", func(c echo.Context) error { panic(tc.panicWith()) })
			req := httptest.NewRequest(http.MethodPost, "/v1/generations", nil)
			req.Header.Set(errorsx.HeaderRequestID, "req-panic-1")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)

			want := fmt.Sprintf(`{"error":{"type":"api_error","code":"internal_error","message":%q}}`, internal.Message)
			if rec.Code != http.StatusInternalServerError || rec.Body.String() != want {
				t.Errorf("got %d %s, want 500 %s", rec.Code, rec.Body, want)
			}
			if got := rec.Header().Get(errorsx.HeaderShouldRetry); got != "true" {
				t.Errorf("got X-Should-Retry %q, want true", got)
			}
			if got := rec.Header().Get(errorsx.HeaderRequestID); got != "req-panic-1" {
				t.Errorf("got X-Request-Id %q, want req-panic-1", got)
			}
			// The error reached the renderer as a returned value.
			var ae *errorsx.Error
			if err := last(); !errors.As(err, &ae) || ae.Code() != errorsx.CodeInternal || !errors.Is(err, middleware.ErrPanic) {
				t.Errorf("renderer got %v, want internal_error wrapping ErrPanic", err)
			}
			// One record for the failed request: the renderer's, with the
			// panic value and the stack.
			if n := len(logs.Records(t, "")); n != 1 {
				t.Fatalf("got %d log records, want 1", n)
			}
			recs := logs.Records(t, "request failed")
			if len(recs) != 1 {
				t.Fatalf("got %d request failed records, want 1", len(recs))
			}
			r := recs[0]
			stack, _ := r["stack"].(string)
			if r["level"] != "ERROR" || r["request_id"] != "req-panic-1" || r["method"] != "POST" ||
				r["route"] != "/v1/generations" || !strings.Contains(fmt.Sprint(r["error"]), tc.wantValue) ||
				!strings.Contains(stack, "goroutine ") || !strings.Contains(stack, "recover_test.go") {
				t.Errorf("got panic record %v, want level, request id, method, route, the value and the stack", r)
			}
			for _, leak := range []string{"SELECT", "10.0.0.7", "db.go", "goroutine", "panic"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Errorf("body leaks %q: %s", leak, rec.Body)
				}
			}
		})
	}
}

// http.ErrAbortHandler is re-panicked so net/http aborts the response.
func TestRecoverRepanicsErrAbortHandler(t *testing.T) {
	e, logs, _ := recoverEcho(middleware.RecoverConfig{})
	e.GET("/abort", func(c echo.Context) error { panic(http.ErrAbortHandler) })
	got := func() (v any) {
		defer func() { v = recover() }()
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/abort", nil))
		return nil
	}()
	if got != http.ErrAbortHandler {
		t.Fatalf("got panic %v, want http.ErrAbortHandler", got)
	}
	if recs := logs.Records(t, ""); len(recs) != 0 {
		t.Errorf("got %d log records, want none for an abort", len(recs))
	}
}

// Through a real server, the client sees an aborted response, not a 500.
func TestRecoverAbortThroughServer(t *testing.T) {
	e, _, _ := recoverEcho(middleware.RecoverConfig{})
	e.GET("/abort", func(c echo.Context) error { panic(http.ErrAbortHandler) })
	srv := httptest.NewServer(e)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/abort")
	if err == nil {
		res.Body.Close()
		t.Fatalf("got %d, want the connection aborted", res.StatusCode)
	}
}

func TestRecoverSkipper(t *testing.T) {
	var skipped int
	e, _, _ := recoverEcho(middleware.RecoverConfig{Skipper: func(c echo.Context) bool {
		if c.Path() == "/skip" {
			skipped++
			return true
		}
		return false
	}})
	e.GET("/skip", func(c echo.Context) error { panic("skipped") })
	e.GET("/noskip", func(c echo.Context) error { panic("recovered") })

	got := func() (v any) {
		defer func() { v = recover() }()
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/skip", nil))
		return nil
	}()
	if got != "skipped" || skipped != 1 {
		t.Errorf("got panic %v (skipper called %d times), want the panic to pass the skipped middleware", got, skipped)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/noskip", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("got %d, want 500 where the skipper says no", rec.Code)
	}
}

// A panic after the handler wrote its response leaves the response as it
// was; the panic is still logged.
func TestRecoverAfterCommit(t *testing.T) {
	e, logs, _ := recoverEcho(middleware.RecoverConfig{})
	e.GET("/late", func(c echo.Context) error {
		if err := c.String(http.StatusOK, "done"); err != nil {
			return err
		}
		panic("too late")
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/late", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "done" {
		t.Errorf("got %d %q, want the handler's 200 done", rec.Code, rec.Body)
	}
	if len(logs.Records(t, "error after response was committed")) != 1 {
		t.Error("want the late panic logged")
	}
}

func TestRecoverStackSize(t *testing.T) {
	e, logs, _ := recoverEcho(middleware.RecoverConfig{StackSize: 64})
	e.GET("/", func(c echo.Context) error { panic("small stack") })
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	recs := logs.Records(t, "request failed")
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	if stack, _ := recs[0]["stack"].(string); stack == "" || len(stack) > 64 {
		t.Errorf("got a stack of %d bytes, want 1 to 64", len(stack))
	}
}

// A negative StackSize is a configuration error.
func TestRecoverConfigError(t *testing.T) {
	if _, err := middleware.Recover(middleware.RecoverConfig{StackSize: -1}); err == nil {
		t.Error("got no error for a negative StackSize")
	}
}

// Concurrent panics are each recovered and rendered (run with -race).
func TestRecoverConcurrent(t *testing.T) {
	e, _, _ := recoverEcho(middleware.RecoverConfig{})
	e.GET("/", func(c echo.Context) error { panic("concurrent") })
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("got %d, want 500", rec.Code)
			}
		})
	}
	wg.Wait()
}

func ExampleRecover() {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(
		middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})),
		middleware.Must(middleware.Recover(middleware.RecoverConfig{})), // the renderer logs the value and stack
	)
	e.GET("/", func(c echo.Context) error { panic("database password is hunter2") })

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 500 {"error":{"type":"api_error","code":"internal_error","message":"An internal error occurred. Please retry; if it persists, contact support with the request id."}}
}
