package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/middleware"
	"github.com/clipia/apiguard/principal"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/labstack/echo/v4"
)

// app is an Echo instance with the renderer and one limited route, GET /r,
// whose handler counts its calls.
type app struct {
	e     *echo.Echo
	calls atomic.Int64
	clock *storetest.Clock
}

func newApp(t *testing.T, cfg ratelimit.Config, pre ...echo.MiddlewareFunc) *app {
	t.Helper()
	a := &app{e: echo.New(), clock: &storetest.Clock{}}
	a.e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	if cfg.Store == nil {
		s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: a.clock.Now})
		t.Cleanup(func() { _ = s.Close() })
		cfg.Store = s
	}
	mw, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatalf("ratelimit.New: %v", err)
	}
	chain := append(append([]echo.MiddlewareFunc{}, pre...), mw)
	a.e.GET("/r", func(c echo.Context) error {
		a.calls.Add(1)
		return c.String(http.StatusOK, "ok")
	}, chain...)
	return a
}

func (a *app) do(t *testing.T, mod func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/r", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
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

func TestHeadersOnEveryResponse(t *testing.T) {
	a := newApp(t, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)}})
	for i := 1; i <= 20; i++ {
		rec := a.do(t, nil)
		check(t, i, rec, wantResp{status: 200, rateLimit: fmt.Sprintf(`"default";r=%d;t=%d`, 20-i, (i+9)/10)})
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
	// Time refills one token.
	a.clock.Advance(100 * time.Millisecond)
	check(t, 22, a.do(t, nil), wantResp{status: 200, rateLimit: `"default";r=0;t=2`})
}

// Retry-After is the wait for enough tokens in whole seconds rounded UP, at
// least 1, and the 429's RateLimit t says the same.
func TestRetryAfterRounding(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  ratelimit.Policy
		cost    int64
		advance time.Duration // after emptying the bucket
		want    string
	}{
		{"100ms_is_1", ratelimit.PerSecond("p", 10, 1), 1, 0, "1"},
		{"1ns_is_1", ratelimit.PerSecond("p", 1, 1), 1, time.Second - 1, "1"},
		{"exactly_1s_is_1", ratelimit.PerSecond("p", 1, 1), 1, 0, "1"},
		{"1s_and_1ns_is_2", ratelimit.Policy{Name: "p", Rate: 1, Period: 2 * time.Second, Burst: 1}, 1, time.Second - 1, "2"},
		{"2.5s_is_3", ratelimit.Policy{Name: "p", Rate: 2, Period: 5 * time.Second, Burst: 2}, 1, 0, "3"},
		{"cost_3_waits_for_3_tokens", ratelimit.PerSecond("p", 1, 3), 3, 0, "3"},
		{"a_day", ratelimit.PerDay("p", 1), 1, 0, "86400"},
		{"10s_for_1_per_10s", ratelimit.Policy{Name: "p", Rate: 1, Period: 10 * time.Second}, 1, 500 * time.Millisecond, "10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, ratelimit.Config{
				Policies: []ratelimit.Policy{tc.policy},
				CostFunc: func(echo.Context) (int64, error) { return tc.cost, nil },
			})
			for a.do(t, nil).Code == http.StatusOK {
			}
			a.clock.Advance(tc.advance)
			rec := a.do(t, nil)
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("got status %d, want 429", rec.Code)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.want {
				t.Errorf("got Retry-After %q, want %q", got, tc.want)
			}
			if got, want := rec.Header().Get("RateLimit"), ";t="+tc.want; !strings.HasSuffix(got, want) {
				t.Errorf("got RateLimit %q, want t equal to Retry-After (%s)", got, want)
			}
		})
	}
}

