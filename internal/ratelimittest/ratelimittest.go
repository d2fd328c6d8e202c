// Package ratelimittest is the behaviour table of the rate limiter
// ([ratelimit.Limiter]), run through every front door of apiguard
// (internal/doors): [NewApp] builds the app of one door from a
// framework-neutral spec, and [Run] runs the table on each door that is
// built:
//
//	func TestLimiter(t *testing.T) { ratelimittest.Run(t) }
//	func BenchmarkLimiter(b *testing.B) { ratelimittest.Bench(b) }
//
// [RunStore] runs the store-dependent part with another store (Redis). The
// table drives time through the store's clock (a [storetest.Clock]), so it
// never sleeps. Only tests import it.
package ratelimittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/guard"
	"github.com/clipia/apiguard/internal/doors"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// Path is the one route of an app under test.
const Path = "/r"

// NewApp builds the app of door d: GET [Path] serves h behind a
// [ratelimit.Limiter] built from cfg, and the door's renderer (logs
// discarded) renders the limiter's errors and those h returns. It returns
// ratelimit.New's error. tb is for the door's cleanups.
func NewApp(tb testing.TB, d doors.Door, cfg ratelimit.Config, h func(w http.ResponseWriter, r *http.Request) error) (http.Handler, error) {
	l, err := ratelimit.New(cfg)
	if err != nil {
		return nil, err
	}
	return doors.OneRoute(tb, d, http.MethodGet, Path, h, l), nil
}

// newAppFunc is [NewApp] on one door.
type newAppFunc func(tb testing.TB, cfg ratelimit.Config, h func(w http.ResponseWriter, r *http.Request) error) (http.Handler, error)

func appsOf(d doors.Door) newAppFunc {
	return func(tb testing.TB, cfg ratelimit.Config, h func(w http.ResponseWriter, r *http.Request) error) (http.Handler, error) {
		return NewApp(tb, d, cfg, h)
	}
}

// app is an app under test with a counting handler.
type app struct {
	h     http.Handler
	calls atomic.Int64
	clock *storetest.Clock
}

// memoryStore is the store of [Run]: a memory store on the suite's clock.
func memoryStore(t *testing.T, now func() time.Time) ratelimit.Store {
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: now})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newTestApp builds an app whose handler counts its calls and answers 200
// "ok" (or the error of fail, when set). A nil cfg.Store becomes a memory
// store on the app's clock.
func newTestApp(t *testing.T, newApp newAppFunc, cfg ratelimit.Config) *app {
	return newStoreApp(t, newApp, cfg, memoryStore)
}

// newStoreApp is newTestApp with a nil cfg.Store built by newStore on the
// app's clock. Its handler also adds the cost of the query parameter
// "addcost" with ratelimit.AddCost and reports AddCost's result in the
// X-Cost-Added header.
func newStoreApp(t *testing.T, newApp newAppFunc, cfg ratelimit.Config, newStore storetest.NewStore) *app {
	t.Helper()
	a := &app{clock: &storetest.Clock{}}
	if cfg.Store == nil {
		cfg.Store = newStore(t, a.clock.Now)
	}
	h, err := newApp(t, cfg, func(w http.ResponseWriter, r *http.Request) error {
		a.calls.Add(1)
		if c := r.URL.Query().Get("addcost"); c != "" {
			n, _ := strconv.ParseInt(c, 10, 64)
			w.Header().Set("X-Cost-Added", strconv.FormatBool(ratelimit.AddCost(r.Context(), n)))
		}
		if r.URL.Query().Get("fail") != "" {
			return errorsx.NotFound()
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte("ok"))
		return err
	})
	if err != nil {
		t.Fatalf("constructor: %v", err)
	}
	a.h = h
	return a
}

