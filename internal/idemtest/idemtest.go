// Package idemtest is the behaviour table of the idempotency guard
// ([idempotency.Guard]), run through every front door of apiguard
// (internal/doors): one table of requests and the status, error code, body
// and headers each must get. [NewApp] builds the app of one door from a
// framework-neutral spec, and [Run] runs the table on each door that is
// built, with a store from newStore per case:
//
//	func TestGuardBehaviour(t *testing.T) {
//		idemtest.Run(t, func(t *testing.T) idempotency.Store {
//			return idempotency.NewMemoryStore(idempotency.MemoryConfig{})
//		})
//	}
//
// Only tests import it.
package idemtest

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/principal"
)

// Handler is a route's handler: w and r are what the door hands its
// handlers, and an error returned goes to the door's renderer.
type Handler func(w http.ResponseWriter, r *http.Request) error

// TestAuth is the test authentication of [NewApp]: the header
// X-Test-Tenant: T puts the principal {KeyID: "key_T", Tenant: T} into the
// request's context.
var TestAuth guard.Guard = guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
	if tenant := r.Header.Get("X-Test-Tenant"); tenant != "" {
		r = r.WithContext(principal.NewContext(r.Context(), &principal.Principal{KeyID: "key_" + tenant, Tenant: tenant}))
	}
	return c.Next(w, r)
})

// NewApp builds the app of door d, wired like the reference server:
//
//   - the door's renderer, logs discarded;
//   - request-level guards: a fresh X-Request-Id per request, and a
//     recover that renders a panic as 500 internal_error;
//   - on each route, [TestAuth], then the idempotency guard built from cfg;
//   - h on POST /v1/generations, POST /v1/other, GET /v1/generations and
//     DELETE /v1/generations.
//
// A cfg whose Logger is nil gets one that discards.
func NewApp(t testing.TB, d doors.Door, cfg idempotency.Config, h Handler) http.Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := idempotency.New(cfg)
	if err != nil {
		t.Fatalf("idempotency.New: %v", err)
	}
	handler := func(w http.ResponseWriter, r *http.Request, _ doors.Params) error { return h(w, r) }
	var routes []doors.Route
	for _, mp := range [][2]string{{"POST", "/v1/generations"}, {"POST", "/v1/other"}, {"GET", "/v1/generations"}, {"DELETE", "/v1/generations"}} {
		routes = append(routes, doors.Route{Method: mp[0], Path: mp[1], Guards: []guard.Guard{TestAuth, g}, Handler: handler})
	}
	return d.New(t, doors.Spec{
		Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		Use:    []guard.Guard{guard.RequestID(guard.RequestIDConfig{}), guard.Must(guard.Recover(guard.RecoverConfig{}))},
		Routes: routes,
	})
}

// app is [NewApp] on one door.
type app func(t *testing.T, cfg idempotency.Config, h Handler) http.Handler

// Run runs the table through every front door, with a store from newStore
// per case, and the cases of an idempotency.TxStore (with an in-memory
// double of one).
func Run(t *testing.T, newStore func(t *testing.T) idempotency.Store) {
	doors.Run(t, func(t *testing.T, d doors.Door) {
		a := func(t *testing.T, cfg idempotency.Config, h Handler) http.Handler { return NewApp(t, d, cfg, h) }
		t.Run("behaviour", func(t *testing.T) { runBehaviours(t, a, newStore) })
		t.Run("header allowlist", func(t *testing.T) { runHeaderAllowlist(t, a, newStore) })
		t.Run("bad keys", func(t *testing.T) { runBadKeys(t, a) })
		t.Run("request body limit", func(t *testing.T) { runRequestBodyLimit(t, a) })
		t.Run("in progress", func(t *testing.T) { runInProgress(t, a, newStore) })
		t.Run("tx store", func(t *testing.T) { runTx(t, a) })
		t.Run("unknown route", func(t *testing.T) { runUnknownRoute(t, d, newStore) })
		t.Run("route is the template", func(t *testing.T) { runRouteTemplate(t, d, newStore) })
		t.Run("HEAD", func(t *testing.T) { runHead(t, d, newStore) })
		t.Run("streamed and hijacked over HTTP", func(t *testing.T) { runOverHTTP(t, d, newStore) })
	})
}

