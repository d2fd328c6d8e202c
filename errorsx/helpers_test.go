package errorsx_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/labstack/echo/v4"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// testLogger returns a debug-level JSON logger writing into a buffer.
func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// discardLogger drops every record.
func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// newEcho returns an Echo with the renderer installed and GET/POST/HEAD
// routes on /fail that return the error produced by errf.
func newEcho(cfg errorsx.HandlerConfig, errf func() error) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	e := echo.New()
	e.HideBanner = true
	e.HTTPErrorHandler = echo4.ErrorHandler(cfg)
	h := func(c echo.Context) error { return errf() }
	e.GET("/fail", h)
	e.POST("/fail", h)
	e.HEAD("/fail", h)
	return e
}

// newEchoRequestID is newEcho with the request id guard in front,
// sending Request-Id too, as the golden files are rendered.
func newEchoRequestID(cfg errorsx.HandlerConfig, errf func() error) *echo.Echo {
	e := newEcho(cfg, errf)
	e.Use(echo4.Use(guard.RequestID(guard.RequestIDConfig{SendRequestID: true})))
	return e
}

// serve sends req through e and returns the recorded response.
func serve(e *echo.Echo, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// renderErr renders err for a plain GET /fail and returns the response.
func renderErr(t testing.TB, cfg errorsx.HandlerConfig, err error, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	return renderWith(newEcho(cfg, func() error { return err }), hdr...)
}

// renderErrRequestID is renderErr through newEchoRequestID.
func renderErrRequestID(t testing.TB, cfg errorsx.HandlerConfig, err error, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	return renderWith(newEchoRequestID(cfg, func() error { return err }), hdr...)
}

func renderWith(e *echo.Echo, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/fail", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return serve(e, req)
}

// envelope is the decoded error envelope.
type envelope struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param"`
}

// checkEnvelope decodes body as the contract's envelope, checking the exact
// key sets: {"error"} outside and type, code, message and optionally param
// inside, all non-empty strings.
func checkEnvelope(body []byte) (envelope, error) {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		return envelope{}, fmt.Errorf("body %q is not a JSON object: %v", body, err)
	}
	if len(outer) != 1 || outer["error"] == nil {
		return envelope{}, fmt.Errorf("body %q: got keys %v, want exactly [error]", body, keys(outer))
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(outer["error"], &inner); err != nil {
		return envelope{}, fmt.Errorf("body %q: error member is not an object: %v", body, err)
	}
	got := keys(inner)
	want := []string{"code", "message", "type"}
	if _, ok := inner["param"]; ok {
		want = []string{"code", "message", "param", "type"}
	}
	if !slices.Equal(got, want) {
		return envelope{}, fmt.Errorf("body %q: got error keys %v, want %v", body, got, want)
	}
	for k, v := range inner {
		var s string
		if err := json.Unmarshal(v, &s); err != nil || s == "" {
			return envelope{}, fmt.Errorf("body %q: error.%s = %s, want a non-empty string", body, k, v)
		}
	}
	var env struct{ Error envelope }
	if err := json.Unmarshal(body, &env); err != nil {
		return envelope{}, err
	}
	return env.Error, nil
}

// problem is a decoded RFC 9457 problem document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Param  string `json:"param"`
}

// checkProblem decodes body as a problem document with the exact key set.
func checkProblem(body []byte) (problem, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return problem{}, fmt.Errorf("body %q is not a JSON object: %v", body, err)
	}
	got := keys(m)
	want := []string{"code", "detail", "status", "title", "type"}
	if _, ok := m["param"]; ok {
		want = []string{"code", "detail", "param", "status", "title", "type"}
	}
	if !slices.Equal(got, want) {
		return problem{}, fmt.Errorf("body %q: got keys %v, want %v", body, got, want)
	}
	var p problem
	if err := json.Unmarshal(body, &p); err != nil {
		return problem{}, err
	}
	return p, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// rowFor returns the catalogue row with code.
func rowFor(t testing.TB, code string) errorsx.Row {
	t.Helper()
	r, ok := errorsx.Lookup(errorsx.Code(code))
	if !ok {
		t.Fatalf("code %q is not in the catalogue", code)
	}
	return r
}

// checkRow verifies that a response is one of the eleven rows, with a
// well-formed envelope whose status, code and type agree with the table and
// the X-Should-Retry header of that row. It returns the decoded envelope.
func checkRow(rec *httptest.ResponseRecorder) (envelope, errorsx.Row, error) {
	env, err := checkEnvelope(rec.Body.Bytes())
	if err != nil {
		return env, errorsx.Row{}, err
	}
	row, ok := errorsx.Lookup(errorsx.Code(env.Code))
	if !ok {
		return env, row, fmt.Errorf("code %q is not in the catalogue", env.Code)
	}
	if rec.Code != row.Status || env.Type != row.Type {
		return env, row, fmt.Errorf("got status %d type %q for code %q, want %d %q", rec.Code, env.Type, env.Code, row.Status, row.Type)
	}
	if got, want := rec.Header().Get(echo.HeaderContentType), errorsx.ContentTypeJSON; got != want {
		return env, row, fmt.Errorf("got Content-Type %q, want %q", got, want)
	}
	if got, want := rec.Header().Get(errorsx.HeaderShouldRetry), fmt.Sprint(row.Retryable); got != want {
		return env, row, fmt.Errorf("code %s: got X-Should-Retry %q, want %q", env.Code, got, want)
	}
	if rec.Header().Get(errorsx.HeaderRequestID) == "" {
		return env, row, fmt.Errorf("no X-Request-Id")
	}
	return env, row, nil
}
