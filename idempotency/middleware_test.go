package idempotency_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/middleware"
	"github.com/labstack/echo/v4"
)

// created is the handler's usual answer: 201 with headers some of which
// must be stored and some never.
func created(c echo.Context, body string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderLocation, "/v1/generations/gen_1")
	h.Set("ETag", `"v1"`)
	h.Set("Set-Cookie", "session=secret")
	h.Set("X-Custom", "not allowlisted")
	h.Set("RateLimit", `"default";r=7;t=1`)
	return c.JSONBlob(http.StatusCreated, []byte(body))
}

type step struct {
	r            req
	wantStatus   int
	wantCode     string // error code, "" for success
	wantReplayed bool
	wantBody     string // exact body, when set
	wantCalls    int32  // handler calls so far
}

// behaviours are run against every store kind.
var behaviours = []struct {
	name    string
	cfg     idempotency.Config
	handler func(call int32, c echo.Context) error // call counts from 1
	steps   []step
}{
	{
		name: "2xx is stored and replayed byte for byte",
		handler: func(call int32, c echo.Context) error {
			return created(c, `{"id":"gen_1","call":1}`)
		},
		steps: []step{
			{r: req{key: "k1", body: `{"prompt":"a cat"}`}, wantStatus: 201, wantBody: `{"id":"gen_1","call":1}`, wantCalls: 1},
			{r: req{key: "k1", body: `{"prompt":"a cat"}`}, wantStatus: 201, wantReplayed: true, wantBody: `{"id":"gen_1","call":1}`, wantCalls: 1},
			{r: req{key: "k1", body: `{"prompt":"a cat"}`}, wantStatus: 201, wantReplayed: true, wantBody: `{"id":"gen_1","call":1}`, wantCalls: 1},
		},
	},
	{
		name: "the handler's own 4xx is stored and replayed",
		handler: func(call int32, c echo.Context) error {
			return errorsx.InsufficientCredits()
		},
		steps: []step{
			{r: req{key: "k1", body: `{}`}, wantStatus: 402, wantCode: "insufficient_credits", wantCalls: 1},
			{r: req{key: "k1", body: `{}`}, wantStatus: 402, wantCode: "insufficient_credits", wantReplayed: true, wantCalls: 1},
		},
	},
	{
		name: "a 4xx written directly is stored and replayed",
		handler: func(call int32, c echo.Context) error {
			return c.String(http.StatusConflict, "plain conflict")
		},
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 409, wantBody: "plain conflict", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 409, wantBody: "plain conflict", wantReplayed: true, wantCalls: 1},
		},
	},
	{
		name: "5xx releases the claim, the retry runs again",
		handler: func(call int32, c echo.Context) error {
			if call == 1 {
				return errors.New("database at 10.0.0.7 is down")
			}
			return created(c, `{"ok":true}`)
		},
		steps: []step{
			{r: req{key: "k1", body: `{}`}, wantStatus: 500, wantCode: "internal_error", wantCalls: 1},
			{r: req{key: "k1", body: `{}`}, wantStatus: 201, wantCalls: 2},
			{r: req{key: "k1", body: `{}`}, wantStatus: 201, wantReplayed: true, wantCalls: 2},
		},
	},
	{
		name: "503 from the handler releases the claim",
		handler: func(call int32, c echo.Context) error {
			if call == 1 {
				return errorsx.ServiceUnavailable().WithRetryAfter(time.Second)
			}
			return created(c, `{"ok":true}`)
		},
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 503, wantCode: "service_unavailable", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 201, wantCalls: 2},
		},
	},
	{
		name: "429 releases the claim",
		handler: func(call int32, c echo.Context) error {
			if call == 1 {
				return errorsx.RateLimitExceeded().WithRetryAfter(time.Second)
			}
			return created(c, `{"ok":true}`)
		},
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 429, wantCode: "rate_limit_exceeded", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 201, wantCalls: 2},
			{r: req{key: "k1"}, wantStatus: 201, wantReplayed: true, wantCalls: 2},
		},
	},
	{
		name: "a panic releases the claim and still reaches Recover",
		handler: func(call int32, c echo.Context) error {
			if call == 1 {
				panic("boom")
			}
			return created(c, `{"ok":true}`)
		},
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 500, wantCode: "internal_error", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 201, wantCalls: 2},
			{r: req{key: "k1"}, wantStatus: 201, wantReplayed: true, wantCalls: 2},
		},
	},
	{
		name: "a retryable 4xx (request_in_progress from the handler) is not stored",
		handler: func(call int32, c echo.Context) error {
			if call == 1 {
				return errorsx.RequestInProgress()
			}
			return created(c, `{"ok":true}`)
		},
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 409, wantCode: "request_in_progress", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 201, wantCalls: 2},
		},
	},
	{
		name:    "other body with the same key is idempotency_key_reuse",
		handler: func(call int32, c echo.Context) error { return created(c, `{}`) },
		steps: []step{
			{r: req{key: "k1", body: `{"prompt":"a cat"}`}, wantStatus: 201, wantCalls: 1},
			{r: req{key: "k1", body: `{"prompt":"a dog"}`}, wantStatus: 409, wantCode: "idempotency_key_reuse", wantCalls: 1},
		},
	},
	{
		name:    "other query with the same key is idempotency_key_reuse",
		handler: func(call int32, c echo.Context) error { return created(c, `{}`) },
		steps: []step{
			{r: req{key: "k1", path: "/v1/generations?a=1&b=2"}, wantStatus: 201, wantCalls: 1},
			{r: req{key: "k1", path: "/v1/generations?b=2&a=1"}, wantStatus: 201, wantReplayed: true, wantCalls: 1},
			{r: req{key: "k1", path: "/v1/generations?a=2&b=2"}, wantStatus: 409, wantCode: "idempotency_key_reuse", wantCalls: 1},
		},
	},
	{
		name:    "JSON bodies are compared by meaning",
		handler: func(call int32, c echo.Context) error { return created(c, `{"id":"x"}`) },
		steps: []step{
			{r: req{key: "k1", body: `{"model":"clipia-fast","duration":5,"tags":[1,"a"]}`}, wantStatus: 201, wantCalls: 1},
			{r: req{key: "k1", body: "{\n  \"tags\": [1, \"\\u0061\"],\n  \"duration\": 5,\n  \"model\": \"clipia-fast\"\n}"},
				wantStatus: 201, wantReplayed: true, wantBody: `{"id":"x"}`, wantCalls: 1},
			{r: req{key: "k1", body: `{"model":"clipia-fast","duration":5.01,"tags":[1,"a"]}`}, wantStatus: 409, wantCode: "idempotency_key_reuse", wantCalls: 1},
		},
	},
	{
		name:    "bare and quoted keys are the same key",
		handler: func(call int32, c echo.Context) error { return created(c, `{}`) },
		steps: []step{
			{r: req{key: `abc-123`}, wantStatus: 201, wantCalls: 1},
			{r: req{key: `"abc-123"`}, wantStatus: 201, wantReplayed: true, wantCalls: 1},
		},
	},
	{
		name: "tenants never share records",
		handler: func(call int32, c echo.Context) error {
			return created(c, `{"tenant":"`+c.Request().Header.Get("X-Test-Tenant")+`"}`)
		},
		steps: []step{
			{r: req{key: "k1", tenant: "acme"}, wantStatus: 201, wantBody: `{"tenant":"acme"}`, wantCalls: 1},
			{r: req{key: "k1", tenant: "globex"}, wantStatus: 201, wantBody: `{"tenant":"globex"}`, wantCalls: 2},
			{r: req{key: "k1", tenant: "globex", body: `{"other":1}`}, wantStatus: 409, wantCode: "idempotency_key_reuse", wantCalls: 2},
			{r: req{key: "k1", tenant: "acme"}, wantStatus: 201, wantReplayed: true, wantBody: `{"tenant":"acme"}`, wantCalls: 2},
			{r: req{key: "k1"}, wantStatus: 201, wantBody: `{"tenant":""}`, wantCalls: 3},
		},
	},
	{
		name:    "routes never share records",
		handler: func(call int32, c echo.Context) error { return created(c, `{"path":"`+c.Path()+`"}`) },
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 201, wantCalls: 1},
			{r: req{key: "k1", path: "/v1/other"}, wantStatus: 201, wantBody: `{"path":"/v1/other"}`, wantCalls: 2},
		},
	},
	{
		name:    "without a key every request runs",
		handler: func(call int32, c echo.Context) error { return created(c, `{}`) },
		steps: []step{
			{r: req{}, wantStatus: 201, wantCalls: 1},
			{r: req{}, wantStatus: 201, wantCalls: 2},
		},
	},
	{
		name:    "GET is not guarded by default",
		handler: func(call int32, c echo.Context) error { return c.String(200, "list") },
		steps: []step{
			{r: req{method: "GET", key: "k1"}, wantStatus: 200, wantCalls: 1},
			{r: req{method: "GET", key: "k1"}, wantStatus: 200, wantCalls: 2},
		},
	},
	{
		name:    "configured methods replace the default",
		cfg:     idempotency.Config{Methods: []string{"get"}},
		handler: func(call int32, c echo.Context) error { return c.String(200, "list") },
		steps: []step{
			{r: req{method: "GET", key: "k1"}, wantStatus: 200, wantCalls: 1},
			{r: req{method: "GET", key: "k1"}, wantStatus: 200, wantReplayed: true, wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 200, wantCalls: 2},
			{r: req{key: "k1"}, wantStatus: 200, wantCalls: 3},
		},
	},
	{
		name: "the handler reads the whole body after fingerprinting",
		handler: func(call int32, c echo.Context) error {
			b, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return err
			}
			return c.Blob(200, "application/octet-stream", b)
		},
		steps: []step{
			{r: req{key: "k1", body: `{"prompt":"x"}`}, wantStatus: 200, wantBody: `{"prompt":"x"}`, wantCalls: 1},
			{r: req{key: "k1", body: `{"prompt":"x"}`}, wantStatus: 200, wantBody: `{"prompt":"x"}`, wantReplayed: true, wantCalls: 1},
		},
	},
	{
		name: "a response over MaxResponseSize reaches the client but is not stored",
		cfg:  idempotency.Config{MaxResponseSize: 8},
		handler: func(call int32, c echo.Context) error {
			return c.String(200, "0123456789")
		},
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 200, wantBody: "0123456789", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 200, wantBody: "0123456789", wantCalls: 2},
		},
	},
	{
		name: "a flushed (streamed) response is not stored",
		handler: func(call int32, c echo.Context) error {
			c.Response().WriteHeader(200)
			_, _ = c.Response().Write([]byte("part1"))
			c.Response().Flush()
			_, _ = c.Response().Write([]byte("part2"))
			return nil
		},
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 200, wantBody: "part1part2", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 200, wantBody: "part1part2", wantCalls: 2},
		},
	},
	{
		name:    "a handler that writes nothing is not stored",
		handler: func(call int32, c echo.Context) error { return nil },
		steps: []step{
			{r: req{key: "k1"}, wantStatus: 200, wantBody: "", wantCalls: 1},
			{r: req{key: "k1"}, wantStatus: 200, wantBody: "", wantCalls: 2},
		},
	},
	{
		name:    "204 with an empty body is stored",
		handler: func(call int32, c echo.Context) error { return c.NoContent(http.StatusNoContent) },
		steps: []step{
			{r: req{method: "DELETE", key: "k1"}, wantStatus: 204, wantBody: "", wantCalls: 1},
			{r: req{method: "DELETE", key: "k1"}, wantStatus: 204, wantBody: "", wantReplayed: true, wantCalls: 1},
		},
	},
}