// Req is one request of the suite.
type Req struct {
	Method  string // default POST
	Path    string // default /v1/generations
	Key     string // Idempotency-Key; "" sends none
	Body    string // sent as application/json when not empty
	Tenant  string // X-Test-Tenant
	Headers map[string]string
}

// Do sends r to h and returns the response.
func Do(h http.Handler, r Req) *httptest.ResponseRecorder {
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	if r.Path == "" {
		r.Path = "/v1/generations"
	}
	var body io.Reader = http.NoBody
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	hr := httptest.NewRequest(r.Method, r.Path, body)
	if r.Body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Key != "" {
		hr.Header.Set(idempotency.HeaderIdempotencyKey, r.Key)
	}
	if r.Tenant != "" {
		hr.Header.Set("X-Test-Tenant", r.Tenant)
	}
	for k, v := range r.Headers {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return rec
}

// ErrorCode returns the code of the error envelope of rec, or "" for a
// status below 400; it fails the test when an error body is not the
// envelope.
func ErrorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code < 400 {
		return ""
	}
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("error body %q is not the envelope: %v", rec.Body.String(), err)
	}
	return env.Error.Code
}

func errorParam(rec *httptest.ResponseRecorder) string {
	var env struct {
		Error struct {
			Param string `json:"param"`
		} `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	return env.Error.Param
}

// Created is the suite's usual answer: 201 with body, and headers of which
// some must be stored (Location, ETag, Content-Type) and some never
// (Set-Cookie, X-Custom, RateLimit).
func Created(w http.ResponseWriter, body string) error {
	h := w.Header()
	h.Set("Location", "/v1/generations/gen_1")
	h.Set("ETag", `"v1"`)
	h.Set("Set-Cookie", "session=secret")
	h.Set("X-Custom", "not allowlisted")
	h.Set("RateLimit", `"default";r=7;t=1`)
	return write(w, http.StatusCreated, "application/json", body)
}

func write(w http.ResponseWriter, status int, ctype, body string) error {
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, err := io.WriteString(w, body)
	return err
}

func text(w http.ResponseWriter, status int, body string) error {
	return write(w, status, "text/plain; charset=UTF-8", body)
}

// Step is one request of a case and what it must get.
type Step struct {
	R            Req
	WantStatus   int
	WantCode     string // error code, "" for success
	WantReplayed bool
	WantBody     string // exact body, when set (or when WantStatus is 204)
	WantCalls    int32  // handler calls so far
}

// Case is a sequence of requests to one app.
type Case struct {
	Name    string
	Cfg     idempotency.Config
	Handler func(call int32, w http.ResponseWriter, r *http.Request) error // call counts from 1
	Steps   []Step
}

// Behaviours is the table of the suite.
var Behaviours = []Case{
	{
		Name: "2xx is stored and replayed byte for byte",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			return Created(w, `{"id":"gen_1","call":1}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1", Body: `{"prompt":"a cat"}`}, WantStatus: 201, WantBody: `{"id":"gen_1","call":1}`, WantCalls: 1},
			{R: Req{Key: "k1", Body: `{"prompt":"a cat"}`}, WantStatus: 201, WantReplayed: true, WantBody: `{"id":"gen_1","call":1}`, WantCalls: 1},
			{R: Req{Key: "k1", Body: `{"prompt":"a cat"}`}, WantStatus: 201, WantReplayed: true, WantBody: `{"id":"gen_1","call":1}`, WantCalls: 1},
		},
	},
	{
		Name: "the handler's own 4xx is stored and replayed",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			return errorsx.InsufficientCredits()
		},
		Steps: []Step{
			{R: Req{Key: "k1", Body: `{}`}, WantStatus: 402, WantCode: "insufficient_credits", WantCalls: 1},
			{R: Req{Key: "k1", Body: `{}`}, WantStatus: 402, WantCode: "insufficient_credits", WantReplayed: true, WantCalls: 1},
		},
	},
	{
		Name: "a 4xx written directly is stored and replayed",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			return text(w, http.StatusConflict, "plain conflict")
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 409, WantBody: "plain conflict", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 409, WantBody: "plain conflict", WantReplayed: true, WantCalls: 1},
		},
	},
	{
		Name: "5xx releases the claim, the retry runs again",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			if call == 1 {
				return errors.New("database at 10.0.0.7 is down")
			}
			return Created(w, `{"ok":true}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1", Body: `{}`}, WantStatus: 500, WantCode: "internal_error", WantCalls: 1},
			{R: Req{Key: "k1", Body: `{}`}, WantStatus: 201, WantCalls: 2},
			{R: Req{Key: "k1", Body: `{}`}, WantStatus: 201, WantReplayed: true, WantCalls: 2},
		},
	},
	{
		Name: "503 from the handler releases the claim",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			if call == 1 {
				return errorsx.ServiceUnavailable().WithRetryAfter(time.Second)
			}
			return Created(w, `{"ok":true}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 503, WantCode: "service_unavailable", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 201, WantCalls: 2},
		},
	},
	{
		Name: "429 releases the claim",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			if call == 1 {
				return errorsx.RateLimitExceeded().WithRetryAfter(time.Second)
			}
			return Created(w, `{"ok":true}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 429, WantCode: "rate_limit_exceeded", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 201, WantCalls: 2},
			{R: Req{Key: "k1"}, WantStatus: 201, WantReplayed: true, WantCalls: 2},
		},
	},
	{
		Name: "a panic releases the claim and still reaches Recover",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			if call == 1 {
				panic("boom")
			}
			return Created(w, `{"ok":true}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 500, WantCode: "internal_error", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 201, WantCalls: 2},
			{R: Req{Key: "k1"}, WantStatus: 201, WantReplayed: true, WantCalls: 2},
		},
	},
	{
		Name: "a retryable 4xx (request_in_progress from the handler) is not stored",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			if call == 1 {
				return errorsx.RequestInProgress()
			}
			return Created(w, `{"ok":true}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 409, WantCode: "request_in_progress", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 201, WantCalls: 2},
		},
	},
	{
		Name:    "other body with the same key is idempotency_key_reuse",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return Created(w, `{}`) },
		Steps: []Step{
			{R: Req{Key: "k1", Body: `{"prompt":"a cat"}`}, WantStatus: 201, WantCalls: 1},
			{R: Req{Key: "k1", Body: `{"prompt":"a dog"}`}, WantStatus: 409, WantCode: "idempotency_key_reuse", WantCalls: 1},
		},
	},
	{
		Name:    "other query with the same key is idempotency_key_reuse",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return Created(w, `{}`) },
		Steps: []Step{
			{R: Req{Key: "k1", Path: "/v1/generations?a=1&b=2"}, WantStatus: 201, WantCalls: 1},
			{R: Req{Key: "k1", Path: "/v1/generations?b=2&a=1"}, WantStatus: 201, WantReplayed: true, WantCalls: 1},
			{R: Req{Key: "k1", Path: "/v1/generations?a=2&b=2"}, WantStatus: 409, WantCode: "idempotency_key_reuse", WantCalls: 1},
		},
	},
	{
		Name:    "JSON bodies are compared by meaning",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return Created(w, `{"id":"x"}`) },
		Steps: []Step{
			{R: Req{Key: "k1", Body: `{"model":"clipia-fast","duration":5,"tags":[1,"a"]}`}, WantStatus: 201, WantCalls: 1},
			{R: Req{Key: "k1", Body: "{\n  \"tags\": [1, \"\\u0061\"],\n  \"duration\": 5,\n  \"model\": \"clipia-fast\"\n}"},
				WantStatus: 201, WantReplayed: true, WantBody: `{"id":"x"}`, WantCalls: 1},
			{R: Req{Key: "k1", Body: `{"model":"clipia-fast","duration":5.01,"tags":[1,"a"]}`}, WantStatus: 409, WantCode: "idempotency_key_reuse", WantCalls: 1},
		},
	},
	{
		Name:    "bare and quoted keys are the same key",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return Created(w, `{}`) },
		Steps: []Step{
			{R: Req{Key: `abc-123`}, WantStatus: 201, WantCalls: 1},
			{R: Req{Key: `"abc-123"`}, WantStatus: 201, WantReplayed: true, WantCalls: 1},
		},
	},
	{
		Name: "tenants never share records",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			return Created(w, `{"tenant":"`+r.Header.Get("X-Test-Tenant")+`"}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1", Tenant: "acme"}, WantStatus: 201, WantBody: `{"tenant":"acme"}`, WantCalls: 1},
			{R: Req{Key: "k1", Tenant: "globex"}, WantStatus: 201, WantBody: `{"tenant":"globex"}`, WantCalls: 2},
			{R: Req{Key: "k1", Tenant: "globex", Body: `{"other":1}`}, WantStatus: 409, WantCode: "idempotency_key_reuse", WantCalls: 2},
			{R: Req{Key: "k1", Tenant: "acme"}, WantStatus: 201, WantReplayed: true, WantBody: `{"tenant":"acme"}`, WantCalls: 2},
			{R: Req{Key: "k1"}, WantStatus: 201, WantBody: `{"tenant":""}`, WantCalls: 3},
		},
	},
	{
		Name: "routes never share records",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			return Created(w, `{"path":"`+r.URL.Path+`"}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 201, WantCalls: 1},
			{R: Req{Key: "k1", Path: "/v1/other"}, WantStatus: 201, WantBody: `{"path":"/v1/other"}`, WantCalls: 2},
		},
	},
	{
		Name:    "without a key every request runs",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return Created(w, `{}`) },
		Steps: []Step{
			{R: Req{}, WantStatus: 201, WantCalls: 1},
			{R: Req{}, WantStatus: 201, WantCalls: 2},
		},
	},
	{
		Name:    "GET is not guarded by default",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return text(w, 200, "list") },
		Steps: []Step{
			{R: Req{Method: "GET", Key: "k1"}, WantStatus: 200, WantCalls: 1},
			{R: Req{Method: "GET", Key: "k1"}, WantStatus: 200, WantCalls: 2},
		},
	},
	{
		Name:    "configured methods replace the default",
		Cfg:     idempotency.Config{Methods: []string{"get"}},
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return text(w, 200, "list") },
		Steps: []Step{
			{R: Req{Method: "GET", Key: "k1"}, WantStatus: 200, WantCalls: 1},
			{R: Req{Method: "GET", Key: "k1"}, WantStatus: 200, WantReplayed: true, WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 200, WantCalls: 2},
			{R: Req{Key: "k1"}, WantStatus: 200, WantCalls: 3},
		},
	},
	{
		Name: "a skipped request passes untouched",
		Cfg:  idempotency.Config{Skip: func(r *http.Request) bool { return r.Header.Get("X-Skip") != "" }},
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			return Created(w, `{}`)
		},
		Steps: []Step{
			{R: Req{Key: "k1", Headers: map[string]string{"X-Skip": "1"}}, WantStatus: 201, WantCalls: 1},
			{R: Req{Key: "k1", Headers: map[string]string{"X-Skip": "1"}}, WantStatus: 201, WantCalls: 2},
			{R: Req{Key: "k1"}, WantStatus: 201, WantCalls: 3},
			{R: Req{Key: "k1"}, WantStatus: 201, WantReplayed: true, WantCalls: 3},
		},
	},
	{
		Name: "the handler reads the whole body after fingerprinting",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			return write(w, 200, "application/octet-stream", string(b))
		},
		Steps: []Step{
			{R: Req{Key: "k1", Body: `{"prompt":"x"}`}, WantStatus: 200, WantBody: `{"prompt":"x"}`, WantCalls: 1},
			{R: Req{Key: "k1", Body: `{"prompt":"x"}`}, WantStatus: 200, WantBody: `{"prompt":"x"}`, WantReplayed: true, WantCalls: 1},
		},
	},
	{
		Name: "a response over MaxResponseSize reaches the client but is not stored",
		Cfg:  idempotency.Config{MaxResponseSize: 8},
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			return text(w, 200, "0123456789")
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 200, WantBody: "0123456789", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 200, WantBody: "0123456789", WantCalls: 2},
		},
	},
	{
		Name: "a flushed (streamed) response is not stored",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "part1")
			if err := http.NewResponseController(w).Flush(); err != nil {
				return err
			}
			_, _ = io.WriteString(w, "part2")
			return nil
		},
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 200, WantBody: "part1part2", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 200, WantBody: "part1part2", WantCalls: 2},
		},
	},
	{
		Name:    "a handler that writes nothing is not stored",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return nil },
		Steps: []Step{
			{R: Req{Key: "k1"}, WantStatus: 200, WantBody: "", WantCalls: 1},
			{R: Req{Key: "k1"}, WantStatus: 200, WantBody: "", WantCalls: 2},
		},
	},
	{
		Name: "204 with an empty body is stored",
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
		Steps: []Step{
			{R: Req{Method: "DELETE", Key: "k1"}, WantStatus: 204, WantBody: "", WantCalls: 1},
			{R: Req{Method: "DELETE", Key: "k1"}, WantStatus: 204, WantBody: "", WantReplayed: true, WantCalls: 1},
		},
	},
	{
		Name: "a scope error is rendered and the handler does not run",
		Cfg: idempotency.Config{Scope: func(r *http.Request) (string, error) {
			org := r.Header.Get("X-Org")
			if org == "" {
				return "", errorsx.InvalidAPIKey().WithCause(errors.New("no org"))
			}
			return "org:" + org, nil
		}},
		Handler: func(call int32, w http.ResponseWriter, r *http.Request) error { return text(w, 201, "ok") },
		Steps: []Step{
			{R: Req{Key: "k"}, WantStatus: 401, WantCode: "invalid_api_key", WantCalls: 0},
			{R: Req{Key: "k", Headers: map[string]string{"X-Org": "o1"}}, WantStatus: 201, WantCalls: 1},
			{R: Req{Key: "k", Headers: map[string]string{"X-Org": "o1"}}, WantStatus: 201, WantReplayed: true, WantCalls: 1},
			{R: Req{Key: "k", Headers: map[string]string{"X-Org": "o2"}}, WantStatus: 201, WantCalls: 2},
		},
	},
}

func runBehaviours(t *testing.T, app app, newStore func(t *testing.T) idempotency.Store) {
	for _, tc := range Behaviours {
		t.Run(tc.Name, func(t *testing.T) {
			var calls atomic.Int32
			cfg := tc.Cfg
			cfg.Store = newStore(t)
			h := app(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
				return tc.Handler(calls.Add(1), w, r)
			})
			RunSteps(t, h, tc.Steps, &calls)
		})
	}
}

// RunSteps sends the steps to h one after the other and checks each
// answer; calls counts the handler's calls.
func RunSteps(t *testing.T, h http.Handler, steps []Step, calls *atomic.Int32) {
	t.Helper()
	// The last answer the handler made, per record.
	freshBy := map[string]*httptest.ResponseRecorder{}
	for i, s := range steps {
		rec := Do(h, s.R)
		if rec.Code != s.WantStatus {
			t.Fatalf("step %d: status got %d, want %d (body %s)", i, rec.Code, s.WantStatus, rec.Body)
		}
		if s.WantCode != "" {
			if got := ErrorCode(t, rec); got != s.WantCode {
				t.Errorf("step %d: code got %q, want %q", i, got, s.WantCode)
			}
		}
		gotReplayed := rec.Header().Get(idempotency.HeaderIdempotentReplayed) == "true"
		if gotReplayed != s.WantReplayed {
			t.Errorf("step %d: Idempotent-Replayed got %v, want %v", i, gotReplayed, s.WantReplayed)
		}
		if s.WantBody != "" || s.WantStatus == 204 {
			if got := rec.Body.String(); got != s.WantBody {
				t.Errorf("step %d: body got %q, want %q", i, got, s.WantBody)
			}
		}
		if got := calls.Load(); got != s.WantCalls {
			t.Errorf("step %d: handler calls got %d, want %d", i, got, s.WantCalls)
		}
		if rec.Header().Get(errorsx.HeaderRequestID) == "" {
			t.Errorf("step %d: no X-Request-Id", i)
		}
		if s.WantCode != "" && rec.Header().Get(errorsx.HeaderShouldRetry) == "" {
			t.Errorf("step %d: error without X-Should-Retry", i)
		}
		route, _, _ := strings.Cut(s.R.Path, "?")
		key, _ := idempotency.ParseKey(s.R.Key)
		id := s.R.Tenant + "|" + s.R.Headers["X-Org"] + "|" + s.R.Method + "|" + route + "|" + key
		fresh := freshBy[id]
		if s.WantReplayed {
			if fresh == nil {
				t.Fatalf("step %d: bad test, a replay before any fresh answer", i)
			}
			if rec.Body.String() != fresh.Body.String() || rec.Code != fresh.Code {
				t.Errorf("step %d: replay got %d %q, want the stored answer %d %q",
					i, rec.Code, rec.Body, fresh.Code, fresh.Body)
			}
			for _, h := range []string{"Content-Type", "Location", "ETag", errorsx.HeaderShouldRetry} {
				got, want := rec.Header().Get(h), fresh.Header().Get(h)
				if h == errorsx.HeaderShouldRetry && want == "" && rec.Code >= 400 {
					want = "false" // a stored error is never retryable
				}
				if got != want {
					t.Errorf("step %d: replayed %s got %q, want %q", i, h, got, want)
				}
			}
		} else if s.WantCode != "idempotency_key_reuse" && s.WantCode != "request_in_progress" {
			freshBy[id] = rec
		}
	}
}

func runHeaderAllowlist(t *testing.T, app app, newStore func(t *testing.T) idempotency.Store) {
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
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := app(t, idempotency.Config{Store: newStore(t), StoredHeaders: tc.stored}, func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
				return Created(w, `{}`)
			})
			first := Do(h, Req{Key: "k"})
			replay := Do(h, Req{Key: "k"})
			if replay.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" {
				t.Fatalf("second answer was not a replay: %d %v", replay.Code, replay.Header())
			}
			for _, k := range tc.wantKept {
				if got, want := replay.Header().Get(k), first.Header().Get(k); got != want || got == "" {
					t.Errorf("%s: replay got %q, want %q", k, got, want)
				}
			}
			for _, k := range tc.wantDrops {
				if got := replay.Header().Values(k); len(got) != 0 {
					t.Errorf("%s: replay got %q, want absent", k, got)
				}
			}
			if a, b := first.Header().Get(errorsx.HeaderRequestID), replay.Header().Get(errorsx.HeaderRequestID); a == b || b == "" {
				t.Errorf("X-Request-Id: replay got %q (first %q), want its own id", b, a)
			}
		})
	}
}

func runBadKeys(t *testing.T, app app) {
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
			h := app(t, idempotency.Config{Required: tc.required}, func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				return text(w, 200, "ok")
			})
			hr := httptest.NewRequest(http.MethodPost, "/v1/generations", nil)
			for _, v := range tc.values {
				hr.Header.Add(idempotency.HeaderIdempotencyKey, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, hr)
			if rec.Code != 400 || ErrorCode(t, rec) != "invalid_request" {
				t.Fatalf("got %d %s, want 400 invalid_request", rec.Code, rec.Body)
			}
			if got := errorParam(rec); got != "Idempotency-Key" {
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

func runRequestBodyLimit(t *testing.T, app app) {
	var calls atomic.Int32
	h := app(t, idempotency.Config{MaxRequestBody: 16}, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		return text(w, 200, "ok")
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
			rec := Do(h, Req{Key: tc.name, Body: tc.body})
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
	h.ServeHTTP(rec, hr)
	if rec.Code != 400 {
		t.Fatalf("chunked over the limit: got %d, want 400", rec.Code)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("handler calls: got %d, want 1", got)
	}
}

func runInProgress(t *testing.T, app app, newStore func(t *testing.T) idempotency.Store) {
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	h := app(t, idempotency.Config{Store: newStore(t), RetryAfter: 1500 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		close(started)
		<-release
		return Created(w, `{"done":true}`)
	})
	body := `{"prompt":"slow"}`
	firstDone := make(chan *httptest.ResponseRecorder)
	go func() { firstDone <- Do(h, Req{Key: "k", Body: body}) }()
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
			rec := Do(h, Req{Key: "k", Body: tc.body})
			if rec.Code != 409 || ErrorCode(t, rec) != tc.wantCode {
				t.Errorf("got %d %s, want 409 %s", rec.Code, rec.Body, tc.wantCode)
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
	rec := Do(h, Req{Key: "k", Body: body})
	if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("after completion: got %d replayed=%q, want a 201 replay", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("handler calls: got %d, want 1", got)
	}
}
