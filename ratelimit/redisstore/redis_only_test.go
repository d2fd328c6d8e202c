package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/middleware/echo4"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
)

func newStore(t *testing.T, c redis.UniversalClient, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = redistest.Prefix(t)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = storeTimeout
	}
	s, err := redisstore.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var modes = []struct {
	name string
	cfg  redisstore.Config
}{
	{"batched", redisstore.Config{}},
	{"unbatched", redisstore.Config{MaxBatch: 1}},
}

// With the server clock (no Now), the bucket key holds the TAT and expires
// exactly when the bucket is full again.
func TestServerTimeAndExpiry(t *testing.T) {
	c := redistest.Client(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newStore(t, c, m.cfg)
			ctx := context.Background()
			hour := ratelimit.Policy{Name: "hourly", Rate: 1, Period: time.Hour, Burst: 2}
			r, err := s.Take(ctx, "alice", []ratelimit.Policy{hour}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Allowed || r.Remaining != 1 || r.ResetAfter != time.Hour {
				t.Fatalf("first take: got %+v, want allowed, 1 left, full in 1h", r)
			}
			pttl, err := c.PTTL(ctx, s.Key("alice", hour)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if pttl <= 59*time.Minute || pttl > time.Hour {
				t.Errorf("got PTTL %v, want the time until full (1h)", pttl)
			}
			if _, err := s.Take(ctx, "alice", []ratelimit.Policy{hour}, 1); err != nil {
				t.Fatal(err)
			}
			r, err = s.Take(ctx, "alice", []ratelimit.Policy{hour}, 1)
			if err != nil {
				t.Fatal(err)
			}
			// Server time moves on between calls: the wait is a shade under 1h.
			if r.Allowed || r.RetryAfter <= 59*time.Minute || r.RetryAfter > time.Hour {
				t.Fatalf("third take: got %+v, want refused with RetryAfter just under 1h", r)
			}
			pttl, _ = c.PTTL(ctx, s.Key("alice", hour)).Result()
			if pttl <= 119*time.Minute || pttl > 2*time.Hour {
				t.Errorf("after two takes got PTTL %v, want about 2h", pttl)
			}
			// A refused take writes nothing; a cost-0 peek creates no key.
			if _, err := s.Take(ctx, "bob", []ratelimit.Policy{hour}, 0); err != nil {
				t.Fatal(err)
			}
			if n, _ := c.Exists(ctx, s.Key("bob", hour)).Result(); n != 0 {
				t.Errorf("a peek created the key of a full bucket")
			}
		})
	}
}

// Every key of one request carries the caller's hash tag, so that a Redis
// Cluster puts them in one slot, whatever the caller key contains.
func TestKeysShareOneHashTag(t *testing.T) {
	s := newStore(t, redistest.Client(t), redisstore.Config{Prefix: "rl:"})
	for _, key := range []string{"alice", "", "a{b}c", "}x{", "ip:2001:db8::1", "{}"} {
		var tags []string
		for _, name := range []string{"second", "day", "a.b-c_9"} {
			k := s.Key(key, ratelimit.PerSecond(name, 1, 1))
			tags = append(tags, hashTag(k))
		}
		for _, tag := range tags {
			if tag == "" || tag != tags[0] {
				t.Errorf("caller %q: got hash tags %q, want one non-empty tag", key, tags)
				break
			}
		}
	}
	if got, want := s.Key("alice", ratelimit.PerSecond("", 1, 1)), "rl:{k:alice}:default"; got != want {
		t.Errorf("got key %q, want %q", got, want)
	}
}

// hashTag is the part of k that Redis Cluster hashes ("" = the whole key).
func hashTag(k string) string {
	i := strings.IndexByte(k, '{')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(k[i+1:], '}')
	if j <= 0 {
		return ""
	}
	return k[i+1 : i+1+j]
}