func TestMiddlewareBehaviour(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			for _, tc := range behaviours {
				t.Run(tc.name, func(t *testing.T) {
					var calls atomic.Int32
					cfg := tc.cfg
					cfg.Store = sk.new(t)
					e := newEcho(t, cfg, func(c echo.Context) error {
						return tc.handler(calls.Add(1), c)
					})
					// The last answer the handler made, per record.
					freshBy := map[string]*httptest.ResponseRecorder{}
					for i, s := range tc.steps {
						rec := do(e, s.r)
						if rec.Code != s.wantStatus {
							t.Fatalf("step %d: status got %d, want %d (body %s)", i, rec.Code, s.wantStatus, rec.Body)
						}
						if s.wantCode != "" {
							if got := errorCode(t, rec); got != s.wantCode {
								t.Errorf("step %d: code got %q, want %q", i, got, s.wantCode)
							}
						}
						gotReplayed := rec.Header().Get(idempotency.HeaderIdempotentReplayed) == "true"
						if gotReplayed != s.wantReplayed {
							t.Errorf("step %d: Idempotent-Replayed got %v, want %v", i, gotReplayed, s.wantReplayed)
						}
						if s.wantBody != "" || s.wantStatus == 204 {
							if got := rec.Body.String(); got != s.wantBody {
								t.Errorf("step %d: body got %q, want %q", i, got, s.wantBody)
							}
						}
						if got := calls.Load(); got != s.wantCalls {
							t.Errorf("step %d: handler calls got %d, want %d", i, got, s.wantCalls)
						}
						if rec.Header().Get(errorsx.HeaderRequestID) == "" {
							t.Errorf("step %d: no X-Request-Id", i)
						}
						if s.wantCode != "" && rec.Header().Get(errorsx.HeaderShouldRetry) == "" {
							t.Errorf("step %d: error without X-Should-Retry", i)
						}
						route, _, _ := strings.Cut(s.r.path, "?")
						key, _ := idempotency.ParseKey(s.r.key)
						id := s.r.tenant + "|" + s.r.method + "|" + route + "|" + key
						fresh := freshBy[id]
						if s.wantReplayed {
							if fresh == nil {
								t.Fatalf("step %d: bad test, a replay before any fresh answer", i)
							}
							if rec.Body.String() != fresh.Body.String() || rec.Code != fresh.Code {
								t.Errorf("step %d: replay got %d %q, want the stored answer %d %q",
									i, rec.Code, rec.Body, fresh.Code, fresh.Body)
							}
							for _, h := range []string{echo.HeaderContentType, echo.HeaderLocation, "ETag", errorsx.HeaderShouldRetry} {
								got, want := rec.Header().Get(h), fresh.Header().Get(h)
								if h == errorsx.HeaderShouldRetry && want == "" && rec.Code >= 400 {
									want = "false" // a stored error is never retryable
								}
								if got != want {
									t.Errorf("step %d: replayed %s got %q, want %q", i, h, got, want)
								}
							}
						} else if s.wantCode != "idempotency_key_reuse" && s.wantCode != "request_in_progress" {
							freshBy[id] = rec
						}
					}
				})
			}
		})
	}
}

