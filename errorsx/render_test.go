package errorsx_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// The eleven rows through a real Echo: exact body, status and the headers
// of each row.
func TestRenderEveryRow(t *testing.T) {
	for _, tc := range constructors {
		t.Run(string(tc.code), func(t *testing.T) {
			row := rowFor(t, string(tc.code))
			rec := renderErr(t, errorsx.HandlerConfig{}, tc.new())

			wantBody := fmt.Sprintf(`{"error":{"type":%q,"code":%q,"message":%q}}`, row.Type, row.Code, row.Message)
			if got := rec.Body.String(); got != wantBody {
				t.Errorf("got body %s, want %s", got, wantBody)
			}
			if rec.Code != row.Status {
				t.Errorf("got status %d, want %d", rec.Code, row.Status)
			}
			h := rec.Header()
			want := map[string]string{
				echo.HeaderContentType:    errorsx.ContentTypeJSON,
				echo.HeaderContentLength:  strconv.Itoa(len(wantBody)),
				errorsx.HeaderShouldRetry: strconv.FormatBool(row.Retryable),
				errorsx.HeaderRetryAfter:  "",
				"WWW-Authenticate":        "",
				"Request-Id":              "",
			}
			if row.Code == errorsx.CodeRateLimitExceeded || row.Code == errorsx.CodeServiceUnavailable {
				want[errorsx.HeaderRetryAfter] = "1"
			}
			if row.Status == http.StatusUnauthorized {
				want["WWW-Authenticate"] = `Bearer realm="api"`
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("got %s %q, want %q", k, got, v)
				}
			}
			if _, err := uuid.Parse(h.Get(errorsx.HeaderRequestID)); err != nil {
				t.Errorf("got X-Request-Id %q, want a new UUID: %v", h.Get(errorsx.HeaderRequestID), err)
			}
		})
	}
}

