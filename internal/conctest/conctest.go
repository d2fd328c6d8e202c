// Package conctest is the behaviour table of the concurrency limit
// ([ratelimit.Concurrency]), run through every front door of apiguard
// (internal/doors): [NewApp] builds the app of one door from a
// framework-neutral spec, and [Run] runs the table on each door that is
// built:
//
//	func TestConcurrency(t *testing.T) { conctest.Run(t) }
//
// The stores' own suite is the public package ratelimit/concstoretest.
// Only tests import this one.
package conctest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
)

// Path is the one route of an app under test.
const Path = "/r"

// NewApp builds the app of door d: GET [Path] serves h behind a
// [ratelimit.Concurrency] built from cfg, and the door's renderer (logs
// discarded) renders the guard's errors and those h returns. A panic of h
// propagates out of ServeHTTP (the app has no Recover). It returns
// ratelimit.NewConcurrency's error. tb is for the door's cleanups.
func NewApp(tb testing.TB, d doors.Door, cfg ratelimit.ConcurrencyConfig, h func(w http.ResponseWriter, r *http.Request) error) (http.Handler, error) {
	c, err := ratelimit.NewConcurrency(cfg)
	if err != nil {
		return nil, err
	}
	return doors.OneRoute(tb, d, http.MethodGet, Path, h, c), nil
}

// newAppFunc is [NewApp] on one door.
type newAppFunc func(tb testing.TB, cfg ratelimit.ConcurrencyConfig, h func(w http.ResponseWriter, r *http.Request) error) (http.Handler, error)

// Run runs the table through every front door.
func Run(t *testing.T) {
	doors.Run(t, func(t *testing.T, d doors.Door) {
		newApp := func(tb testing.TB, cfg ratelimit.ConcurrencyConfig, h func(w http.ResponseWriter, r *http.Request) error) (http.Handler, error) {
			return NewApp(tb, d, cfg, h)
		}
		t.Run("limit_of_two", func(t *testing.T) { doorLimit(t, newApp) })
		t.Run("released_after_error_and_panic", func(t *testing.T) { doorRelease(t, newApp) })
		t.Run("key", func(t *testing.T) { doorKey(t, newApp) })
		t.Run("skip", func(t *testing.T) { doorSkip(t, newApp) })
		t.Run("retry_after", func(t *testing.T) { doorRetryAfter(t, newApp) })
		t.Run("store_failure", func(t *testing.T) { doorStoreFailure(t, newApp) })
		t.Run("invalid_config", func(t *testing.T) { doorInvalid(t, newApp) })
		t.Run("group", func(t *testing.T) { doorGroup(t, d) })
	})
}

// gate is a handler that blocks each request until told to finish it.
type gate struct {
	entered chan string // the request's X-Name, when its handler starts
	mu      sync.Mutex
	finish  map[string]chan error
}

func newGate() *gate {
	return &gate{entered: make(chan string, 16), finish: map[string]chan error{}}
}

func (g *gate) ch(name string) chan error {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.finish[name]
	if !ok {
		c = make(chan error, 1)
		g.finish[name] = c
	}
	return c
}

