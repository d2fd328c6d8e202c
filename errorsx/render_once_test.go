package errorsx_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// renderFirst is what a guard that needs the response as the client saw
// it does (the idempotency guard does it): render the error now with
// Call.Render, then return it marked errorsx.Rendered.
var renderFirst = echo4.Use(guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	err := c.Next(w, r)
	if err == nil || errorsx.IsRendered(err) {
		return err
	}
	c.Render(w, r, err)
	return errorsx.Rendered(err)
}))

// cErrorFirst does the same by hand, with c.Error, and returns the error
// itself: the renderer must still recognise its own response.
func cErrorFirst(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		return err
	}
}

// wrapOnTheWayOut is an outer middleware that wraps what it returns.
func wrapOnTheWayOut(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := next(c); err != nil {
			return fmt.Errorf("outer: %w", err)
		}
		return nil
	}
}

// TestRenderedOnceLoggedOnce: whatever renders an error first, a failed
// request gets one body and one log record, at Error only for 5xx, for
// every row of the table.
func TestRenderedOnceLoggedOnce(t *testing.T) {
	chains := []struct {
		name string
		mws  []echo.MiddlewareFunc
	}{
		{"returned only", nil},
		{"rendered by a middleware, then returned", []echo.MiddlewareFunc{renderFirst}},
		{"rendered twice by middlewares", []echo.MiddlewareFunc{renderFirst, renderFirst}},
		{"rendered with c.Error, then returned", []echo.MiddlewareFunc{cErrorFirst}},
		{"rendered with c.Error, then by Render", []echo.MiddlewareFunc{renderFirst, cErrorFirst}},
		{"rendered, then wrapped by an outer middleware", []echo.MiddlewareFunc{wrapOnTheWayOut, renderFirst}},
	}
	for _, ch := range chains {
		for _, tc := range constructors {
			t.Run(ch.name+"/"+string(tc.code), func(t *testing.T) {
				logger, logs := testLogger()
				e := newEcho(errorsx.HandlerConfig{Logger: logger}, nil)
				want := tc.new()
				if want.Status() >= 500 {
					want = want.WithCause(errors.New("db down"))
				}
				e.GET("/x", func(echo.Context) error { return want }, ch.mws...)
				rec := serve(e, httptest.NewRequest(http.MethodGet, "/x", nil))
				if rec.Code != tc.new().Status() {
					t.Fatalf("got status %d, want %d", rec.Code, tc.new().Status())
				}
				if n := strings.Count(rec.Body.String(), `{"error":`); n != 1 {
					t.Errorf("got body %q, want one envelope", rec.Body)
				}
				records := logs.records(t)
				if len(records) != 1 {
					t.Fatalf("got %d log records, want 1: %s", len(records), logs)
				}
				wantLevel := "DEBUG"
				if want.Status() >= 500 {
					wantLevel = "ERROR"
				}
				if got := records[0]["level"]; got != wantLevel {
					t.Errorf("got level %v, want %s: %v", got, wantLevel, records[0])
				}
			})
		}
	}
}

// TestErrorAfterStreamingIsLoggedOnce: a handler that committed a response
// and then failed cannot tell the client; the log gets it once, at Error.
func TestErrorAfterStreamingIsLoggedOnce(t *testing.T) {
	logger, logs := testLogger()
	e := newEcho(errorsx.HandlerConfig{Logger: logger}, nil)
	e.GET("/x", func(c echo.Context) error {
		_ = c.String(http.StatusOK, "partial")
		return errors.New("lost the upstream")
	}, renderFirst)
	rec := serve(e, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Errorf("got %d %q, want the committed 200 untouched", rec.Code, rec.Body)
	}
	records := logs.records(t)
	if len(records) != 1 || records[0]["level"] != "ERROR" {
		t.Errorf("got log %s, want one record at ERROR", logs)
	}
}