func TestRenderParamAndMessage(t *testing.T) {
	err := errorsx.ModelInputInvalid().WithParam("input.duration").WithMessage(`duration must be at most 10 for "clipia-fast" <b>&</b>`)
	rec := renderErr(t, errorsx.HandlerConfig{}, fmt.Errorf("validate: %w", err))
	want := `{"error":{"type":"invalid_request_error","code":"model_input_invalid","message":"duration must be at most 10 for \"clipia-fast\" \u003cb\u003e\u0026\u003c/b\u003e","param":"input.duration"}}`
	if got := rec.Body.String(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	env, _, cerr := checkRow(rec)
	if cerr != nil {
		t.Fatal(cerr)
	}
	if env.Message != err.Message() || env.Param != "input.duration" {
		t.Errorf("got message %q param %q", env.Message, env.Param)
	}
}

func TestRequestIDHeaders(t *testing.T) {
	long := strings.Repeat("a", errorsx.MaxRequestIDLen)
	tests := []struct {
		name       string
		incoming   string // X-Request-Id sent by the client; "" sends none
		preset     string // X-Request-Id already on the response (the middleware)
		sendStripe bool
		wantKept   string // the id the response must carry; "" means a new UUID
	}{
		{name: "none sent", wantKept: ""},
		{name: "sane uuid kept", incoming: "0b6f5f0e-8d2a-4e8b-9a53-0c1c1f2f3a4b", wantKept: "0b6f5f0e-8d2a-4e8b-9a53-0c1c1f2f3a4b"},
		{name: "sane token kept", incoming: "req_01HZX:abc/def+g=h@i.j", wantKept: "req_01HZX:abc/def+g=h@i.j"},
		{name: "longest kept", incoming: long, wantKept: long},
		{name: "too long replaced", incoming: long + "a"},
		{name: "space replaced", incoming: "req 1"},
		{name: "quote replaced", incoming: `req"1`},
		{name: "non-ASCII replaced", incoming: "req-é"},
		{name: "comma replaced", incoming: "a,b"},
		{name: "preset by middleware kept", incoming: "from-client", preset: "from-middleware", wantKept: "from-middleware"},
		{name: "Request-Id sent when enabled", incoming: "abc-123", sendStripe: true, wantKept: "abc-123"},
		{name: "Request-Id with a new id", incoming: "bad id", sendStripe: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := testLogger()
			e := echo.New()
			e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{Logger: logger})
			e.Use(echo4.Use(guard.RequestID(guard.RequestIDConfig{SendRequestID: tc.sendStripe})))
			e.GET("/fail", func(c echo.Context) error {
				if tc.preset != "" {
					c.Response().Header().Set(errorsx.HeaderRequestID, tc.preset)
				}
				return errorsx.Internal().WithCause(errors.New("boom"))
			})
			req := httptest.NewRequest(http.MethodGet, "/fail", nil)
			if tc.incoming != "" {
				req.Header.Set(errorsx.HeaderRequestID, tc.incoming)
			}
			rec := serve(e, req)
			got := rec.Header().Values(errorsx.HeaderRequestID)
			if len(got) != 1 {
				t.Fatalf("got X-Request-Id %q, want exactly one value", got)
			}
			id := got[0]
			if tc.wantKept != "" {
				if id != tc.wantKept {
					t.Errorf("got X-Request-Id %q, want %q", id, tc.wantKept)
				}
			} else if u, err := uuid.Parse(id); err != nil || u.Version() != 4 || id == tc.incoming {
				t.Errorf("got X-Request-Id %q, want a new random UUID", id)
			}
			stripe := rec.Header().Get(errorsx.HeaderRequestIDStripe)
			if tc.sendStripe && stripe != id {
				t.Errorf("got Request-Id %q, want %q", stripe, id)
			}
			if !tc.sendStripe && stripe != "" {
				t.Errorf("got Request-Id %q, want none when disabled", stripe)
			}
			recs := logs.records(t)
			if len(recs) != 1 || recs[0]["request_id"] != id {
				t.Errorf("got log %v, want one record with request_id %q", recs, id)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		preset string   // Retry-After already on the response
		rl     []string // RateLimit field lines already on the response
		want   string   // "" means absent
	}{
		{name: "429 without a wait", err: errorsx.RateLimitExceeded(), want: "1"},
		{name: "429 under a second", err: errorsx.RateLimitExceeded().WithRetryAfter(200 * time.Millisecond), want: "1"},
		{name: "429 rounds up", err: errorsx.RateLimitExceeded().WithRetryAfter(1500 * time.Millisecond), want: "2"},
		{name: "429 whole seconds", err: errorsx.RateLimitExceeded().WithRetryAfter(30 * time.Second), want: "30"},
		{name: "429 keeps a middleware's wait", err: errorsx.RateLimitExceeded(), preset: "7", want: "7"},
		{name: "429 replaces a bad preset", err: errorsx.RateLimitExceeded(), preset: "soon", want: "1"},
		{name: "429 replaces a zero preset", err: errorsx.RateLimitExceeded(), preset: "0", want: "1"},
		{name: "429 error's wait beats a preset", err: errorsx.RateLimitExceeded().WithRetryAfter(3 * time.Second), preset: "7", want: "3"},
		{name: "echo 429", err: echo.ErrTooManyRequests, want: "1"},
		{name: "503 without a wait", err: errorsx.ServiceUnavailable(), want: "1"},
		{name: "503 keeps a middleware's wait", err: errorsx.ServiceUnavailable(), preset: "5", want: "5"},
		{name: "503 replaces a bad preset", err: errorsx.ServiceUnavailable(), preset: "later", want: "1"},
		{name: "503 error's wait beats a preset", err: errorsx.ServiceUnavailable().WithRetryAfter(3 * time.Second), preset: "7", want: "3"},
		{name: "echo 503", err: echo.ErrServiceUnavailable, want: "1"},
		{name: "503 wrapped in a plain error", err: fmt.Errorf("store: %w", errorsx.ServiceUnavailable()), want: "1"},
		{name: "503 with a wait", err: errorsx.ServiceUnavailable().WithRetryAfter(2*time.Second + time.Millisecond), want: "3"},
		{name: "request_in_progress with a wait", err: errorsx.RequestInProgress().WithRetryAfter(time.Second), want: "1"},
		{name: "request_in_progress without a wait", err: errorsx.RequestInProgress(), want: ""},
		{name: "500 with a wait", err: errorsx.Internal().WithRetryAfter(4 * time.Second), want: "4"},
		{name: "non-retryable 400 never carries one", err: errorsx.InvalidRequest().WithRetryAfter(5 * time.Second), want: ""},
		{name: "non-retryable 409 reuse never carries one", err: errorsx.IdempotencyKeyReuse().WithRetryAfter(5 * time.Second), want: ""},
		// Draft -10 section 6: Retry-After never earlier than a RateLimit t.
		{name: "503 waits for the limiter's t", err: errorsx.ServiceUnavailable(), rl: []string{`"burst";r=3;t=5`}, want: "5"},
		{name: "429 waits for the largest t", err: errorsx.RateLimitExceeded().WithRetryAfter(time.Second),
			rl: []string{`"a";r=0;t=2, "b";r=1;t=12`, `"inflight";r=0;t=1`}, want: "12"},
		{name: "a longer wait stays", err: errorsx.RateLimitExceeded().WithRetryAfter(9 * time.Second), rl: []string{`"p";r=0;t=1`}, want: "9"},
		{name: "a middleware's wait is raised to t", err: errorsx.ServiceUnavailable(), preset: "2", rl: []string{`"p";r=0;t=4`}, want: "4"},
		{name: "no t, no change", err: errorsx.ServiceUnavailable(), rl: []string{`"inflight";r=1`}, want: "1"},
		{name: "request_in_progress waits for t", err: errorsx.RequestInProgress().WithRetryAfter(time.Second), rl: []string{`"p";r=4;t=3`}, want: "3"},
		{name: "non-retryable 400 still carries none", err: errorsx.InvalidRequest(), rl: []string{`"p";r=0;t=3`}, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(errorsx.HandlerConfig{}, nil)
			e.GET("/x", func(c echo.Context) error {
				if tc.preset != "" {
					c.Response().Header().Set(errorsx.HeaderRetryAfter, tc.preset)
				}
				for _, v := range tc.rl {
					c.Response().Header().Add("RateLimit", v)
				}
				return tc.err
			})
			rec := serve(e, httptest.NewRequest(http.MethodGet, "/x", nil))
			if _, _, err := checkRow(rec); err != nil {
				t.Fatal(err)
			}
			if got := rec.Header().Get(errorsx.HeaderRetryAfter); got != tc.want {
				t.Errorf("got Retry-After %q, want %q", got, tc.want)
			}
		})
	}
}

func TestShouldRetryPerRow(t *testing.T) {
	for _, tc := range constructors {
		t.Run(string(tc.code), func(t *testing.T) {
			rec := renderErr(t, errorsx.HandlerConfig{}, tc.new())
			want := "false"
			switch tc.code {
			case errorsx.CodeRequestInProgress, errorsx.CodeRateLimitExceeded, errorsx.CodeInternal, errorsx.CodeServiceUnavailable:
				want = "true"
			}
			if got := rec.Header().Values(errorsx.HeaderShouldRetry); len(got) != 1 || got[0] != want {
				t.Errorf("got X-Should-Retry %q, want [%s]", got, want)
			}
		})
	}
}

func TestWWWAuthenticate(t *testing.T) {
	tests := []struct {
		name   string
		cfg    errorsx.HandlerConfig
		err    error
		header [2]string // a request header
		preset string    // WWW-Authenticate already on the response
		want   string
	}{
		{name: "no key sent", err: errorsx.InvalidAPIKey(), want: `Bearer realm="api"`},
		{name: "bearer key sent", err: errorsx.InvalidAPIKey(), header: [2]string{"Authorization", "Bearer sk_bad"},
			want: `Bearer realm="api", error="invalid_token"`},
		{name: "X-API-Key sent, not marked", err: errorsx.InvalidAPIKey(), header: [2]string{"X-API-Key", "sk_bad"},
			want: `Bearer realm="api"`},
		{name: "credential rejected marked", err: errorsx.InvalidAPIKey().WithCause(fmt.Errorf("key: %w", errorsx.ErrCredentialRejected)),
			header: [2]string{"X-Custom-Key", "sk_bad"}, want: `Bearer realm="api", error="invalid_token"`},
		{name: "echo 401", err: echo.ErrUnauthorized, header: [2]string{"Authorization", "Basic eA=="},
			want: `Bearer realm="api", error="invalid_token"`},
		{name: "custom realm", cfg: errorsx.HandlerConfig{Realm: "clipia"}, err: errorsx.InvalidAPIKey(), want: `Bearer realm="clipia"`},
		{name: "realm quoted", cfg: errorsx.HandlerConfig{Realm: `a"b\c` + "\r\n"}, err: errorsx.InvalidAPIKey(), want: `Bearer realm="a\"b\\c"`},
		{name: "middleware's challenge kept", err: errorsx.InvalidAPIKey(), preset: `Bearer realm="other", scope="x"`,
			want: `Bearer realm="other", scope="x"`},
		{name: "403 has none", err: errorsx.InsufficientScope(), header: [2]string{"Authorization", "Bearer k"}, want: ""},
		{name: "400 has none", err: errorsx.InvalidRequest(), want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEcho(tc.cfg, nil)
			e.GET("/x", func(c echo.Context) error {
				if tc.preset != "" {
					c.Response().Header().Set(errorsx.HeaderWWWAuthenticate, tc.preset)
				}
				return tc.err
			})
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			rec := serve(e, req)
			if got := rec.Header().Get(errorsx.HeaderWWWAuthenticate); got != tc.want {
				t.Errorf("got WWW-Authenticate %q, want %q", got, tc.want)
			}
		})
	}
}