func (g *gate) handler(w http.ResponseWriter, r *http.Request) error {
	name := r.Header.Get("X-Name")
	if name == "" {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	g.entered <- name
	if err := <-g.ch(name); err != nil {
		if err.Error() == "panic" {
			panic("handler panicked")
		}
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type result struct {
	rec      *httptest.ResponseRecorder
	panicked bool
}

// serve runs one request and recovers a panic that escapes the app.
func serve(h http.Handler, req *http.Request) (res result) {
	res.rec = httptest.NewRecorder()
	defer func() {
		if recover() != nil {
			res.panicked = true
		}
	}()
	h.ServeHTTP(res.rec, req)
	return res
}

func newReq(name string, mods ...func(*http.Request) *http.Request) *http.Request {
	req := httptest.NewRequest(http.MethodGet, Path, nil)
	req.RemoteAddr = "192.0.2.1:1234"
	if name != "" {
		req.Header.Set("X-Name", name)
	}
	for _, m := range mods {
		req = m(req)
	}
	return req
}

// waitBound is how long the suite waits for a handler to start or a
// request to end: far beyond any stall of a loaded machine, so only a
// request that never gets there fails.
const waitBound = 30 * time.Second

// start serves a request in the background, returns once its handler runs,
// and returns the channel of its result.
func start(t *testing.T, h http.Handler, g *gate, name string) <-chan result {
	t.Helper()
	out := make(chan result, 1)
	go func() { out <- serve(h, newReq(name)) }()
	select {
	case got := <-g.entered:
		if got != name {
			t.Fatalf("handler of %s started, want %s", got, name)
		}
	case res := <-out:
		t.Fatalf("request %s ended without running the handler: %d %s", name, res.rec.Code, res.rec.Body)
	case <-time.After(waitBound):
		t.Fatalf("the handler of %s never started", name)
	}
	return out
}

func wait(t *testing.T, out <-chan result) result {
	t.Helper()
	select {
	case res := <-out:
		return res
	case <-time.After(waitBound):
		t.Fatal("request did not end")
	}
	return result{}
}

const policyTwo = `"inflight";q=2;qu="concurrent-requests"`

func checkHeaders(t *testing.T, what string, rec *httptest.ResponseRecorder, policy, rateLimit, retryAfter string) {
	t.Helper()
	if got := strings.Join(rec.Header().Values(ratelimit.HeaderRateLimitPolicy), ", "); got != policy {
		t.Errorf("%s: got RateLimit-Policy %q, want %q", what, got, policy)
	}
	if got := strings.Join(rec.Header().Values(ratelimit.HeaderRateLimit), ", "); got != rateLimit {
		t.Errorf("%s: got RateLimit %q, want %q", what, got, rateLimit)
	}
	if got := rec.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("%s: got Retry-After %q, want %q", what, got, retryAfter)
	}
}

func checkLimited(t *testing.T, what string, res result) {
	t.Helper()
	if res.rec.Code != http.StatusTooManyRequests || !strings.Contains(res.rec.Body.String(), `"code":"rate_limit_exceeded"`) {
		t.Fatalf("%s: got %d %s, want 429 rate_limit_exceeded", what, res.rec.Code, res.rec.Body)
	}
	checkHeaders(t, what, res.rec, policyTwo, `"inflight";r=0;t=1`, "1")
}

// Two requests in flight; the third is refused until one ends. A request
// that must be refused carries no name: should the guard let it through,
// its handler answers at once, and the test fails instead of hanging.
func doorLimit(t *testing.T, newApp newAppFunc) {
	g := newGate()
	h, err := newApp(t, ratelimit.ConcurrencyConfig{Limit: 2}, g.handler)
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, h, g, "a")
	b := start(t, h, g, "b")
	checkLimited(t, "third", serve(h, newReq("")))
	checkLimited(t, "fourth", serve(h, newReq("")))
	g.ch("a") <- nil
	ra := wait(t, a)
	if ra.rec.Code != http.StatusOK {
		t.Fatalf("a: got %d, want 200", ra.rec.Code)
	}
	checkHeaders(t, "a", ra.rec, policyTwo, `"inflight";r=1`, "")
	e := start(t, h, g, "e")
	checkLimited(t, "f", serve(h, newReq("")))
	g.ch("b") <- nil
	g.ch("e") <- nil
	rb, re := wait(t, b), wait(t, e)
	checkHeaders(t, "b", rb.rec, policyTwo, `"inflight";r=0`, "")
	checkHeaders(t, "e", re.rec, policyTwo, `"inflight";r=0`, "")
	// All done: both slots are free again.
	x := start(t, h, g, "x")
	y := start(t, h, g, "y")
	g.ch("x") <- nil
	g.ch("y") <- nil
	wait(t, x)
	wait(t, y)
}

// A handler's error or panic ends its request, and frees its slot.
func doorRelease(t *testing.T, newApp newAppFunc) {
	g := newGate()
	h, err := newApp(t, ratelimit.ConcurrencyConfig{Limit: 1}, g.handler)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		end  error
		code int // 0: the panic escapes ServeHTTP, or is rendered 500
	}{
		{"handler_error", errorsx.NotFound(), http.StatusNotFound},
		{"panic", errors.New("panic"), 0},
		{"ok", nil, http.StatusOK},
	} {
		out := start(t, h, g, tc.name)
		if res := serve(h, newReq("")); res.rec.Code != http.StatusTooManyRequests {
			t.Fatalf("%s: second request got %d, want 429", tc.name, res.rec.Code)
		}
		g.ch(tc.name) <- tc.end
		res := wait(t, out)
		if tc.code == 0 {
			if !res.panicked && res.rec.Code != http.StatusInternalServerError {
				t.Fatalf("%s: got %d, want the panic or a 500", tc.name, res.rec.Code)
			}
		} else if res.rec.Code != tc.code {
			t.Fatalf("%s: got %d, want %d", tc.name, res.rec.Code, tc.code)
		}
		if tc.code == http.StatusNotFound {
			checkHeaders(t, "handler error", res.rec, `"inflight";q=1;qu="concurrent-requests"`, `"inflight";r=0`, "")
		}
	}
	// The slot was freed each time: the last one too.
	out := start(t, h, g, "last")
	g.ch("last") <- nil
	wait(t, out)
}