func TestSeveralPolicies(t *testing.T) {
	a := newApp(t, ratelimit.Config{Policies: []ratelimit.Policy{
		ratelimit.PerSecond("burst", 10, 3),
		ratelimit.PerDay("daily", 5),
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
		{time.Second, wantResp{status: 200, rateLimit: `"daily";r=1;t=69119`}},
		{0, wantResp{status: 200, rateLimit: `"daily";r=0;t=86399`}},
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

func TestCost(t *testing.T) {
	cost := func(c echo.Context) (int64, error) {
		switch c.QueryParam("cost") {
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
	a := newApp(t, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("units", 1, 10)}, CostFunc: cost})
	q := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.URL.RawQuery = "cost=" + v }
	}
	for i, tc := range []struct {
		query string
		want  wantResp
		msg   string
	}{
		{"4", wantResp{status: 200, rateLimit: `"units";r=6;t=4`}, ""},
		{"11", wantResp{status: 400, code: "invalid_request"}, `This request costs 11 rate-limit units, more than the \"units\" limit allows at once (10); it can never succeed as sent.`},
		{"-1", wantResp{status: 400, code: "invalid_request"}, "invalid rate-limit cost"},
		{"bad", wantResp{status: 400, code: "invalid_request"}, `"param":"cost"`},
		{"0", wantResp{status: 200, rateLimit: `"units";r=6;t=4`}, ""},
		{"4", wantResp{status: 200, rateLimit: `"units";r=2;t=8`}, ""},
		{"4", wantResp{status: 429, rateLimit: `"units";r=2;t=2`, retryAfter: "2", code: "rate_limit_exceeded"}, ""},
	} {
		rec := a.do(t, q(tc.query))
		check(t, i, rec, tc.want)
		if tc.msg != "" && !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("request %d: got body %s, want it to contain %s", i, rec.Body, tc.msg)
		}
	}
}

func TestDefaultKey(t *testing.T) {
	xff := func(ip string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Forwarded-For", ip); r.Header.Set("X-Real-Ip", ip) }
	}
	remote := func(addr string) func(*http.Request) {
		return func(r *http.Request) { r.RemoteAddr = addr }
	}
	auth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if k := c.Request().Header.Get("X-Test-Key"); k != "" {
				middleware.SetPrincipal(c, &principal.Principal{KeyID: k})
			}
			return next(c)
		}
	}
	policies := []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)}
	t.Run("spoofed_forwarded_for_is_ignored_without_an_extractor", func(t *testing.T) {
		a := newApp(t, ratelimit.Config{Policies: policies})
		check(t, 0, a.do(t, xff("203.0.113.1")), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
		// Same TCP peer, another forged header: still the same bucket.
		check(t, 1, a.do(t, xff("203.0.113.2")), wantResp{status: 429, rateLimit: `"default";r=0;t=1`, retryAfter: "1"})
		// Another peer: its own bucket.
		check(t, 2, a.do(t, remote("192.0.2.9:555")), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
	})
	t.Run("configured_extractor_is_used", func(t *testing.T) {
		a := newApp(t, ratelimit.Config{Policies: policies})
		a.e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false),
			echo.TrustIPRange(mustCIDR(t, "192.0.2.0/24")))
		check(t, 0, a.do(t, xff("203.0.113.1")), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
		check(t, 1, a.do(t, xff("203.0.113.2")), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
		check(t, 2, a.do(t, xff("203.0.113.1")), wantResp{status: 429, rateLimit: `"default";r=0;t=1`, retryAfter: "1"})
	})
	t.Run("principal_key_id_wins_over_the_ip", func(t *testing.T) {
		a := newApp(t, ratelimit.Config{Policies: policies}, auth)
		key := func(k, addr string) func(*http.Request) {
			return func(r *http.Request) { r.Header.Set("X-Test-Key", k); r.RemoteAddr = addr }
		}
		check(t, 0, a.do(t, key("key_1", "192.0.2.1:1")), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
		check(t, 1, a.do(t, key("key_1", "192.0.2.2:1")), wantResp{status: 429, rateLimit: `"default";r=0;t=1`, retryAfter: "1"})
		check(t, 2, a.do(t, key("key_2", "192.0.2.1:1")), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
		// No principal: the IP's own bucket, separate from the keys'.
		check(t, 3, a.do(t, remote("192.0.2.1:1")), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
	})
	t.Run("custom_key_func_error_is_returned", func(t *testing.T) {
		a := newApp(t, ratelimit.Config{Policies: policies, KeyFunc: func(echo.Context) (string, error) {
			return "", errorsx.InvalidAPIKey()
		}})
		check(t, 0, a.do(t, nil), wantResp{status: 401, code: "invalid_api_key"})
	})
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSkipper(t *testing.T) {
	a := newApp(t, ratelimit.Config{
		Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
		Skipper:  func(c echo.Context) bool { return c.Request().Header.Get("X-Internal") == "1" },
	})
	internal := func(r *http.Request) { r.Header.Set("X-Internal", "1") }
	for i := range 3 {
		rec := a.do(t, internal)
		check(t, i, rec, wantResp{status: 200})
		if got := rec.Header().Get("RateLimit-Policy"); got != "" {
			t.Errorf("skipped request: got RateLimit-Policy %q, want none", got)
		}
	}
	check(t, 3, a.do(t, nil), wantResp{status: 200, rateLimit: `"default";r=0;t=1`})
}

// handler errors still carry the headers.
func TestHeadersOnHandlerErrors(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	mw := middleware.Must(ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 10, 20)}}))
	e.GET("/fail", func(echo.Context) error { return errorsx.NotFound() }, mw)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fail", nil))
	if rec.Code != 404 || rec.Header().Get("RateLimit") != `"default";r=19;t=1` || rec.Header().Get("RateLimit-Policy") == "" {
		t.Fatalf("got %d RateLimit %q RateLimit-Policy %q, want 404 with both headers", rec.Code,
			rec.Header().Get("RateLimit"), rec.Header().Get("RateLimit-Policy"))
	}
}

type failingStore struct{ err error }

func (f failingStore) Take(context.Context, string, []ratelimit.Policy, int64) (ratelimit.Result, error) {
	return ratelimit.Result{}, f.err
}

func TestStoreFailure(t *testing.T) {
	down := errors.New("dial tcp 10.0.0.7:6379: connection refused")
	for _, tc := range []struct {
		name       string
		failClosed bool
		want       wantResp
		calls      int64
		level      string
	}{
		{"fail_open_by_default", false, wantResp{status: 200}, 1, "WARN"},
		{"fail_closed", true, wantResp{status: 503, code: "service_unavailable"}, 0, "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := newApp(t, ratelimit.Config{
				Policies:   []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)},
				Store:      failingStore{down},
				FailClosed: tc.failClosed,
				Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
			})
			rec := a.do(t, nil)
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
			if !strings.Contains(logs.String(), "level="+tc.level) || !strings.Contains(logs.String(), "connection refused") {
				t.Errorf("got log %q, want a %s record with the cause", logs.String(), tc.level)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
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
			mw, err := ratelimit.New(ratelimit.Config{Policies: tc.policies})
			if err == nil || mw != nil {
				t.Fatalf("got (%v, %v), want (nil, an error)", mw != nil, err)
			}
			if !errors.Is(err, ratelimit.ErrInvalidPolicy) {
				t.Errorf("got error %v, want one wrapping ErrInvalidPolicy", err)
			}
		})
	}
}

// Many goroutines through a real Echo against one key at one instant: the
// burst passes exactly, everything else is 429 (run with -race).
func TestParallelLoad(t *testing.T) {
	a := newApp(t, ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("default", 1, 100), ratelimit.PerDay("daily", 150)}})
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				rec := a.do(t, func(r *http.Request) { r.RemoteAddr = fmt.Sprintf("192.0.2.%d:%d", 1+(g+i)%2, 1000+i) })
				switch rec.Code {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("got status %d", rec.Code)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 200 || limited.Load() != 440 {
		t.Fatalf("got %d allowed and %d limited, want 200 (100 per IP) and 440", ok.Load(), limited.Load())
	}
}