// A handler that already wrote its response and then returns an error: the
// response stays as written; the error is only logged.
func TestCommittedResponseIsNotRewritten(t *testing.T) {
	logger, logs := testLogger()
	e := newEcho(errorsx.HandlerConfig{Logger: logger}, nil)
	e.GET("/x", func(c echo.Context) error {
		if err := c.String(http.StatusOK, "partial"); err != nil {
			return err
		}
		return errors.New("write to upstream failed after the response started")
	})
	rec := serve(e, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Errorf("got %d %q, want 200 %q", rec.Code, rec.Body, "partial")
	}
	if got := rec.Header().Get(errorsx.HeaderShouldRetry); got != "" {
		t.Errorf("got X-Should-Retry %q on a committed response, want none", got)
	}
	if got := rec.Header().Get(echo.HeaderContentType); got != echo.MIMETextPlainCharsetUTF8 {
		t.Errorf("got Content-Type %q, want the handler's", got)
	}
	if !strings.Contains(logs.String(), "after the response started") {
		t.Errorf("got log %s, want the error logged", logs)
	}
}

func TestHEADGetsStatusAndHeadersOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"404", errorsx.NotFound()},
		{"429", errorsx.RateLimitExceeded().WithRetryAfter(2 * time.Second)},
		{"401", errorsx.InvalidAPIKey()},
		{"500 unknown", errors.New("boom")},
		{"echo 404", echo.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEchoRequestID(errorsx.HandlerConfig{}, func() error { return tc.err })
			get := serve(e, httptest.NewRequest(http.MethodGet, "/fail", nil))
			head := serve(e, httptest.NewRequest(http.MethodHead, "/fail", nil))
			if head.Code != get.Code {
				t.Errorf("got HEAD status %d, want %d as for GET", head.Code, get.Code)
			}
			if head.Body.Len() != 0 {
				t.Errorf("got HEAD body %q, want none", head.Body)
			}
			for _, k := range []string{echo.HeaderContentType, errorsx.HeaderShouldRetry, errorsx.HeaderRetryAfter, errorsx.HeaderWWWAuthenticate} {
				if g, h := get.Header().Get(k), head.Header().Get(k); g != h {
					t.Errorf("%s: got HEAD %q, want %q as for GET", k, h, g)
				}
			}
			if head.Header().Get(errorsx.HeaderRequestID) == "" || head.Header().Get(errorsx.HeaderRequestIDStripe) == "" {
				t.Error("HEAD: want X-Request-Id and Request-Id")
			}
		})
	}
}