// keyStore records the keys it is asked for.
type keyStore struct {
	ratelimit.ConcurrencyStore
	mu   sync.Mutex
	keys []string
}

func (s *keyStore) Acquire(ctx context.Context, key string, limit int64, lease time.Duration) (ratelimit.ConcurrencyResult, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.ConcurrencyStore.Acquire(ctx, key, limit, lease)
}

func (s *keyStore) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) == 0 {
		return ""
	}
	return s.keys[len(s.keys)-1]
}

func withPrincipal(p *principal.Principal) func(*http.Request) *http.Request {
	return func(r *http.Request) *http.Request { return r.WithContext(principal.NewContext(r.Context(), p)) }
}

func forwarded(r *http.Request) *http.Request {
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	return r
}

// The default key is the tenant, else the key id, else the TCP peer.
func doorKey(t *testing.T, newApp newAppFunc) {
	ok := func(w http.ResponseWriter, _ *http.Request) error { w.WriteHeader(http.StatusOK); return nil }
	for _, tc := range []struct {
		name     string
		cfg      ratelimit.ConcurrencyConfig
		mods     []func(*http.Request) *http.Request
		wantKey  string
		wantCode int
	}{
		{"tenant", ratelimit.ConcurrencyConfig{}, []func(*http.Request) *http.Request{withPrincipal(&principal.Principal{KeyID: "key_1", Tenant: "acme"})}, "inflight:tenant:acme", 200},
		{"key_id_without_tenant", ratelimit.ConcurrencyConfig{}, []func(*http.Request) *http.Request{withPrincipal(&principal.Principal{KeyID: "key_1"})}, "inflight:key:key_1", 200},
		{"peer_not_forwarded_for", ratelimit.ConcurrencyConfig{}, []func(*http.Request) *http.Request{forwarded}, "inflight:ip:192.0.2.1", 200},
		{"client_ip_func", ratelimit.ConcurrencyConfig{ClientIP: func(*http.Request) string { return "198.51.100.7" }}, []func(*http.Request) *http.Request{forwarded}, "inflight:ip:198.51.100.7", 200},
		{"name_prefixes_the_key", ratelimit.ConcurrencyConfig{Name: "gen"}, nil, "gen:ip:192.0.2.1", 200},
		{"key_func", ratelimit.ConcurrencyConfig{KeyFunc: func(r *http.Request) (string, error) { return "custom:" + r.URL.Query().Get("k"), nil }}, []func(*http.Request) *http.Request{func(r *http.Request) *http.Request { r.URL.RawQuery = "k=x"; return r }}, "inflight:custom:x", 200},
		{"key_func_error", ratelimit.ConcurrencyConfig{KeyFunc: func(*http.Request) (string, error) { return "", errorsx.InvalidAPIKey() }}, nil, "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &keyStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{})}
			cfg := tc.cfg
			cfg.Limit, cfg.Store = 1, s
			h, err := newApp(t, cfg, ok)
			if err != nil {
				t.Fatal(err)
			}
			res := serve(h, newReq("", tc.mods...))
			if res.rec.Code != tc.wantCode {
				t.Fatalf("got %d %s, want %d", res.rec.Code, res.rec.Body, tc.wantCode)
			}
			if got := s.last(); got != tc.wantKey {
				t.Errorf("got store key %q, want %q", got, tc.wantKey)
			}
		})
	}
}