func (a *app) do(t *testing.T, mod func(*http.Request) *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, Path, nil)
	req.RemoteAddr = "192.0.2.1:1234"
	if mod != nil {
		req = mod(req)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

type wantResp struct {
	status     int
	rateLimit  string
	retryAfter string
	code       string
}

func check(t *testing.T, i int, rec *httptest.ResponseRecorder, want wantResp) {
	t.Helper()
	if rec.Code != want.status {
		t.Fatalf("request %d: got status %d, want %d (body %s)", i, rec.Code, want.status, rec.Body)
	}
	if got := rec.Header().Get("RateLimit"); got != want.rateLimit {
		t.Errorf("request %d: got RateLimit %q, want %q", i, got, want.rateLimit)
	}
	if got := rec.Header().Get("Retry-After"); got != want.retryAfter {
		t.Errorf("request %d: got Retry-After %q, want %q", i, got, want.retryAfter)
	}
	if want.code != "" && !strings.Contains(rec.Body.String(), `"code":"`+want.code+`"`) {
		t.Errorf("request %d: got body %s, want code %s", i, rec.Body, want.code)
	}
}

// Request modifiers.
func query(q string) func(*http.Request) *http.Request {
	return func(r *http.Request) *http.Request { r.URL.RawQuery = q; return r }
}

func forwarded(ip string) func(*http.Request) *http.Request {
	return func(r *http.Request) *http.Request {
		r.Header.Set("X-Forwarded-For", ip)
		r.Header.Set("X-Real-Ip", ip)
		return r
	}
}

func remote(addr string) func(*http.Request) *http.Request {
	return func(r *http.Request) *http.Request { r.RemoteAddr = addr; return r }
}

// caller puts a principal with key id k into the request's context, as an
// auth guard does, and sets the peer address.
func caller(k, addr string) func(*http.Request) *http.Request {
	return func(r *http.Request) *http.Request {
		r.RemoteAddr = addr
		return r.WithContext(principal.NewContext(r.Context(), &principal.Principal{KeyID: k}))
	}
}

// trustedXFF is a client-IP function behind a proxy in 192.0.2.0/24: the
// last X-Forwarded-For address when the peer is the proxy, else the peer.
func trustedXFF(r *http.Request) string {
	peer := ratelimit.ClientIP(r)
	_, proxies, _ := net.ParseCIDR("192.0.2.0/24")
	if ip := net.ParseIP(peer); ip != nil && proxies.Contains(ip) {
		xff := r.Header.Values("X-Forwarded-For")
		if len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	return peer
}

type failingStore struct{ err error }

func (f failingStore) Take(context.Context, string, []ratelimit.Policy, int64) (ratelimit.Result, error) {
	return ratelimit.Result{}, f.err
}

// Run runs the table through every front door.
func Run(t *testing.T) {
	doors.Run(t, func(t *testing.T, d doors.Door) {
		newApp := appsOf(d)
		t.Run("headers_on_every_response", func(t *testing.T) { headersOnEveryResponse(t, newApp) })
		t.Run("retry_after_rounding", func(t *testing.T) { retryAfterRounding(t, newApp) })
		t.Run("several_policies", func(t *testing.T) { severalPolicies(t, newApp) })
		t.Run("cost", func(t *testing.T) { cost(t, newApp) })
		t.Run("key", func(t *testing.T) { key(t, newApp) })
		t.Run("skip", func(t *testing.T) { skip(t, newApp) })
		t.Run("headers_on_handler_errors", func(t *testing.T) { headersOnHandlerErrors(t, newApp) })
		t.Run("store_failure", func(t *testing.T) { storeFailure(t, newApp) })
		t.Run("invalid_config", func(t *testing.T) { invalidConfig(t, newApp) })
		t.Run("parallel_load", func(t *testing.T) { parallelLoad(t, newApp) })
		t.Run("group", func(t *testing.T) { group(t, d) })
		runStore(t, newApp, memoryStore)
	})
}

// RunStore runs the part of the table whose behaviour depends on the store
// (plans, shadow policies, costs added after the response, IPv6 keys)
// through every front door, with stores built by newStore, e.g. a Redis
// store: [Run] runs it on the memory store.
func RunStore(t *testing.T, newStore storetest.NewStore) {
	doors.Run(t, func(t *testing.T, d doors.Door) { runStore(t, appsOf(d), newStore) })
}

func runStore(t *testing.T, newApp newAppFunc, newStore storetest.NewStore) {
	t.Run("plans", func(t *testing.T) { plans(t, newApp, newStore) })
	t.Run("shadow", func(t *testing.T) { shadow(t, newApp, newStore) })
	t.Run("deferred_cost", func(t *testing.T) { deferredCost(t, newApp, newStore) })
	t.Run("ipv6", func(t *testing.T) { ipv6(t, newApp, newStore) })
}

func headersOnEveryResponse(t *testing.T, newApp newAppFunc) {
	a := newTestApp(t, newApp, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)}})
	for i := 1; i <= 20; i++ {
		rec := a.do(t, nil)
		check(t, i, rec, wantResp{status: 200, rateLimit: fmt.Sprintf(`"default";r=%d;t=1`, 20-i)})
		if got, want := rec.Header().Get("RateLimit-Policy"), `"default";q=20;w=2`; got != want {
			t.Errorf("request %d: got RateLimit-Policy %q, want %q", i, got, want)
		}
	}
	rec := a.do(t, nil)
	check(t, 21, rec, wantResp{status: 429, rateLimit: `"default";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"})
	if got, want := rec.Header().Get("RateLimit-Policy"), `"default";q=20;w=2`; got != want {
		t.Errorf("429: got RateLimit-Policy %q, want %q", got, want)
	}
	if got := rec.Header().Get("X-Should-Retry"); got != "true" {
		t.Errorf("429: got X-Should-Retry %q, want true", got)
	}
	if got := a.calls.Load(); got != 20 {
		t.Errorf("handler ran %d times, want 20 (never for a 429)", got)
	}
	// Time refills one token. t is the seconds until one more token
	// (draft -10), not until the bucket is full (2s here).
	a.clock.Advance(100 * time.Millisecond)
	check(t, 22, a.do(t, nil), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
}

// Retry-After is the wait for enough tokens in whole seconds rounded UP, at
// least 1. The 429's RateLimit t is the wait for one more token (draft -10):
// the same for a cost of 1, never later than Retry-After.
func retryAfterRounding(t *testing.T, newApp newAppFunc) {
	for _, tc := range []struct {
		name    string
		policy  ratelimit.Policy
		cost    int64
		advance time.Duration // after emptying the bucket
		want    string
		wantT   string // t of RateLimit, when it differs from want
	}{
		{"100ms_is_1", ratelimit.PerSecond("p", 10, 1), 1, 0, "1", ""},
		{"1ns_is_1", ratelimit.PerSecond("p", 1, 1), 1, time.Second - 1, "1", ""},
		{"exactly_1s_is_1", ratelimit.PerSecond("p", 1, 1), 1, 0, "1", ""},
		{"1s_and_1ns_is_2", ratelimit.Policy{Name: "p", Rate: 1, Period: 2 * time.Second, Burst: 1}, 1, time.Second - 1, "2", ""},
		{"2.5s_is_3", ratelimit.Policy{Name: "p", Rate: 2, Period: 5 * time.Second, Burst: 2}, 1, 0, "3", ""},
		{"cost_3_waits_for_3_tokens", ratelimit.PerSecond("p", 1, 3), 3, 0, "3", "1"},
		{"a_day", ratelimit.PerDay("p", 1, 1), 1, 0, "86400", ""},
		{"10s_for_1_per_10s", ratelimit.Policy{Name: "p", Rate: 1, Period: 10 * time.Second}, 1, 500 * time.Millisecond, "10", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, newApp, ratelimit.Config{
				Policies: []ratelimit.Policy{tc.policy},
				CostFunc: func(*http.Request) (int64, error) { return tc.cost, nil },
			})
			for n := 0; a.do(t, nil).Code == http.StatusOK; n++ {
				if n > 10 {
					t.Fatal("the bucket never empties")
				}
			}
			a.clock.Advance(tc.advance)
			rec := a.do(t, nil)
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("got status %d, want 429", rec.Code)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.want {
				t.Errorf("got Retry-After %q, want %q", got, tc.want)
			}
			wantT := tc.wantT
			if wantT == "" {
				wantT = tc.want
			}
			if got, want := rec.Header().Get("RateLimit"), ";t="+wantT; !strings.HasSuffix(got, want) {
				t.Errorf("got RateLimit %q, want t %s (Retry-After %s)", got, want, tc.want)
			}
		})
	}
}

func severalPolicies(t *testing.T, newApp newAppFunc) {
	a := newTestApp(t, newApp, ratelimit.Config{Policies: []ratelimit.Policy{
		ratelimit.PerSecond("burst", 10, 3),
		ratelimit.PerDay("daily", 5, 5),
	}})
	wantPolicy := `"burst";q=3;w=1, "daily";q=5;w=86400`
	steps := []struct {
		advance time.Duration
		want    wantResp
	}{
		{0, wantResp{status: 200, rateLimit: `"burst";r=2;t=1`}},
		{0, wantResp{status: 200, rateLimit: `"burst";r=1;t=1`}},
		{0, wantResp{status: 200, rateLimit: `"burst";r=0;t=1`}},
		{0, wantResp{status: 429, rateLimit: `"burst";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"}},
		{time.Second, wantResp{status: 200, rateLimit: `"daily";r=1;t=17279`}},
		{0, wantResp{status: 200, rateLimit: `"daily";r=0;t=17279`}},
		// Now the day is the limit: Retry-After is the time to one more daily
		// token (17280s less the 2s gone by), not the second's.
		{time.Second, wantResp{status: 429, rateLimit: `"daily";r=0;t=17278`, retryAfter: "17278", code: "rate_limit_exceeded"}},
	}
	for i, st := range steps {
		a.clock.Advance(st.advance)
		rec := a.do(t, nil)
		check(t, i, rec, st.want)
		if got := rec.Header().Get("RateLimit-Policy"); got != wantPolicy {
			t.Errorf("request %d: got RateLimit-Policy %q, want %q", i, got, wantPolicy)
		}
	}
	if got := a.calls.Load(); got != 5 {
		t.Errorf("handler ran %d times, want 5", got)
	}
}