func TestHeaderAllowlist(t *testing.T) {
	tests := []struct {
		name      string
		stored    []string
		wantKept  []string
		wantDrops []string
	}{
		{"default", nil,
			[]string{"Content-Type", "Location", "Etag"},
			[]string{"Set-Cookie", "X-Custom", "Ratelimit", "Date"}},
		{"custom adds X-Custom and drops ETag", []string{"content-type", "x-custom"},
			[]string{"Content-Type", "X-Custom"},
			[]string{"Location", "Etag", "Set-Cookie", "Ratelimit"}},
	}
	for _, sk := range storeKinds {
		for _, tc := range tests {
			t.Run(sk.name+"/"+tc.name, func(t *testing.T) {
				e := newEcho(t, idempotency.Config{Store: sk.new(t), StoredHeaders: tc.stored}, func(c echo.Context) error {
					c.Response().Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
					return created(c, `{}`)
				})
				first := do(e, req{key: "k"})
				replay := do(e, req{key: "k"})
				if replay.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" {
					t.Fatalf("second answer was not a replay: %d %v", replay.Code, replay.Header())
				}
				for _, h := range tc.wantKept {
					if got, want := replay.Header().Get(h), first.Header().Get(h); got != want || got == "" {
						t.Errorf("%s: replay got %q, want %q", h, got, want)
					}
				}
				for _, h := range tc.wantDrops {
					if got := replay.Header().Values(h); len(got) != 0 {
						t.Errorf("%s: replay got %q, want absent", h, got)
					}
				}
				if a, b := first.Header().Get("X-Request-Id"), replay.Header().Get("X-Request-Id"); a == b || b == "" {
					t.Errorf("X-Request-Id: replay got %q (first %q), want its own id", b, a)
				}
			})
		}
	}
}