func doorSkip(t *testing.T, newApp newAppFunc) {
	g := newGate()
	s := &keyStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{})}
	h, err := newApp(t, ratelimit.ConcurrencyConfig{Limit: 1, Store: s, Skip: func(r *http.Request) bool { return r.Header.Get("X-Internal") == "1" }}, g.handler)
	if err != nil {
		t.Fatal(err)
	}
	out := start(t, h, g, "a")
	internal := func(r *http.Request) *http.Request { r.Header.Set("X-Internal", "1"); return r }
	res := serve(h, newReq("", internal))
	if res.rec.Code != http.StatusOK {
		t.Fatalf("skipped request: got %d, want 200", res.rec.Code)
	}
	checkHeaders(t, "skipped", res.rec, "", "", "")
	g.ch("a") <- nil
	wait(t, out)
	if n := len(s.keys); n != 1 {
		t.Errorf("the store was asked %d times, want 1 (never for a skipped request)", n)
	}
}

func doorRetryAfter(t *testing.T, newApp newAppFunc) {
	g := newGate()
	h, err := newApp(t, ratelimit.ConcurrencyConfig{Limit: 1, RetryAfter: 2500 * time.Millisecond}, g.handler)
	if err != nil {
		t.Fatal(err)
	}
	out := start(t, h, g, "a")
	res := serve(h, newReq(""))
	if res.rec.Code != http.StatusTooManyRequests {
		t.Fatalf("got %d, want 429", res.rec.Code)
	}
	checkHeaders(t, "429", res.rec, `"inflight";q=1;qu="concurrent-requests"`, `"inflight";r=0;t=3`, "3")
	g.ch("a") <- nil
	wait(t, out)
}

type failingStore struct{ err error }

func (f failingStore) Acquire(context.Context, string, int64, time.Duration) (ratelimit.ConcurrencyResult, error) {
	return ratelimit.ConcurrencyResult{}, f.err
}
func (f failingStore) Renew(context.Context, string, string, time.Duration) error { return f.err }
func (f failingStore) Release(context.Context, string, string) error              { return f.err }

func doorStoreFailure(t *testing.T, newApp newAppFunc) {
	down := errors.New("dial tcp 10.0.0.7:6379: connection refused")
	for _, tc := range []struct {
		name       string
		failClosed bool
		code       int
		level      string
		retryAfter string // every 503 carries one
	}{
		{"fail_open_by_default", false, 200, "WARN", ""},
		{"fail_closed", true, 503, "ERROR", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			ran := 0
			h, err := newApp(t, ratelimit.ConcurrencyConfig{
				Limit: 1, Store: failingStore{down}, FailClosed: tc.failClosed,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			}, func(w http.ResponseWriter, _ *http.Request) error { ran++; w.WriteHeader(http.StatusOK); return nil })
			if err != nil {
				t.Fatal(err)
			}
			res := serve(h, newReq("", func(r *http.Request) *http.Request { r.Header.Set("X-Request-Id", "req_conc_down_1"); return r }))
			if res.rec.Code != tc.code {
				t.Fatalf("got %d %s, want %d", res.rec.Code, res.rec.Body, tc.code)
			}
			if want := map[bool]int{false: 1, true: 0}[tc.failClosed]; ran != want {
				t.Errorf("handler ran %d times, want %d", ran, want)
			}
			if strings.Contains(res.rec.Body.String(), "10.0.0.7") {
				t.Errorf("the body leaks the store error: %s", res.rec.Body)
			}
			checkHeaders(t, tc.name, res.rec, `"inflight";q=1;qu="concurrent-requests"`, "", tc.retryAfter)
			log := logs.String()
			if !strings.Contains(log, "level="+tc.level) || !strings.Contains(log, "connection refused") ||
				!strings.Contains(log, "request_id=req_conc_down_1") || !strings.Contains(log, "route=") {
				t.Errorf("got log %q, want one %s record with the cause, the request id and the route", log, tc.level)
			}
			if strings.Count(log, "\n") != 1 {
				t.Errorf("got log %q, want one record", log)
			}
		})
	}
}