// patientClient is a client of the private server srv like srv.Client,
// without its short timeouts (200ms to dial, 500ms to read), which a loaded
// machine reaches while the server is up. A killed server still fails at
// once: the dial is refused.
func patientClient(t *testing.T, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// With a supplied clock, a bucket is kept on the Redis clock however long
// the test takes between two requests: the clock standing still, an empty
// bucket stays empty (Redis would otherwise expire the key after the
// bucket's refill time, 10 ms here, on its own clock).
func TestSuppliedClockKeepsTheBucket(t *testing.T) {
	c := redistest.Client(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var clock storetest.Clock
			cfg := m.cfg
			cfg.Now = clock.Now
			s := newStore(t, c, cfg)
			ctx := context.Background()
			p := []ratelimit.Policy{ratelimit.PerSecond("fast", 100, 1)}
			charge := []ratelimit.Policy{ratelimit.PerSecond("charged", 100, 1)}
			if r, err := s.Take(ctx, "k", p, 1); err != nil || !r.Allowed {
				t.Fatalf("first take: got %+v, %v; want allowed", r, err)
			}
			if err := s.Charge(ctx, "k", charge, 1); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // on the Redis clock only
			if r, err := s.Take(ctx, "k", p, 1); err != nil || r.Allowed {
				t.Errorf("take 50ms later on the Redis clock, none on the store's: got %+v, %v; want refused", r, err)
			}
			if r, err := s.Take(ctx, "k", charge, 1); err != nil || r.Allowed {
				t.Errorf("take after a charge: got %+v, %v; want refused", r, err)
			}
			if n, err := c.PTTL(ctx, s.Key("k", p[0])).Result(); err != nil || n < 59*time.Minute {
				t.Errorf("bucket key PTTL: got %v, %v; want about an hour", n, err)
			}
		})
	}
}

// After SCRIPT FLUSH the store falls back to EVAL and goes on.
func TestNoScriptFallback(t *testing.T) {
	srv := redistest.Start(t)
	c := patientClient(t, srv)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newStore(t, c, m.cfg)
			p := []ratelimit.Policy{ratelimit.PerSecond("default", 1, 3)}
			for i := range 3 {
				if err := c.ScriptFlush(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
				r, err := s.Take(context.Background(), "k", p, 1)
				if err != nil {
					t.Fatalf("take %d after SCRIPT FLUSH: %v", i, err)
				}
				if !r.Allowed || r.Remaining != int64(2-i) {
					t.Fatalf("take %d: got %+v, want allowed with %d left (the script ran once)", i, r, 2-i)
				}
			}
		})
	}
}

// A script whose reply times out is never re-sent (it may have run). A
// proxy in front of a real Redis swallows every script run while
// "blackholed", so the client times out (read timeout 1s, 5 retries allowed
// by the client, room for 4 of them in the store's Timeout); the proxy
// counts how often the script was sent. (A read timeout of 100ms failed the
// first, unswallowed take on a loaded machine.)
func TestNoResendAfterTimeout(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			px := newProxy(t, redistest.Addr(t))
			c := redis.NewClient(&redis.Options{Addr: px.addr, MaxRetries: 5, ReadTimeout: time.Second,
				MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond})
			t.Cleanup(func() { _ = c.Close() })
			cfg := m.cfg
			cfg.Timeout = 5 * time.Second
			s := newStore(t, c, cfg)
			p := []ratelimit.Policy{ratelimit.PerMinute("default", 1, 10)}
			ctx := context.Background()
			if _, err := s.Take(ctx, "k", p, 0); err != nil {
				t.Fatal(err)
			}
			px.blackhole.Store(true)
			if _, err := s.Take(ctx, "k", p, 1); err == nil {
				t.Fatal("take with the reply lost: got no error")
			}
			if got := px.swallowed.Load(); got != 1 {
				t.Fatalf("the script was sent %d times, want exactly once (never re-sent after a timeout)", got)
			}
		})
	}
}

// proxy forwards TCP between clients and a Redis server; while blackhole is
// set it drops (and counts) client writes that carry a script run.
type proxy struct {
	addr      string
	blackhole atomic.Bool
	swallowed atomic.Int64
}