func cost(t *testing.T, newApp newAppFunc) {
	costFunc := func(r *http.Request) (int64, error) {
		switch r.URL.Query().Get("cost") {
		case "bad":
			return 0, errorsx.InvalidRequest().WithParam("cost")
		case "-1":
			return -1, nil
		case "0":
			return 0, nil
		case "11":
			return 11, nil
		}
		return 4, nil
	}
	a := newTestApp(t, newApp, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)}, CostFunc: costFunc})
	for i, tc := range []struct {
		query string
		want  wantResp
		msg   string
	}{
		{"4", wantResp{status: 200, rateLimit: `"units";r=6;t=1`}, ""},
		{"11", wantResp{status: 400, code: "invalid_request"}, `This request costs 11 rate-limit units, more than the \"units\" limit allows at once (10); it can never succeed as sent.`},
		{"-1", wantResp{status: 400, code: "invalid_request"}, "invalid rate-limit cost"},
		{"bad", wantResp{status: 400, code: "invalid_request"}, `"param":"cost"`},
		{"0", wantResp{status: 200, rateLimit: `"units";r=6;t=1`}, ""},
		{"4", wantResp{status: 200, rateLimit: `"units";r=2;t=1`}, ""},
		// Four tokens come in 2s, the next one in 1s (draft -10: t <= Retry-After).
		{"4", wantResp{status: 429, rateLimit: `"units";r=2;t=1`, retryAfter: "2", code: "rate_limit_exceeded"}, ""},
	} {
		rec := a.do(t, query("cost="+tc.query))
		check(t, i, rec, tc.want)
		if tc.msg != "" && !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("request %d: got body %s, want it to contain %s", i, rec.Body, tc.msg)
		}
	}
	if got := a.calls.Load(); got != 3 {
		t.Errorf("handler ran %d times, want 3 (never for a refused cost)", got)
	}
}