func doorInvalid(t *testing.T, newApp newAppFunc) {
	for _, tc := range []struct {
		name string
		cfg  ratelimit.ConcurrencyConfig
	}{
		{"zero_limit", ratelimit.ConcurrencyConfig{}},
		{"negative_limit", ratelimit.ConcurrencyConfig{Limit: -1}},
		{"bad_name", ratelimit.ConcurrencyConfig{Limit: 1, Name: `a"b`}},
		{"lease_too_short", ratelimit.ConcurrencyConfig{Limit: 1, Lease: time.Millisecond}},
		{"negative_lease", ratelimit.ConcurrencyConfig{Limit: 1, Lease: -time.Second}},
		{"negative_retry_after", ratelimit.ConcurrencyConfig{Limit: 1, RetryAfter: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := newApp(t, tc.cfg, func(http.ResponseWriter, *http.Request) error { return nil })
			if err == nil || h != nil {
				t.Fatalf("got (%v, %v), want (nil, an error)", h != nil, err)
			}
			if !errors.Is(err, ratelimit.ErrInvalidPolicy) {
				t.Errorf("got %v, want an error wrapping ErrInvalidPolicy", err)
			}
		})
	}
}

// On a group of routes (a concurrency limit on /v1, after a guard that
// sets the caller), a path or a method the group does not serve is 404
// not_found before the guard: no slot is taken, no header is set. The
// guard keys on the tenant the earlier guard put in the request.
func doorGroup(t *testing.T, d doors.Door) {
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	setCaller := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		tenant := r.Header.Get("X-Tenant")
		p := &principal.Principal{KeyID: "key_" + tenant, Tenant: tenant}
		return c.Next(w, r.WithContext(principal.NewContext(r.Context(), p)))
	})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	noContent := func(w http.ResponseWriter, _ *http.Request, _ doors.Params) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	h := d.New(t, doors.Spec{
		Errors:      errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		GroupPrefix: "/v1",
		Group:       []guard.Guard{setCaller, c},
		Routes: []doors.Route{
			{Method: http.MethodGet, Path: "/v1/slow", Handler: func(w http.ResponseWriter, r *http.Request, p doors.Params) error {
				entered <- struct{}{}
				<-release
				return noContent(w, r, p)
			}},
			{Method: http.MethodGet, Path: "/v1/fast", Handler: noContent},
		},
	})
	get := func(method, path, tenant string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("X-Tenant", tenant)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- get(http.MethodGet, "/v1/slow", "acme") }()
	select {
	case <-entered:
	case rec := <-done:
		t.Fatalf("slow request ended without running the handler: %d %s", rec.Code, rec.Body)
	case <-time.After(waitBound):
		t.Fatal("the slow handler never started")
	}
	for i, tc := range []struct {
		method, path, tenant string
		status               int
		policy               string
	}{
		{http.MethodGet, "/v1/nope", "acme", 404, ""},
		{http.MethodPost, "/v1/fast", "acme", 404, ""},
		{http.MethodGet, "/v1/fast", "acme", 429, `"inflight";q=1;qu="concurrent-requests"`},
		{http.MethodGet, "/v1/fast", "globex", 204, `"inflight";q=1;qu="concurrent-requests"`},
	} {
		rec := get(tc.method, tc.path, tc.tenant)
		if rec.Code != tc.status || rec.Header().Get(ratelimit.HeaderRateLimitPolicy) != tc.policy {
			t.Errorf("request %d %s %s: got %d RateLimit-Policy %q, want %d %q (body %s)", i, tc.method, tc.path, rec.Code,
				rec.Header().Get(ratelimit.HeaderRateLimitPolicy), tc.status, tc.policy, rec.Body)
		}
		if tc.status == 404 && !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Errorf("request %d: got body %s, want not_found", i, rec.Body)
		}
	}
	close(release)
	if rec := waitDone(t, done); rec.Code != http.StatusNoContent {
		t.Fatalf("slow request: got %d", rec.Code)
	}
	if rec := get(http.MethodGet, "/v1/fast", "acme"); rec.Code != http.StatusNoContent {
		t.Errorf("after the slow request: got %d, want 204", rec.Code)
	}
}

// waitDone returns the answer of a request served in the background.
func waitDone(t *testing.T, done <-chan *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	select {
	case rec := <-done:
		return rec
	case <-time.After(waitBound):
		t.Fatal("request did not end")
	}
	return nil
}