// Headers a handler set before failing that would corrupt the error body
// are replaced.
func TestStaleBodyHeadersAreReplaced(t *testing.T) {
	e := newEcho(errorsx.HandlerConfig{}, nil)
	e.GET("/x", func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "text/html")
		h.Set(echo.HeaderContentLength, "99999")
		h.Set(echo.HeaderContentEncoding, "gzip")
		return errorsx.NotFound()
	})
	rec := serve(e, httptest.NewRequest(http.MethodGet, "/x", nil))
	if _, _, err := checkRow(rec); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Header().Get(echo.HeaderContentLength), strconv.Itoa(rec.Body.Len()); got != want {
		t.Errorf("got Content-Length %s, want %s", got, want)
	}
	if got := rec.Header().Get(echo.HeaderContentEncoding); got != "" {
		t.Errorf("got Content-Encoding %q, want none", got)
	}
}

func TestLogging(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantLevel string
		wantError string
	}{
		{"unknown error is an Error record with the cause", errors.New("redis: connection pool timeout"), "ERROR", "redis: connection pool timeout"},
		{"5xx cause", errorsx.ServiceUnavailable().WithCause(errors.New("upstream 10.1.2.3:443 down")), "ERROR", "upstream 10.1.2.3:443 down"},
		{"4xx is Debug", errorsx.NotFound().WithCause(errors.New("no row gen_123")), "DEBUG", "no row gen_123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := testLogger()
			e := newEcho(errorsx.HandlerConfig{Logger: logger}, func() error { return tc.err })
			req := httptest.NewRequest(http.MethodPost, "/fail", nil)
			req.Header.Set(errorsx.HeaderRequestID, "req-log-1")
			rec := serve(e, req)
			recs := logs.records(t)
			if len(recs) != 1 {
				t.Fatalf("got %d log records, want 1: %s", len(recs), logs)
			}
			r := recs[0]
			want := map[string]any{
				"level": tc.wantLevel, "request_id": "req-log-1", "method": "POST", "route": "/fail",
				"status": float64(rec.Code), "error": tc.wantError,
			}
			for k, v := range want {
				if got := r[k]; got != v && !(k == "error" && strings.Contains(fmt.Sprint(got), tc.wantError)) {
					t.Errorf("log %s: got %v, want %v", k, got, v)
				}
			}
			if strings.Contains(rec.Body.String(), tc.wantError) {
				t.Errorf("the cause reached the body: %s", rec.Body)
			}
		})
	}
}

// With a nil Logger the renderer logs to slog.Default.
func TestNilLoggerUsesDefault(t *testing.T) {
	logger, logs := testLogger()
	old := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(old) })

	e := echo.New()
	e.HTTPErrorHandler = echo4.ErrorHandler(errorsx.HandlerConfig{})
	e.GET("/x", func(c echo.Context) error { return errors.New("went to default") })
	serve(e, httptest.NewRequest(http.MethodGet, "/x", nil))
	if !strings.Contains(logs.String(), "went to default") {
		t.Errorf("got default log %q, want the error", logs)
	}
}
