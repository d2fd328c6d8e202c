package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// headerLimitServer is an Echo app with the renderer and a HeaderLimit of
// max bytes in front of one route.
func headerLimitServer(t *testing.T, cfg middleware.HeaderLimitConfig) *echo.Echo {
	t.Helper()
	limit, err := middleware.HeaderLimit(cfg)
	if err != nil {
		t.Fatalf("HeaderLimit(%+v): %v", cfg, err)
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{})
	e.Use(limit)
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	return e
}

func TestHeaderLimit(t *testing.T) {
	// sizeOf is the size HeaderLimit counts for GET / with Host example.com
	// and the header X-Pad: pad, as HTTP/1.1 would send them.
	sizeOf := func(pad string) int {
		return len("GET / HTTP/1.1\r\n") + len("Host: example.com\r\n") + len("X-Pad: "+pad+"\r\n")
	}
	tests := []struct {
		name   string
		cfg    middleware.HeaderLimitConfig
		pad    string
		status int
	}{
		{"small headers pass", middleware.HeaderLimitConfig{}, "x", 200},
		{"default limit is 16 KiB: just under", middleware.HeaderLimitConfig{},
			strings.Repeat("a", middleware.DefaultMaxHeaderBytes-sizeOf("")), 200},
		{"default limit is 16 KiB: one byte over", middleware.HeaderLimitConfig{},
			strings.Repeat("a", middleware.DefaultMaxHeaderBytes-sizeOf("")+1), 400},
		{"custom limit: at it", middleware.HeaderLimitConfig{MaxBytes: 100}, strings.Repeat("a", 100-sizeOf("")), 200},
		{"custom limit: over it", middleware.HeaderLimitConfig{MaxBytes: 100}, strings.Repeat("a", 101-sizeOf("")), 400},
		{"skipped", middleware.HeaderLimitConfig{MaxBytes: 100, Skipper: func(echo.Context) bool { return true }},
			strings.Repeat("a", 1000), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := headerLimitServer(t, tt.cfg)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Host = "example.com"
			req.Header.Set("X-Pad", tt.pad)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.status != 400 {
				return
			}
			want := `{"error":{"type":"invalid_request_error","code":"invalid_request","message":"The request headers are too large: at most ` +
				strconv.Itoa(headerMax(tt.cfg)) + ` bytes are accepted."}}`
			if got := strings.TrimSpace(rec.Body.String()); got != want {
				t.Errorf("body %s, want %s", got, want)
			}
		})
	}
}

// TestHeaderLimitCountsEveryValue checks that repeated fields and many
// small fields add up: the limit is on the whole header section.
func TestHeaderLimitCountsEveryValue(t *testing.T) {
	e := headerLimitServer(t, middleware.HeaderLimitConfig{MaxBytes: 1000})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for range 50 {
		req.Header.Add("X-Many", "0123456789") // 50 × 20 bytes = 1000 bytes
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: 50 values of 20 bytes plus the request line exceed 1000 bytes", rec.Code)
	}
}

func TestHeaderLimitConfigErrors(t *testing.T) {
	if _, err := middleware.HeaderLimit(middleware.HeaderLimitConfig{MaxBytes: -1}); err == nil {
		t.Error("MaxBytes -1: got no error, want one")
	}
}

func headerMax(cfg middleware.HeaderLimitConfig) int {
	if cfg.MaxBytes == 0 {
		return middleware.DefaultMaxHeaderBytes
	}
	return cfg.MaxBytes
}
