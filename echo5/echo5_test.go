package echo5_test

import (
	"errors"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/logtest"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clipia/apiguard/echo5"
	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/principal"
	"github.com/labstack/echo/v5"
)

// logBuffer collects the JSON log records of the app under test.
type logBuffer = logtest.Buffer

func newApp(t *testing.T) (*echo.Echo, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	e := echo.New()
	e.Logger = slog.New(slog.NewJSONHandler(buf, nil)) // Echo's own complaints too
	e.HTTPErrorHandler = echo5.ErrorHandler(errorsx.HandlerConfig{
		Logger: slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return e, buf
}

func serve(e *echo.Echo, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

const notFoundBody = `{"error":{"type":"invalid_request_error","code":"not_found","message":"The requested resource was not found."}}`

// TestRouteMatched: unknown paths, wrong methods and a group's catch-all
// are unmatched; an app's own route on the catch-all's path is matched,
// which Echo v5 (unlike v4) can tell.
func TestRouteMatched(t *testing.T) {
	e, _ := newApp(t)
	var matched bool
	probe := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			matched = echo5.RouteMatched(c)
			return next(c)
		}
	}
	e.Use(probe)
	ok := func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) }
	v1 := e.Group("/v1", func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	v1.GET("/items/:id", ok)
	v1.Any("/any", ok)
	v2 := e.Group("/v2", func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	v2.GET("/*", ok) // the app's own route on the group's catch-all path
	e.GET("/", ok)
	e.GET("/static", ok)
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v1/items/7", true},
		{"GET", "/v1/items", false},
		{"GET", "/v1", false},
		{"GET", "/v1/nope/deeper", false},
		{"DELETE", "/v1/items/7", false},
		{"PATCH", "/v1/any", true},
		{"GET", "/v2/anything", true},
		{"POST", "/v2/anything", false},
		{"GET", "/", true},
		{"GET", "/static", true},
		{"PUT", "/static", false},
		{"OPTIONS", "/static", false},
		{"GET", "/nope", false},
	} {
		matched = !tc.want
		serve(e, tc.method, tc.path)
		if matched != tc.want {
			t.Errorf("%s %s: got %v, want %v", tc.method, tc.path, matched, tc.want)
		}
	}

	// No allocation on a matched route.
	c := e.NewContext(httptest.NewRequest("GET", "/v1/items/7", nil), httptest.NewRecorder())
	e.Router().Route(c)
	if !echo5.RouteMatched(c) {
		t.Fatal("not matched")
	}
	if n := alloctest.PerRun(100, func() { echo5.RouteMatched(c) }); n != 0 {
		t.Errorf("got %.0f allocations, want none", n)
	}
}