func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); conns.Wait() })
	go func() {
		for {
			cl, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = cl.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); _, _ = io.Copy(cl, up); _ = cl.Close() }()
			go func() {
				defer conns.Done()
				defer up.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := cl.Read(buf)
					if n > 0 {
						chunk := bytes.ToLower(buf[:n])
						if p.blackhole.Load() && bytes.Contains(chunk, []byte("eval")) {
							p.swallowed.Add(int64(bytes.Count(chunk, []byte("eval"))))
						} else if _, werr := up.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func TestCloseFailsLaterTakes(t *testing.T) {
	s := newStore(t, redistest.Client(t), redisstore.Config{})
	_ = s.Close()
	_ = s.Close()
	if _, err := s.Take(context.Background(), "k", []ratelimit.Policy{ratelimit.PerSecond("d", 1, 1)}, 1); !errors.Is(err, redisstore.ErrClosed) {
		t.Fatalf("Take after Close: got %v, want ErrClosed", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := redisstore.New(nil, redisstore.Config{}); err == nil {
		t.Error("New(nil client): got no error")
	}
	for _, cfg := range []redisstore.Config{{Timeout: -1}, {MaxBatch: -1}, {Pipelines: -1}, {Prefix: "a{b}:"}, {Prefix: "{"}} {
		if _, err := redisstore.New(redistest.Client(t), cfg); err == nil {
			t.Errorf("New(%+v): got no error", cfg)
		}
	}
}

// echoApp is one server instance: its own Echo, renderer, middleware and
// store, on a shared Redis; now nil means the Redis clock. The store's
// Timeout (2s) is one a loaded machine does not reach while Redis is up.
func echoApp(t *testing.T, c redis.UniversalClient, prefix string, now func() time.Time, failClosed bool, logs *bytes.Buffer) *echo.Echo {
	t.Helper()
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	store := newStore(t, c, redisstore.Config{Prefix: prefix, Now: now, Timeout: 2 * time.Second})
	e := echo.New()
	echo4.Install(e, echo4.Config{Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}})
	limiter, err := ratelimit.New(ratelimit.Config{
		Policies:   []ratelimit.Policy{ratelimit.PerMinute("default", 1, 5)},
		Store:      store,
		FailClosed: failClosed,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.GET("/r", func(c echo.Context) error { return c.String(http.StatusOK, "ok") }, echo4.Use(limiter))
	return e
}

func get(e *echo.Echo) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/r", nil)
	req.RemoteAddr = "192.0.2.1:999"
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// Both instances read one fake clock that stands still: on the Redis
// clock, a second's stall between the eight requests changed the headers'
// t (a refill is one a minute, t is rounded up to seconds).
func TestTwoInstancesShareOneBucket(t *testing.T) {
	prefix := redistest.Prefix(t)
	var clock storetest.Clock
	a := echoApp(t, redistest.Client(t), prefix, clock.Now, false, nil)
	b := echoApp(t, redistest.Client(t), prefix, clock.Now, false, nil)
	var got []string
	for i := range 8 {
		e := a
		if i%2 == 1 {
			e = b
		}
		rec := get(e)
		got = append(got, fmt.Sprintf("%d %s", rec.Code, rec.Header().Get("RateLimit")))
	}
	want := []string{
		`200 "default";r=4;t=60`, `200 "default";r=3;t=60`, `200 "default";r=2;t=60`,
		`200 "default";r=1;t=60`, `200 "default";r=0;t=60`,
		`429 "default";r=0;t=60`, `429 "default";r=0;t=60`, `429 "default";r=0;t=60`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("alternating between two instances:\n got %q\nwant %q", got, want)
	}
}

func TestRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failClosed bool
		status     int
		level      string
	}{
		{"fail_open", false, 200, "level=WARN"},
		{"fail_closed", true, 503, "level=ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			var logs bytes.Buffer
			e := echoApp(t, patientClient(t, srv), redistest.Prefix(t), nil, tc.failClosed, &logs)
			if rec := get(e); rec.Code != 200 || rec.Header().Get("RateLimit") != `"default";r=4;t=60` {
				t.Fatalf("with Redis up: got %d %q", rec.Code, rec.Header().Get("RateLimit"))
			}
			srv.Kill()
			for i := range 3 {
				start := time.Now()
				rec := get(e)
				if rec.Code != tc.status {
					t.Fatalf("request %d with Redis down: got status %d (%s), want %d", i, rec.Code, rec.Body, tc.status)
				}
				if rec.Code == 503 && !strings.Contains(rec.Body.String(), `"code":"service_unavailable"`) {
					t.Errorf("got body %s, want service_unavailable", rec.Body)
				}
				if rec.Header().Get("RateLimit") != "" || rec.Header().Get("RateLimit-Policy") != `"default";q=5;w=300` {
					t.Errorf("got RateLimit %q, RateLimit-Policy %q: want no RateLimit, the policy still announced",
						rec.Header().Get("RateLimit"), rec.Header().Get("RateLimit-Policy"))
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("request %d took %v with Redis down, want it bounded by the store timeout", i, d)
				}
			}
			if !strings.Contains(logs.String(), tc.level) {
				t.Errorf("got log %q, want %s records", logs.String(), tc.level)
			}
			srv.Restart(t)
			// Data died with the server: the bucket starts full again.
			var rec *httptest.ResponseRecorder
			for range 50 { // the pool redials on demand; allow a few attempts
				if rec = get(e); rec.Header().Get("RateLimit") != "" {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if rec.Code != 200 || rec.Header().Get("RateLimit") != `"default";r=4;t=60` {
				t.Fatalf("after restart: got %d %q", rec.Code, rec.Header().Get("RateLimit"))
			}
		})
	}
}

// Parallel load through both modes against one key: exactly the burst
// passes (run with -race).
func TestParallelTakes(t *testing.T) {
	c := redistest.Client(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newStore(t, c, m.cfg)
			p := []ratelimit.Policy{ratelimit.PerMinute("default", 1, 100)}
			var mu sync.Mutex
			allowed := 0
			var wg sync.WaitGroup
			for range 25 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 10 {
						r, err := s.Take(context.Background(), "hot", p, 1)
						if err != nil {
							t.Error(err)
							return
						}
						if r.Allowed {
							mu.Lock()
							allowed++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			if allowed != 100 {
				t.Fatalf("250 parallel takes: got %d allowed, want 100", allowed)
			}
		})
	}
}

// When Redis stops answering, batched decisions fail within Timeout, whatever
// the client's ReadTimeout (2s here): the queue is bounded (excess fails at
// once with ErrOverloaded) and each caller waits at most Timeout.
func TestBatchingIsBounded(t *testing.T) {
	px := newProxy(t, redistest.Addr(t))
	c := redis.NewClient(&redis.Options{Addr: px.addr, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	const timeout = 200 * time.Millisecond
	s := newStore(t, c, redisstore.Config{Timeout: timeout, MaxBatch: 2, Pipelines: 1})
	p := []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)}
	if _, err := s.Take(context.Background(), "warm", p, 0); err != nil {
		t.Fatal(err)
	}
	px.blackhole.Store(true)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Take(context.Background(), fmt.Sprint("k", i), p, 1)
			errs <- err
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	overloaded := 0
	for err := range errs {
		if err == nil {
			t.Fatal("a decision succeeded while Redis swallowed every script")
		}
		if errors.Is(err, redisstore.ErrOverloaded) {
			overloaded++
		}
	}
	if overloaded == 0 {
		t.Error("40 decisions on a queue of 8: got no ErrOverloaded")
	}
	// A caller waiting for the client's ReadTimeout (2s) instead would take
	// longer than this bound, which leaves 1.5s for the scheduler.
	if elapsed > timeout+1500*time.Millisecond {
		t.Errorf("the decisions took %v to fail, want about Timeout (%v)", elapsed, timeout)
	}
}