func key(t *testing.T, newApp newAppFunc) {
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)}
	ok := wantResp{status: 200, rateLimit: `"default";r=0;t=1`}
	limited := wantResp{status: 429, rateLimit: `"default";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"}
	t.Run("spoofed_forwarded_for_is_ignored_by_default", func(t *testing.T) {
		a := newTestApp(t, newApp, ratelimit.Config{Policies: policies})
		check(t, 0, a.do(t, forwarded("203.0.113.1")), ok)
		// Same TCP peer, another forged header: still the same bucket.
		check(t, 1, a.do(t, forwarded("203.0.113.2")), limited)
		// Another peer: its own bucket.
		check(t, 2, a.do(t, remote("192.0.2.9:555")), ok)
	})
	t.Run("configured_client_ip_is_used", func(t *testing.T) {
		a := newTestApp(t, newApp, ratelimit.Config{Policies: policies, ClientIP: trustedXFF})
		check(t, 0, a.do(t, forwarded("203.0.113.1")), ok)
		check(t, 1, a.do(t, forwarded("203.0.113.2")), ok)
		check(t, 2, a.do(t, forwarded("203.0.113.1")), limited)
		// A peer outside the trusted proxies cannot pick its bucket.
		untrusted := func(r *http.Request) *http.Request { return remote("198.51.100.7:1")(forwarded("203.0.113.3")(r)) }
		check(t, 3, a.do(t, untrusted), ok)
		check(t, 4, a.do(t, func(r *http.Request) *http.Request { return remote("198.51.100.7:1")(forwarded("203.0.113.4")(r)) }), limited)
	})
	t.Run("principal_key_id_wins_over_the_ip", func(t *testing.T) {
		for _, clientIP := range []func(*http.Request) string{nil, trustedXFF} {
			a := newTestApp(t, newApp, ratelimit.Config{Policies: policies, ClientIP: clientIP})
			check(t, 0, a.do(t, caller("key_1", "192.0.2.1:1")), ok)
			check(t, 1, a.do(t, caller("key_1", "192.0.2.2:1")), limited)
			check(t, 2, a.do(t, caller("key_2", "192.0.2.1:1")), ok)
			// No principal: the IP's own bucket, separate from the keys'.
			check(t, 3, a.do(t, remote("192.0.2.1:1")), ok)
			// An empty key id is no key: the IP's bucket.
			check(t, 4, a.do(t, caller("", "192.0.2.1:1")), limited)
		}
	})
	t.Run("custom_key_func_error_is_returned", func(t *testing.T) {
		a := newTestApp(t, newApp, ratelimit.Config{Policies: policies, KeyFunc: func(*http.Request) (string, error) {
			return "", errorsx.InvalidAPIKey()
		}})
		check(t, 0, a.do(t, nil), wantResp{status: 401, code: "invalid_api_key"})
		if got := a.calls.Load(); got != 0 {
			t.Errorf("handler ran %d times, want 0", got)
		}
	})
	t.Run("custom_key_func_is_used", func(t *testing.T) {
		a := newTestApp(t, newApp, ratelimit.Config{Policies: policies, KeyFunc: func(r *http.Request) (string, error) {
			return "tenant:" + r.URL.Query().Get("t"), nil
		}})
		check(t, 0, a.do(t, query("t=a")), ok)
		check(t, 1, a.do(t, query("t=b")), ok)
		check(t, 2, a.do(t, query("t=a")), limited)
	})
}

func skip(t *testing.T, newApp newAppFunc) {
	a := newTestApp(t, newApp, ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
		Skip:     func(r *http.Request) bool { return r.Header.Get("X-Internal") == "1" },
	})
	internal := func(r *http.Request) *http.Request { r.Header.Set("X-Internal", "1"); return r }
	for i := range 3 {
		rec := a.do(t, internal)
		check(t, i, rec, wantResp{status: 200})
		if got := rec.Header().Get("RateLimit-Policy"); got != "" {
			t.Errorf("skipped request: got RateLimit-Policy %q, want none", got)
		}
	}
	check(t, 3, a.do(t, nil), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
	check(t, 4, a.do(t, nil), wantResp{status: 429, rateLimit: `"default";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"})
}

// Errors of the handler still carry the headers.
func headersOnHandlerErrors(t *testing.T, newApp newAppFunc) {
	a := newTestApp(t, newApp, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)}})
	rec := a.do(t, query("fail=1"))
	check(t, 0, rec, wantResp{status: 404, rateLimit: `"default";r=19;t=1`, code: "not_found"})
	if got := rec.Header().Get("RateLimit-Policy"); got != `"default";q=20;w=2` {
		t.Errorf("got RateLimit-Policy %q, want it on a handler's error", got)
	}
}

func storeFailure(t *testing.T, newApp newAppFunc) {
	down := errors.New("dial tcp 10.0.0.7:6379: connection refused")
	for _, tc := range []struct {
		name       string
		failClosed bool
		want       wantResp
		calls      int64
		level      string
	}{
		{"fail_open_by_default", false, wantResp{status: 200}, 1, "WARN"},
		{"fail_closed", true, wantResp{status: 503, code: "service_unavailable", retryAfter: "1"}, 0, "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := newTestApp(t, newApp, ratelimit.Config{
				Policies:   []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
				Store:      failingStore{down},
				FailClosed: tc.failClosed,
				Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
			})
			rec := a.do(t, func(r *http.Request) *http.Request { r.Header.Set("X-Request-Id", "req_store_down_1"); return r })
			check(t, 0, rec, tc.want)
			if got := a.calls.Load(); got != tc.calls {
				t.Errorf("handler ran %d times, want %d", got, tc.calls)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("the body leaks the store error: %s", rec.Body)
			}
			if got := rec.Header().Get("RateLimit-Policy"); got != `"default";q=1;w=1` {
				t.Errorf("got RateLimit-Policy %q, want it even when the store failed", got)
			}
			log := logs.String()
			if !strings.Contains(log, "level="+tc.level) || !strings.Contains(log, "connection refused") {
				t.Errorf("got log %q, want a %s record with the cause", log, tc.level)
			}
			if !strings.Contains(log, "request_id=req_store_down_1") || !strings.Contains(log, "route=") || !strings.Contains(log, Path) {
				t.Errorf("got log %q, want the request id and the route", log)
			}
			if strings.Count(log, "\n") != 1 {
				t.Errorf("got log %q, want one record", log)
			}
		})
	}
}

