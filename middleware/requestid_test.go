package middleware_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// requestIDEcho is an Echo with the renderer and middleware.RequestID, a
// route that succeeds and one that fails; both echo the id the handler saw
// in a response header.
func requestIDEcho() *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{SendRequestID: true})))
	e.GET("/ok", func(c echo.Context) error {
		c.Response().Header().Set("X-Seen-Id", errorsx.RequestID(c.Response().Header(), c.Request()))
		return c.String(http.StatusOK, "ok")
	})
	e.GET("/fail", func(c echo.Context) error {
		c.Response().Header().Set("X-Seen-Id", errorsx.RequestID(c.Response().Header(), c.Request()))
		return errorsx.NotFound()
	})
	return e
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		incoming []string // X-Request-Id values sent; nil sends none
		wantKept string   // "" means a new UUID
	}{
		{name: "success, none sent", path: "/ok"},
		{name: "success, sane id kept", path: "/ok", incoming: []string{"req_abc-123"}, wantKept: "req_abc-123"},
		{name: "error, sane id kept", path: "/fail", incoming: []string{"req_abc-123"}, wantKept: "req_abc-123"},
		{name: "unknown route, sane id kept", path: "/nope", incoming: []string{"trace:1/2+3=4@5.6"}, wantKept: "trace:1/2+3=4@5.6"},
		{name: "uuid kept", path: "/ok", incoming: []string{"7d444840-9dc0-11d1-b245-5ffdce74fad2"}, wantKept: "7d444840-9dc0-11d1-b245-5ffdce74fad2"},
		{name: "longest kept", path: "/ok", incoming: []string{strings.Repeat("k", errorsx.MaxRequestIDLen)}, wantKept: strings.Repeat("k", errorsx.MaxRequestIDLen)},
		{name: "too long replaced", path: "/ok", incoming: []string{strings.Repeat("k", errorsx.MaxRequestIDLen+1)}},
		{name: "empty replaced", path: "/ok", incoming: []string{""}},
		{name: "space replaced", path: "/fail", incoming: []string{"req 1"}},
		{name: "control character replaced", path: "/ok", incoming: []string{"req\x001"}},
		{name: "header injection replaced", path: "/ok", incoming: []string{"a\r\nSet-Cookie: x=1"}},
		{name: "html replaced", path: "/fail", incoming: []string{"<script>"}},
		{name: "non-ASCII replaced", path: "/ok", incoming: []string{"зап-1"}},
		{name: "first of several values used", path: "/ok", incoming: []string{"first", "second"}, wantKept: "first"},
	}
	e := requestIDEcho()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.incoming != nil {
				req.Header[errorsx.HeaderRequestID] = tc.incoming
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)

			ids := rec.Header().Values(errorsx.HeaderRequestID)
			if len(ids) != 1 {
				t.Fatalf("got X-Request-Id %q, want exactly one", ids)
			}
			id := ids[0]
			if tc.wantKept != "" {
				if id != tc.wantKept {
					t.Errorf("got X-Request-Id %q, want %q", id, tc.wantKept)
				}
			} else if u, err := uuid.Parse(id); err != nil || u.Version() != 4 || u.String() != id {
				t.Errorf("got X-Request-Id %q, want a new lower-case UUIDv4", id)
			}
			if seen := rec.Header().Get("X-Seen-Id"); tc.path != "/nope" && seen != id {
				t.Errorf("handler saw id %q, response carries %q", seen, id)
			}
			if got := rec.Header().Get(errorsx.HeaderRequestIDStripe); got != id {
				t.Errorf("got Request-Id %q, want %q", got, id)
			}
		})
	}
}

// Requests without an id all get different ones, also concurrently.
func TestRequestIDUnique(t *testing.T) {
	e := requestIDEcho()
	const n = 200
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ok", nil))
			ids <- rec.Header().Get(errorsx.HeaderRequestID)
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %q given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("got %d distinct ids, want %d", len(seen), n)
	}
}

// The middleware fixes the id before the handler runs: whatever the handler
// later does to the request header, the id stays.
func TestRequestIDFixedBeforeHandler(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})))
	e.GET("/", func(c echo.Context) error {
		c.Request().Header.Set(errorsx.HeaderRequestID, "changed-later")
		return errorsx.Internal()
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(errorsx.HeaderRequestID, "original")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if got := rec.Header().Get(errorsx.HeaderRequestID); got != "original" {
		t.Errorf("got %q, want %q", got, "original")
	}
}

func ExampleRequestID() {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	e.Use(middleware.Must(middleware.RequestID(middleware.RequestIDConfig{})))
	e.GET("/", func(c echo.Context) error {
		return c.String(http.StatusOK, "request "+errorsx.RequestID(c.Response().Header(), c.Request()))
	})

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Request-Id", "req_42")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	fmt.Println(rec.Header().Get("X-Request-Id"), rec.Body.String())
	// Output:
	// req_42 request req_42
}