// TestHead: HEAD runs as GET through the GET route, with GET's headers
// and Content-Length and no body; an own HEAD route and an Any route keep
// HEAD; Skip skips.
func TestHead(t *testing.T) {
	e, _ := newApp(t)
	e.Pre(echo5.Must(echo5.Head(echo5.HeadConfig{Skip: func(r *http.Request) bool { return r.URL.Path == "/skip" }})))
	method := func(c *echo.Context) error {
		c.Response().Header().Set("ETag", `"1"`)
		return c.String(http.StatusOK, c.Request().Method+strings.Repeat(".", 5000))
	}
	e.GET("/get", method)
	e.GET("/skip", method)
	e.HEAD("/own", func(c *echo.Context) error {
		c.Response().Header().Set("X-Method", c.Request().Method)
		return c.NoContent(http.StatusNoContent)
	})
	e.GET("/own", method)
	e.Any("/any", func(c *echo.Context) error { return c.String(http.StatusOK, c.Request().Method) })
	e.GET("/fail", func(*echo.Context) error { return errorsx.RateLimitExceeded() })

	get, head := serve(e, "GET", "/get"), serve(e, "HEAD", "/get")
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != "5003" ||
		head.Header().Get("ETag") != get.Header().Get("ETag") || head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
		t.Errorf("HEAD /get: got %d %v %d body bytes", head.Code, head.Header(), head.Body.Len())
	}
	if rec := serve(e, "HEAD", "/own"); rec.Code != 204 || rec.Header().Get("X-Method") != "HEAD" {
		t.Errorf("own HEAD: got %d %v", rec.Code, rec.Header())
	}
	if rec := serve(e, "HEAD", "/any"); rec.Code != 200 || rec.Body.String() != "HEAD" {
		t.Errorf("Any: got %d %q, want the handler to see HEAD", rec.Code, rec.Body)
	}
	if rec := serve(e, "HEAD", "/skip"); rec.Code != 404 {
		t.Errorf("skipped: got %d, want Echo's own 404 for an unrouted HEAD", rec.Code)
	}
	get, head = serve(e, "GET", "/fail"), serve(e, "HEAD", "/fail")
	if head.Code != 429 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != get.Header().Get("Content-Length") ||
		head.Header().Get("Retry-After") != "1" {
		t.Errorf("HEAD /fail: got %d %v %q", head.Code, head.Header(), head.Body)
	}
	if rec := serve(e, "HEAD", "/nope"); rec.Code != 404 || rec.Body.Len() != 0 ||
		rec.Header().Get("Content-Length") != "111" {
		t.Errorf("HEAD /nope: got %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}

// TestErrorHandler: the router's 404 and 405 are the 404 envelope (without
// Allow); a committed response is never rewritten, and logged once.
func TestErrorHandler(t *testing.T) {
	e, logs := newApp(t)
	e.GET("/items", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/stream", func(c *echo.Context) error {
		_ = c.String(http.StatusOK, "partial")
		return errors.New("broke")
	})
	for _, tc := range []struct{ method, path string }{{"GET", "/nope"}, {"POST", "/items"}} {
		rec := serve(e, tc.method, tc.path)
		if rec.Code != 404 || rec.Body.String() != notFoundBody || rec.Header().Get("Allow") != "" {
			t.Errorf("%s %s: got %d %v %s", tc.method, tc.path, rec.Code, rec.Header(), rec.Body)
		}
	}
	logs.Reset()
	rec := serve(e, "GET", "/stream")
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Errorf("got %d %q", rec.Code, rec.Body)
	}
	if recs := logs.Records(t, ""); len(recs) != 1 || recs[0]["msg"] != "error after response was committed" || recs[0]["route"] != "/stream" {
		t.Errorf("got records %v", recs)
	}
}

// TestRender: an error rendered early is written and logged once.
func TestRender(t *testing.T) {
	e, logs := newApp(t)
	var inspected int
	e.GET("/early", func(c *echo.Context) error {
		err := echo5.Render(c, errorsx.RequestInProgress())
		res, _ := echo.UnwrapResponse(c.Response())
		inspected = res.Status
		return err
	})
	rec := serve(e, "GET", "/early")
	if rec.Code != 409 || inspected != 409 || strings.Count(rec.Body.String(), `"error"`) != 1 {
		t.Errorf("got %d (inspected %d) %s", rec.Code, inspected, rec.Body)
	}
	if recs := logs.Records(t, ""); len(recs) != 1 {
		t.Errorf("got %d records, want 1: %v", len(recs), recs)
	}
	if echo5.Render(nil, nil) != nil {
		t.Error("Render(nil) is not nil")
	}
	// A context of no Echo renders with the zero configuration.
	rec = httptest.NewRecorder()
	c := echo.NewContext(httptest.NewRequest("GET", "/", nil), rec)
	if err := echo5.Render(c, errorsx.NotFound()); !errorsx.IsRendered(err) || rec.Code != 404 {
		t.Errorf("got %v %d", err, rec.Code)
	}
}

// TestFromEcho: nil, and errors that are not Echo's.
func TestFromEcho(t *testing.T) {
	if echo5.FromEcho(nil) != nil {
		t.Error("FromEcho(nil) is not nil")
	}
	for _, tc := range []struct {
		err  error
		code errorsx.Code
	}{
		{errorsx.NotFound(), errorsx.CodeNotFound},
		{errors.New("x"), errorsx.CodeInternal},
		{echo.NewBindingError("limit", []string{"x"}, "query param", errors.New("strconv")), errorsx.CodeInvalidRequest},
		{(*echo.BindingError)(nil), errorsx.CodeInternal},
	} {
		if got := echo5.FromEcho(tc.err); got.Code() != tc.code {
			t.Errorf("%v: got %s, want %s", tc.err, got.Code(), tc.code)
		}
	}
	if got := echo5.FromEcho(echo.NewBindingError("limit", nil, "m", nil)); got.Param() != "limit" || got.Message() != "limit is not valid" {
		t.Errorf("binding error: got %q %q", got.Param(), got.Message())
	}
}