func invalidConfig(t *testing.T, newApp newAppFunc) {
	for _, tc := range []struct {
		name     string
		policies []ratelimit.Policy
	}{
		{"no_policies", nil},
		{"zero_rate", []ratelimit.Policy{{Name: "x"}}},
		{"negative_burst", []ratelimit.Policy{{Name: "x", Rate: 1, Burst: -1}}},
		{"negative_period", []ratelimit.Policy{{Name: "x", Rate: 1, Period: -time.Second}}},
		{"faster_than_a_nanosecond", []ratelimit.Policy{{Name: "x", Rate: 2, Period: time.Nanosecond}}},
		{"refill_too_long", []ratelimit.Policy{{Name: "x", Rate: 1, Period: 365 * 24 * time.Hour}}},
		{"duplicate_names", []ratelimit.Policy{ratelimit.PerSecond("a", 1, 1), ratelimit.PerMinute("a", 1, 1)}},
		{"duplicate_default_names", []ratelimit.Policy{ratelimit.PerSecond("", 1, 1), ratelimit.PerMinute("default", 1, 1)}},
		{"control_character_in_name", []ratelimit.Policy{ratelimit.PerSecond("a\nb", 1, 1)}},
		{"non_ascii_name", []ratelimit.Policy{ratelimit.PerSecond("débit", 1, 1)}},
		{"quote_in_name", []ratelimit.Policy{ratelimit.PerSecond(`a"b`, 1, 1)}},
		{"brace_in_name", []ratelimit.Policy{ratelimit.PerSecond("a}:b", 1, 1)}},
		{"space_in_name", []ratelimit.Policy{ratelimit.PerSecond("a b", 1, 1)}},
		{"name_too_long", []ratelimit.Policy{ratelimit.PerSecond(strings.Repeat("n", 65), 1, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := newApp(t, ratelimit.Config{Policies: tc.policies}, func(http.ResponseWriter, *http.Request) error { return nil })
			if err == nil || h != nil {
				t.Fatalf("got (%v, %v), want (nil, an error)", h != nil, err)
			}
			if !errors.Is(err, ratelimit.ErrInvalidPolicy) {
				t.Errorf("got error %v, want one wrapping ErrInvalidPolicy", err)
			}
		})
	}
}

// Many goroutines against two callers at one instant: each burst passes
// exactly, everything else is 429 (run with -race).
func parallelLoad(t *testing.T, newApp newAppFunc) {
	a := newTestApp(t, newApp, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 100), ratelimit.PerDay("daily", 150, 150)}})
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				rec := a.do(t, remote(fmt.Sprintf("192.0.2.%d:%d", 1+(g+i)%2, 1000+i)))
				switch rec.Code {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("got status %d", rec.Code)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 200 || limited.Load() != 440 {
		t.Fatalf("got %d allowed and %d limited, want 200 (100 per IP) and 440", ok.Load(), limited.Load())
	}
	if got := a.calls.Load(); got != 200 {
		t.Errorf("handler ran %d times, want 200", got)
	}
}

// On a group of routes (a limiter on /v1, after a guard that sets the
// caller), a path or a method the group does not serve is 404 not_found
// before the limiter: no token is spent, no RateLimit header is set. The
// limiter keys on the principal the earlier guard put in the request.
func group(t *testing.T, d doors.Door) {
	l, err := ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	setCaller := guard.Func(func(w http.ResponseWriter, r *http.Request, c guard.Call) error {
		p := &principal.Principal{KeyID: r.Header.Get("X-Test-Key")}
		return c.Next(w, r.WithContext(principal.NewContext(r.Context(), p)))
	})
	h := d.New(t, doors.Spec{
		Errors:      errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)},
		GroupPrefix: "/v1",
		Group:       []guard.Guard{setCaller, l},
		Routes: []doors.Route{{Method: http.MethodGet, Path: "/v1/r", Handler: func(w http.ResponseWriter, _ *http.Request, _ doors.Params) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}}},
	})
	for i, tc := range []struct {
		method, path, key string
		status            int
		rateLimit         string
	}{
		{http.MethodGet, "/v1/nope", "key_1", 404, ""},
		{http.MethodPost, "/v1/r", "key_1", 404, ""},
		{http.MethodGet, "/v1/r", "key_1", 204, `"default";r=0;t=1`},
		{http.MethodGet, "/v1/r", "key_1", 429, `"default";r=0;t=1`},
		{http.MethodGet, "/v1/r", "key_2", 204, `"default";r=0;t=1`},
		{http.MethodGet, "/v1/nope", "key_3", 404, ""},
		{http.MethodDelete, "/v1/r", "key_3", 404, ""},
		{http.MethodGet, "/v1/r", "key_3", 204, `"default";r=0;t=1`},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set("X-Test-Key", tc.key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Header().Get(ratelimit.HeaderRateLimit) != tc.rateLimit {
			t.Errorf("request %d %s %s: got %d RateLimit %q, want %d %q (body %s)", i, tc.method, tc.path, rec.Code,
				rec.Header().Get(ratelimit.HeaderRateLimit), tc.status, tc.rateLimit, rec.Body)
		}
		if tc.status == 404 {
			if rec.Header().Get(ratelimit.HeaderRateLimitPolicy) != "" {
				t.Errorf("request %d: an unknown route got RateLimit-Policy", i)
			}
			if !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
				t.Errorf("request %d: got body %s, want not_found", i, rec.Body)
			}
		}
	}
}