func TestBadKeys(t *testing.T) {
	long := strings.Repeat("k", 256)
	tests := []struct {
		name     string
		values   []string // nil: no header
		required bool
		wantMsg  string
	}{
		{"empty", []string{""}, false, "Idempotency-Key must not be empty"},
		{"too long", []string{long}, false, "Idempotency-Key must be at most 255 characters long"},
		{"quoted too long", []string{`"` + long + `"`}, false, "Idempotency-Key must be at most 255 characters long"},
		{"control character", []string{"ab\x01c"}, false, "Idempotency-Key must contain only printable ASCII characters"},
		{"non-ASCII", []string{"clé"}, false, "Idempotency-Key must contain only printable ASCII characters"},
		{"unterminated quote", []string{`"abc`}, false, "Idempotency-Key is not a valid quoted string"},
		{"bad escape", []string{`"a\nb"`}, false, "Idempotency-Key is not a valid quoted string"},
		{"empty quoted", []string{`""`}, false, "Idempotency-Key must not be empty"},
		{"sent twice", []string{"a", "b"}, false, "Idempotency-Key must be sent only once"},
		{"missing when required", nil, true, "Idempotency-Key header is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			e := newEcho(t, idempotency.Config{Required: tc.required}, func(c echo.Context) error {
				calls.Add(1)
				return c.String(200, "ok")
			})
			hr := httptest.NewRequest(http.MethodPost, "/v1/generations", nil)
			for _, v := range tc.values {
				hr.Header.Add(idempotency.HeaderIdempotencyKey, v)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, hr)
			if rec.Code != 400 || errorCode(t, rec) != "invalid_request" {
				t.Fatalf("got %d %s, want 400 invalid_request", rec.Code, rec.Body)
			}
			if got := errorParam(t, rec); got != "Idempotency-Key" {
				t.Errorf("param: got %q, want Idempotency-Key", got)
			}
			if !strings.Contains(rec.Body.String(), `"message":"`+tc.wantMsg+`"`) {
				t.Errorf("body: got %s, want message %q", rec.Body, tc.wantMsg)
			}
			if calls.Load() != 0 {
				t.Error("handler ran")
			}
		})
	}
}