// TestRecover: a panic is a returned internal_error with ErrPanic;
// ErrAbortHandler goes on; Skip; a negative StackSize.
func TestRecover(t *testing.T) {
	if _, err := echo5.Recover(echo5.RecoverConfig{StackSize: -1}); err == nil {
		t.Error("negative StackSize: got no error")
	}
	mw := echo5.Must(echo5.Recover(echo5.RecoverConfig{Skip: func(r *http.Request) bool { return r.URL.Path == "/skip" }}))
	c := echo.NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
	err := mw(func(*echo.Context) error { panic("boom") })(c)
	var ae *errorsx.Error
	if !errors.As(err, &ae) || ae.Code() != errorsx.CodeInternal || !errors.Is(err, echo5.ErrPanic) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("got %v", err)
	}
	for _, tc := range []struct {
		path string
		v    any
	}{{"/", http.ErrAbortHandler}, {"/skip", "boom"}} {
		func() {
			defer func() {
				if recover() != tc.v {
					t.Errorf("%s %v: not re-panicked", tc.path, tc.v)
				}
			}()
			c := echo.NewContext(httptest.NewRequest("GET", tc.path, nil), httptest.NewRecorder())
			_ = mw(func(*echo.Context) error { panic(tc.v) })(c)
		}()
	}
}

// TestRequestIDAndHeaderLimit: the small middlewares and their Skip.
func TestRequestIDAndHeaderLimit(t *testing.T) {
	if _, err := echo5.HeaderLimit(echo5.HeaderLimitConfig{MaxBytes: -1}); err == nil {
		t.Error("negative MaxBytes: got no error")
	}
	e, _ := newApp(t)
	e.Use(echo5.Must(echo5.RequestID(echo5.RequestIDConfig{SendRequestID: true,
		Skip: func(r *http.Request) bool { return r.URL.Path == "/skip" }})))
	e.Use(echo5.Must(echo5.HeaderLimit(echo5.HeaderLimitConfig{MaxBytes: 300,
		Skip: func(r *http.Request) bool { return r.URL.Path == "/skip" }})))
	ok := func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) }
	e.GET("/", ok)
	e.GET("/skip", ok)
	for _, tc := range []struct {
		path, id string
		big      int
		code     int
		wantID   string
	}{
		{"/", "req_1", 0, 204, "req_1"},
		{"/", "req_1", 400, 400, "req_1"},
		{"/skip", "req_1", 400, 204, ""},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set(errorsx.HeaderRequestID, tc.id)
		req.Header.Set("X-Big", strings.Repeat("b", tc.big))
		e.ServeHTTP(rec, req)
		if rec.Code != tc.code || rec.Header().Get(errorsx.HeaderRequestIDStripe) != tc.wantID {
			t.Errorf("%s %d: got %d %v", tc.path, tc.big, rec.Code, rec.Header())
		}
	}
}

// TestPrincipalFrom reads the caller from the request's context.
func TestPrincipalFrom(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	c := echo.NewContext(req, httptest.NewRecorder())
	if _, ok := echo5.PrincipalFrom(c); ok {
		t.Error("got a principal without auth")
	}
	p := &principal.Principal{KeyID: "key_1"}
	c.SetRequest(req.WithContext(principal.NewContext(req.Context(), p)))
	if got, ok := echo5.PrincipalFrom(c); !ok || got != p {
		t.Errorf("got %v %v", got, ok)
	}
}

// TestMust panics on an error.
func TestMust(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Must did not panic")
		}
	}()
	echo5.Must(echo5.Recover(echo5.RecoverConfig{StackSize: -1}))
}