// withPrincipal puts a principal into the request's context, as an auth
// guard does.
func withPrincipal(p *principal.Principal) func(*http.Request) *http.Request {
	return func(r *http.Request) *http.Request {
		return r.WithContext(principal.NewContext(r.Context(), p))
	}
}

func checkPolicy(t *testing.T, i int, rec *httptest.ResponseRecorder, want string) {
	t.Helper()
	if got := rec.Header().Get("RateLimit-Policy"); got != want {
		t.Errorf("request %d: got RateLimit-Policy %q, want %q", i, got, want)
	}
}

// Per-caller plans: free 2/s burst 5, pro 50/s burst 100, one tenant's
// override; the plan from the key's metadata by default.
func plans(t *testing.T, newApp newAppFunc, newStore storetest.NewStore) {
	cfg := func() ratelimit.Config {
		return ratelimit.Config{
			Policies: []ratelimit.Policy{ratelimit.PerSecond("anonymous", 1, 1)},
			Plans: map[string][]ratelimit.Policy{
				"free":        {ratelimit.PerSecond("rate", 2, 5)},
				"pro":         {ratelimit.PerSecond("rate", 50, 100)},
				"tenant-acme": {ratelimit.PerSecond("rate", 10, 20), ratelimit.PerDay("daily", 1000, 1000)},
			},
		}
	}
	free := withPrincipal(&principal.Principal{KeyID: "k_free", Metadata: map[string]string{"plan": "free"}})
	pro := withPrincipal(&principal.Principal{KeyID: "k_pro", Metadata: map[string]string{"plan": "pro"}})
	none := withPrincipal(&principal.Principal{KeyID: "k_none"})
	acme := withPrincipal(&principal.Principal{KeyID: "k_acme", Tenant: "acme", Metadata: map[string]string{"plan": "free"}})
	t.Run("from_the_key_metadata", func(t *testing.T) {
		a := newStoreApp(t, newApp, cfg(), newStore)
		for i := 1; i <= 5; i++ {
			rec := a.do(t, free)
			check(t, i, rec, wantResp{status: 200, rateLimit: fmt.Sprintf(`"rate";r=%d;t=1`, 5-i)})
			checkPolicy(t, i, rec, `"rate";q=5;w=3`)
		}
		check(t, 6, a.do(t, free), wantResp{status: 429, rateLimit: `"rate";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"})
		for i := 1; i <= 100; i++ {
			rec := a.do(t, pro)
			if rec.Code != 200 {
				t.Fatalf("pro request %d: got %d, want 200", i, rec.Code)
			}
			if i == 1 {
				check(t, i, rec, wantResp{status: 200, rateLimit: `"rate";r=99;t=1`})
				checkPolicy(t, i, rec, `"rate";q=100;w=2`)
			}
		}
		check(t, 101, a.do(t, pro), wantResp{status: 429, rateLimit: `"rate";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"})
		// No plan in the metadata, or no principal: the default plan.
		rec := a.do(t, none)
		check(t, 0, rec, wantResp{status: 200, rateLimit: `"anonymous";r=0;t=1`})
		checkPolicy(t, 0, rec, `"anonymous";q=1;w=1`)
		check(t, 1, a.do(t, nil), wantResp{status: 200, rateLimit: `"anonymous";r=0;t=1`})
		check(t, 2, a.do(t, nil), wantResp{status: 429, rateLimit: `"anonymous";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"})
		if got := a.calls.Load(); got != 5+100+2 {
			t.Errorf("handler ran %d times, want 107", got)
		}
	})
	t.Run("tenant_override", func(t *testing.T) {
		c := cfg()
		c.PlanFunc = func(r *http.Request) (string, error) {
			if p, ok := principal.FromContext(r.Context()); ok && p.Tenant == "acme" {
				return "tenant-acme", nil
			}
			return ratelimit.PrincipalPlan(r)
		}
		a := newStoreApp(t, newApp, c, newStore)
		rec := a.do(t, acme)
		check(t, 0, rec, wantResp{status: 200, rateLimit: `"rate";r=19;t=1`})
		checkPolicy(t, 0, rec, `"rate";q=20;w=2, "daily";q=1000;w=86400`)
		check(t, 1, a.do(t, free), wantResp{status: 200, rateLimit: `"rate";r=4;t=1`})
	})
	t.Run("unknown_plan_is_a_wiring_bug", func(t *testing.T) {
		var logs bytes.Buffer
		c := cfg()
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		a := newStoreApp(t, newApp, c, newStore)
		gold := withPrincipal(&principal.Principal{KeyID: "k_gold", Metadata: map[string]string{"plan": "gold"}})
		rec := a.do(t, gold)
		check(t, 0, rec, wantResp{status: 500, code: "internal_error"})
		if strings.Contains(rec.Body.String(), "gold") {
			t.Errorf("the body names the plan: %s", rec.Body)
		}
		if got := a.calls.Load(); got != 0 {
			t.Errorf("handler ran %d times, want 0", got)
		}
		if log := logs.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "plan=gold") || strings.Count(log, "\n") != 1 {
			t.Errorf("got log %q, want one ERROR record naming the plan", log)
		}
	})
	t.Run("plan_func_error_is_returned", func(t *testing.T) {
		c := cfg()
		c.PlanFunc = func(*http.Request) (string, error) { return "", errorsx.InvalidAPIKey() }
		a := newStoreApp(t, newApp, c, newStore)
		check(t, 0, a.do(t, free), wantResp{status: 401, code: "invalid_api_key"})
	})
	t.Run("invalid_plans", func(t *testing.T) {
		h := func(http.ResponseWriter, *http.Request) error { return nil }
		for _, tc := range []struct {
			name string
			cfg  ratelimit.Config
			want error
		}{
			{"empty_plan", ratelimit.Config{Policies: cfg().Policies, Plans: map[string][]ratelimit.Policy{"x": nil}}, ratelimit.ErrInvalidPolicy},
			{"invalid_policy", ratelimit.Config{Policies: cfg().Policies, Plans: map[string][]ratelimit.Policy{"x": {{Name: "z"}}}}, ratelimit.ErrInvalidPolicy},
			{"empty_name", ratelimit.Config{Policies: cfg().Policies, Plans: map[string][]ratelimit.Policy{"": cfg().Policies}}, ratelimit.ErrInvalidConfig},
			{"plan_func_without_plans", ratelimit.Config{Policies: cfg().Policies, PlanFunc: ratelimit.PrincipalPlan}, ratelimit.ErrInvalidConfig},
			{"ipv6_prefix_129", ratelimit.Config{Policies: cfg().Policies, IPv6PrefixLen: 129}, ratelimit.ErrInvalidConfig},
		} {
			if _, err := newApp(t, tc.cfg, h); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

// A shadow policy decides, reports and logs, but never refuses; the
// enforced policies still take tokens.
func shadow(t *testing.T, newApp newAppFunc, newStore storetest.NewStore) {
	var logs syncBuffer
	a := newStoreApp(t, newApp, ratelimit.Config{
		Policies: []ratelimit.Policy{
			ratelimit.PerSecond("enforced", 10, 10),
			{Name: "trial", Rate: 1, Period: time.Second, Burst: 2, Shadow: true},
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}, newStore)
	policy := `"enforced";q=10;w=1, "trial";q=2;w=2`
	steps := []wantResp{
		{status: 200, rateLimit: `"trial";r=1;t=1`},
		{status: 200, rateLimit: `"trial";r=0;t=1`},
		{status: 200, rateLimit: `"trial";r=0;t=1`}, // would be a 429: reported, not enforced
	}
	for i, want := range steps {
		rec := a.do(t, nil)
		check(t, i, rec, want)
		checkPolicy(t, i, rec, policy)
	}
	if got := strings.Count(logs.String(), "msg="); got != 1 {
		t.Fatalf("got %d shadow log records, want 1: %q", got, logs.String())
	}
	for i := 3; i < 10; i++ {
		check(t, i, a.do(t, nil), wantResp{status: 200, rateLimit: `"trial";r=0;t=1`})
	}
	// The enforced policy took a token each time: the 11th is refused.
	check(t, 10, a.do(t, nil), wantResp{status: 429, rateLimit: `"enforced";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"})
	log := logs.String()
	if got := strings.Count(log, "msg="); got != 1 {
		t.Errorf("got %d shadow log records for one caller in one window, want 1: %q", got, log)
	}
	if !strings.Contains(log, "level=INFO") || !strings.Contains(log, "policy=trial") || strings.Contains(log, "192.0.2.1") || strings.Contains(log, "ip:") {
		t.Errorf("got log %q, want an INFO record naming the policy and not the caller's address", log)
	}
	// Another caller is logged on its own, by key id.
	k := withPrincipal(&principal.Principal{KeyID: "key_shadow"})
	for range 3 {
		if rec := a.do(t, k); rec.Code != 200 {
			t.Fatalf("got %d, want 200", rec.Code)
		}
	}
	log = logs.String()
	if got := strings.Count(log, "msg="); got != 2 || !strings.Contains(log, "key_id=key_shadow") {
		t.Errorf("got log %q, want a second record with the key id", log)
	}
	if got := a.calls.Load(); got != 13 {
		t.Errorf("handler ran %d times, want 13", got)
	}
	// Only shadow policies: nothing is ever refused.
	b := newStoreApp(t, newApp, ratelimit.Config{
		Policies: []ratelimit.Policy{{Name: "dry", Rate: 1, Burst: 1, Shadow: true}},
		Logger:   slog.New(slog.DiscardHandler),
	}, newStore)
	check(t, 0, b.do(t, nil), wantResp{status: 200, rateLimit: `"dry";r=0;t=1`})
	check(t, 1, b.do(t, nil), wantResp{status: 200, rateLimit: `"dry";r=0;t=1`})
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A handler charges what it learns after the work with AddCost; the next
// requests wait for it.
func deferredCost(t *testing.T, newApp newAppFunc, newStore storetest.NewStore) {
	a := newStoreApp(t, newApp, ratelimit.Config{
		Policies:     []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)},
		DeferredCost: true,
	}, newStore)
	rec := a.do(t, query("addcost=5"))
	check(t, 0, rec, wantResp{status: 200, rateLimit: `"units";r=9;t=1`})
	if got := rec.Header().Get("X-Cost-Added"); got != "true" {
		t.Errorf("AddCost returned %q, want true", got)
	}
	check(t, 1, a.do(t, nil), wantResp{status: 200, rateLimit: `"units";r=3;t=1`})
	// Into debt, capped at one more Burst (20s ahead).
	check(t, 2, a.do(t, query("addcost=50")), wantResp{status: 200, rateLimit: `"units";r=2;t=1`})
	check(t, 3, a.do(t, nil), wantResp{status: 429, rateLimit: `"units";r=0;t=11`, retryAfter: "11", code: "rate_limit_exceeded"})
	a.clock.Advance(10 * time.Second)
	check(t, 4, a.do(t, nil), wantResp{status: 429, rateLimit: `"units";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"})
	a.clock.Advance(time.Second)
	check(t, 5, a.do(t, nil), wantResp{status: 200, rateLimit: `"units";r=0;t=1`})
	// A handler's error still charges what it added.
	a.clock.Advance(time.Hour)
	check(t, 6, a.do(t, query("addcost=3&fail=1")), wantResp{status: 404, rateLimit: `"units";r=9;t=1`, code: "not_found"})
	check(t, 7, a.do(t, nil), wantResp{status: 200, rateLimit: `"units";r=5;t=1`})

	// Without DeferredCost, AddCost reports false and charges nothing.
	b := newStoreApp(t, newApp, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)}}, newStore)
	rec = b.do(t, query("addcost=5"))
	if got := rec.Header().Get("X-Cost-Added"); got != "false" {
		t.Errorf("AddCost without DeferredCost returned %q, want false", got)
	}
	check(t, 1, b.do(t, nil), wantResp{status: 200, rateLimit: `"units";r=8;t=1`})

	// A store that cannot charge is refused at construction.
	_, err := newApp(t, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("u", 1, 1)}, Store: failingStore{}, DeferredCost: true},
		func(http.ResponseWriter, *http.Request) error { return nil })
	if !errors.Is(err, ratelimit.ErrInvalidConfig) {
		t.Errorf("DeferredCost with a store that is not a Charger: got %v, want ErrInvalidConfig", err)
	}
}

// Anonymous IPv6 callers share their /64 (by default).
func ipv6(t *testing.T, newApp newAppFunc, newStore storetest.NewStore) {
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)}
	ok := wantResp{status: 200, rateLimit: `"default";r=0;t=1`}
	limited := wantResp{status: 429, rateLimit: `"default";r=0;t=1`, retryAfter: "1", code: "rate_limit_exceeded"}
	a := newStoreApp(t, newApp, ratelimit.Config{Policies: policies}, newStore)
	check(t, 0, a.do(t, remote("[2001:db8:1:2::1]:1000")), ok)
	check(t, 1, a.do(t, remote("[2001:db8:1:2:ffff:ee:dd:cc]:1001")), limited)
	check(t, 2, a.do(t, remote("[2001:db8:1:3::1]:1000")), ok)
	check(t, 3, a.do(t, remote("192.0.2.50:1")), ok)
	check(t, 4, a.do(t, remote("[::ffff:192.0.2.50]:2")), limited)
	check(t, 5, a.do(t, remote("192.0.2.51:1")), ok)

	b := newStoreApp(t, newApp, ratelimit.Config{Policies: policies, IPv6PrefixLen: 128}, newStore)
	check(t, 0, b.do(t, remote("[2001:db8:1:2::1]:1000")), ok)
	check(t, 1, b.do(t, remote("[2001:db8:1:2::2]:1000")), ok)
	check(t, 2, b.do(t, remote("[2001:db8:1:2:0::1]:9")), limited)

	c := newStoreApp(t, newApp, ratelimit.Config{Policies: policies, IPv6PrefixLen: 48}, newStore)
	check(t, 0, c.do(t, remote("[2001:db8:1:2::1]:1000")), ok)
	check(t, 1, c.do(t, remote("[2001:db8:1:ffff::1]:1000")), limited)
}

// benchWriter is a ResponseWriter that keeps only the headers and the
// status, so a benchmark measures the door, not a recorder.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

// Bench measures one request through each front door, on a memory store,
// in four cases: allowed (client-IP key), principal (key id key), limited
// (every request a 429 rendered by the door) and skipped (Config.Skip
// true). The handler answers 200 with no body. Select a door with
// -bench 'Limiter/echo4'.
func Bench(b *testing.B) {
	for _, d := range doors.All() {
		b.Run(d.Name, func(b *testing.B) {
			bench(b, appsOf(d))
		})
	}
}

func bench(b *testing.B, newApp newAppFunc) {
	for _, bc := range []struct {
		name   string
		policy ratelimit.Policy
		skip   bool
		key    bool
		status int
	}{
		{"allowed", ratelimit.PerSecond("default", 1_000_000_000, 1_000_000_000), false, false, 200},
		{"principal", ratelimit.PerSecond("default", 1_000_000_000, 1_000_000_000), false, true, 200},
		{"limited", ratelimit.PerDay("daily", 1, 1), false, false, 429},
		{"skipped", ratelimit.PerDay("daily", 1, 1), true, false, 200},
	} {
		b.Run(bc.name, func(b *testing.B) {
			now := time.Now
			if bc.status == http.StatusTooManyRequests {
				now = (&storetest.Clock{}).Now
			}
			s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: now})
			defer s.Close()
			cfg := ratelimit.Config{Policies: []ratelimit.Policy{bc.policy}, Store: s}
			if bc.skip {
				cfg.Skip = func(*http.Request) bool { return true }
			}
			h, err := newApp(b, cfg, func(w http.ResponseWriter, _ *http.Request) error {
				w.WriteHeader(http.StatusOK)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, Path, nil)
			req.RemoteAddr = "192.0.2.1:1234"
			if bc.key {
				req = req.WithContext(principal.NewContext(req.Context(), &principal.Principal{KeyID: "key_1"}))
			}
			w := &benchWriter{h: http.Header{}}
			h.ServeHTTP(w, req) // takes the one token of "limited"
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			if w.code != bc.status {
				b.Fatalf("got status %d, want %d", w.code, bc.status)
			}
		})
	}
}