func TestRequestBodyLimit(t *testing.T) {
	var calls atomic.Int32
	e := newEcho(t, idempotency.Config{MaxRequestBody: 16}, func(c echo.Context) error {
		calls.Add(1)
		return c.String(200, "ok")
	})
	tests := []struct {
		name       string
		body       string
		wantStatus int
	}{
		{"at the limit", strings.Repeat("a", 16), 200},
		{"over the limit", strings.Repeat("a", 17), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(e, req{key: tc.name, body: tc.body})
			if rec.Code != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.wantStatus)
			}
		})
	}
	// A chunked body (unknown length) is bounded too.
	hr := httptest.NewRequest(http.MethodPost, "/v1/generations", io.MultiReader(strings.NewReader(strings.Repeat("b", 40))))
	hr.ContentLength = -1
	hr.Header.Set(idempotency.HeaderIdempotencyKey, "chunked")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, hr)
	if rec.Code != 400 {
		t.Fatalf("chunked over the limit: got %d, want 400", rec.Code)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("handler calls: got %d, want 1", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  idempotency.Config
	}{
		{"negative retention", idempotency.Config{Retention: -1}},
		{"negative lease", idempotency.Config{Lease: -1}},
		{"negative retry after", idempotency.Config{RetryAfter: -1}},
		{"negative request body", idempotency.Config{MaxRequestBody: -1}},
		{"negative response size", idempotency.Config{MaxResponseSize: -1}},
		{"empty method", idempotency.Config{Methods: []string{"POST", " "}}},
		{"Set-Cookie stored", idempotency.Config{StoredHeaders: []string{"set-cookie"}}},
		{"Date stored", idempotency.Config{StoredHeaders: []string{"Date"}}},
		{"X-Request-Id stored", idempotency.Config{StoredHeaders: []string{"X-Request-ID"}}},
		{"RateLimit stored", idempotency.Config{StoredHeaders: []string{"RateLimit-Policy"}}},
		{"Retry-After stored", idempotency.Config{StoredHeaders: []string{"Retry-After"}}},
		{"empty header", idempotency.Config{StoredHeaders: []string{""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := idempotency.New(tc.cfg)
			if err == nil || mw != nil {
				t.Fatalf("New: got (%v, %v), want an error", mw != nil, err)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("Must with a bad config: got no panic")
		}
	}()
	middleware.Must(idempotency.New(idempotency.Config{Lease: -1}))
}

func TestInProgress(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			var calls atomic.Int32
			started, release := make(chan struct{}), make(chan struct{})
			e := newEcho(t, idempotency.Config{Store: sk.new(t), RetryAfter: 1500 * time.Millisecond}, func(c echo.Context) error {
				calls.Add(1)
				close(started)
				<-release
				return created(c, `{"done":true}`)
			})
			body := `{"prompt":"slow"}`
			firstDone := make(chan *httptest.ResponseRecorder)
			go func() { firstDone <- do(e, req{key: "k", body: body}) }()
			<-started

			tests := []struct {
				name           string
				body           string
				wantCode       string
				wantRetryAfter string
				wantShould     string
			}{
				{"same request while running", body, "request_in_progress", "2", "true"},
				{"reuse is reported before in-progress", `{"prompt":"other"}`, "idempotency_key_reuse", "", "false"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					rec := do(e, req{key: "k", body: tc.body})
					if rec.Code != 409 || errorCode(t, rec) != tc.wantCode {
						t.Fatalf("got %d %s, want 409 %s", rec.Code, rec.Body, tc.wantCode)
					}
					if got := rec.Header().Get("Retry-After"); got != tc.wantRetryAfter {
						t.Errorf("Retry-After: got %q, want %q", got, tc.wantRetryAfter)
					}
					if got := rec.Header().Get(errorsx.HeaderShouldRetry); got != tc.wantShould {
						t.Errorf("X-Should-Retry: got %q, want %q", got, tc.wantShould)
					}
				})
			}
			close(release)
			if rec := <-firstDone; rec.Code != 201 {
				t.Fatalf("first: got %d", rec.Code)
			}
			rec := do(e, req{key: "k", body: body})
			if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" {
				t.Fatalf("after completion: got %d replayed=%q, want a 201 replay", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("handler calls: got %d, want 1", got)
			}
		})
	}
}

func TestCancelledRequestIsNotStored(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			var calls atomic.Int32
			ctx, cancel := context.WithCancel(context.Background())
			e := newEcho(t, idempotency.Config{Store: sk.new(t)}, func(c echo.Context) error {
				if calls.Add(1) == 1 {
					cancel() // the client goes away while the handler runs
				}
				return created(c, `{}`)
			})
			do(e, req{key: "k", ctx: ctx})
			rec := do(e, req{key: "k"})
			if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "" {
				t.Fatalf("retry: got %d replayed=%q, want a fresh 201", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("handler calls: got %d, want 2", got)
			}
		})
	}
}
