package redisstore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/clipia/apiguard/middleware/nethttp"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/concstoretest"
	"github.com/clipia/apiguard/ratelimit/redisstore"
	"github.com/clipia/apiguard/ratelimit/storetest"
	"github.com/redis/go-redis/v9"
)

func newConcStore(t testing.TB, c redis.UniversalClient, now func() time.Time) *redisstore.ConcurrencyStore {
	t.Helper()
	s, err := redisstore.NewConcurrency(c, redisstore.ConcurrencyConfig{Prefix: redistest.Prefix(t), Now: now, Timeout: storeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runConcurrencyBehaviour(t *testing.T, c redis.UniversalClient) {
	concstoretest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.ConcurrencyStore {
		return newConcStore(t, c, now)
	})
}

func TestConcurrencyStoreBehaviour(t *testing.T) {
	runConcurrencyBehaviour(t, redistest.Client(t))
}

func TestConcurrencyStoreClusterBehaviour(t *testing.T) {
	addrs := os.Getenv(envClusterAddrs)
	if addrs == "" {
		t.Skipf("%s not set: no Redis Cluster to run against", envClusterAddrs)
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { _ = client.Close() })
	runConcurrencyBehaviour(t, client)
}

// The slots of one caller are one key whose hash tag is the whole caller
// key, and it expires when its last lease ends (on the Redis clock).
func TestConcurrencyKeyAndExpiry(t *testing.T) {
	c := redistest.Client(t)
	s := newConcStore(t, c, nil)
	ctx := context.Background()
	key := s.Key("inflight:tenant:acme")
	if tag := hashTag(key); tag != "inflight:tenant:acme" {
		t.Fatalf("key %q has hash tag %q, want the caller key", key, tag)
	}
	if got := s.Key("a}b"); hashTag(got) != "a" || !strings.HasSuffix(got, "{a}b}") {
		t.Errorf("got key %q for a caller key with a brace", got) // the tag is still never empty
	}
	// Leases of 20s and 60s: the PTTL read after a store call is within
	// 10s or 40s of them however long the machine stalls in between.
	res, err := s.Acquire(ctx, "inflight:tenant:acme", 2, 20*time.Second)
	if err != nil || !res.Acquired {
		t.Fatalf("Acquire: %+v %v", res, err)
	}
	ttl := c.PTTL(ctx, key).Val()
	if ttl <= 10*time.Second || ttl > 20*time.Second+10*time.Millisecond {
		t.Errorf("got PTTL %v, want about the lease (20s)", ttl)
	}
	if err := s.Renew(ctx, "inflight:tenant:acme", res.Token, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, key).Val(); ttl <= 40*time.Second || ttl > 60*time.Second+10*time.Millisecond {
		t.Errorf("after a renewal to 60s: got PTTL %v", ttl)
	}
	if err := s.Release(ctx, "inflight:tenant:acme", res.Token); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, key).Val(); n != 0 {
		t.Errorf("the key outlives its last slot")
	}
}

// With a supplied clock, a caller's slots are kept on the Redis clock
// however long the test takes: the clock standing still, a 10 ms lease
// taken 50 ms ago (on the Redis clock) still holds the only slot.
func TestConcurrencySuppliedClockKeepsTheSlots(t *testing.T) {
	c := redistest.Client(t)
	var clock storetest.Clock
	s := newConcStore(t, c, clock.Now)
	ctx := context.Background()
	if res, err := s.Acquire(ctx, "k", 1, 10*time.Millisecond); err != nil || !res.Acquired {
		t.Fatalf("first Acquire: %+v %v", res, err)
	}
	time.Sleep(50 * time.Millisecond) // on the Redis clock only
	if res, err := s.Acquire(ctx, "k", 1, 10*time.Millisecond); err != nil || res.Acquired {
		t.Errorf("Acquire 50ms later on the Redis clock, none on the store's: got %+v %v, want refused", res, err)
	}
	clock.Advance(11 * time.Millisecond)
	if res, err := s.Acquire(ctx, "k", 1, 10*time.Millisecond); err != nil || !res.Acquired {
		t.Errorf("Acquire once the lease ended on the store's clock: got %+v %v, want acquired", res, err)
	}
}

func TestNewConcurrencyRejectsBadConfig(t *testing.T) {
	c := redistest.Client(t)
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		cfg  redisstore.ConcurrencyConfig
	}{
		{"nil_client", nil, redisstore.ConcurrencyConfig{}},
		{"negative_timeout", c, redisstore.ConcurrencyConfig{Timeout: -1}},
		{"brace_in_prefix", c, redisstore.ConcurrencyConfig{Prefix: "app:{x}:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := redisstore.NewConcurrency(tc.rdb, tc.cfg); err == nil || s != nil {
				t.Fatalf("got (%v, %v), want an error", s, err)
			}
		})
	}
}

// envConcHelper makes TestConcurrencyHelperProcess take a slot and hold it
// until it is killed: "addr prefix key lease".
const envConcHelper = "APIGUARD_CONCURRENCY_HELPER"

// TestConcurrencyHelperProcess is not a test: TestConcurrencySlotOfKilledProcess
// runs the test binary as a child process that takes one slot through the
// guard, says "acquired", and keeps its slot renewed until it is killed.
func TestConcurrencyHelperProcess(t *testing.T) {
	spec := os.Getenv(envConcHelper)
	if spec == "" {
		t.Skip("the helper process of TestConcurrencySlotOfKilledProcess")
	}
	var addr, prefix, key, leaseText string
	if _, err := fmt.Sscan(spec, &addr, &prefix, &key, &leaseText); err != nil {
		fmt.Println("bad spec:", err)
		os.Exit(2)
	}
	lease, err := time.ParseDuration(leaseText)
	if err != nil {
		fmt.Println("bad lease:", err)
		os.Exit(2)
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	s, err := redisstore.NewConcurrency(c, redisstore.ConcurrencyConfig{Prefix: prefix, Timeout: storeTimeout})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	g, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{
		Limit: 1, Lease: lease, Store: s, KeyFunc: func(*http.Request) (string, error) { return key, nil },
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	if _, err := g.Acquire(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil), "/"); err != nil {
		fmt.Println("acquire:", err)
		os.Exit(2)
	}
	fmt.Println("acquired")
	time.Sleep(time.Hour) // the guard's timer renews the slot meanwhile
}

// A process that holds a slot keeps it renewed for as long as it runs; when
// it is killed (SIGKILL: no release), its slot frees itself within one
// lease.
//
// The lease (3s, renewed every second) lets the child stall for 2s without
// losing its slot. After the kill, the bounds come from the slot itself:
// its end, read from the key's PTTL, and the times around each store call,
// not from when the child's last renewal should have run.
func TestConcurrencySlotOfKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps for a few leases")
	}
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	const key = "inflight:tenant:victim" // the child's guard adds its Name
	const lease = 3 * time.Second

	cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrencyHelperProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %s", envConcHelper, addr, prefix, "tenant:victim", lease))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.Contains(l, "acquired") || strings.Contains(l, ":") {
				line <- l
				return
			}
		}
		line <- "no output"
	}()
	select {
	case l := <-line:
		if l != "acquired" {
			t.Fatalf("child process: %s", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the child process did not take its slot")
	}

	c := redistest.Client(t)
	s := newConcStoreWithPrefix(t, c, prefix)
	ctx := context.Background()
	refused := func(when string) {
		t.Helper()
		res, err := s.Acquire(ctx, key, 1, lease)
		if err != nil {
			t.Fatal(err)
		}
		if res.Acquired {
			t.Fatalf("%s: got a slot, want the child's slot to count", when)
		}
	}
	refused("while the child runs")
	time.Sleep(lease + lease/3) // past the first lease; the child renews every lease/3
	refused("a lease later, the child still running")

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	refused("right after the kill")
	// The slot's lease ends at until: it was renewed before the kill, for
	// one lease at most.
	asked := time.Now()
	ttl, err := c.PTTL(ctx, s.Key(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > lease+10*time.Millisecond {
		t.Fatalf("right after the kill: got PTTL %v, want the rest of a lease (%v at most)", ttl, lease)
	}
	// The key lives 1ms longer than its last slot; Redis counts whole
	// milliseconds on the wall clock: 10ms cover both.
	until := asked.Add(ttl - 10*time.Millisecond)
	for {
		sent := time.Now()
		res, err := s.Acquire(ctx, key, 1, lease)
		if err != nil {
			t.Fatal(err)
		}
		if res.Acquired {
			if got := time.Now(); got.Before(until) {
				t.Errorf("the slot freed %v after the kill, %v before its lease ended", got.Sub(killed), until.Sub(got))
			}
			break
		}
		// Asked after the kill plus a lease (and a second for the clocks),
		// the slot must have ended.
		if sent.Sub(killed) > lease+time.Second {
			t.Fatalf("the killed process's slot still counts %v after the kill (lease %v)", sent.Sub(killed), lease)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func newConcStoreWithPrefix(t *testing.T, c redis.UniversalClient, prefix string) *redisstore.ConcurrencyStore {
	t.Helper()
	s, err := redisstore.NewConcurrency(c, redisstore.ConcurrencyConfig{Prefix: prefix, Timeout: storeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// renewCounter counts the renewals of a store that succeeded, and hands
// the store a context without the guard's short renewal deadline (Lease/3).
type renewCounter struct {
	ratelimit.ConcurrencyStore
	renewed atomic.Int64
}

func (s *renewCounter) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	err := s.ConcurrencyStore.Renew(context.WithoutCancel(ctx), key, token, lease)
	if err == nil {
		s.renewed.Add(1)
	}
	return err
}

// Two app instances share one Redis: the limit holds across them, and a
// slow handler keeps its slot through renewals.
//
// Leases end on a fake clock both stores share, moved by 2/3 of a lease
// only after two renewals completed since its last move (the second one
// started after it): a real lease of 300ms ran out when a loaded machine
// delayed a renewal by 200ms. TestConcurrencySlotOfKilledProcess covers
// renewals on the Redis clock.
func TestConcurrencyTwoInstancesAndRenewal(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t)
	clock := &storetest.Clock{}
	const lease = 300 * time.Millisecond
	entered, finish := make(chan struct{}), make(chan struct{})
	app := func(store ratelimit.ConcurrencyStore) http.Handler {
		c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 1, Lease: lease, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		mw := nethttp.Use(c)
		mux := http.NewServeMux()
		mux.Handle("GET /slow", mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-finish
		})))
		mux.Handle("GET /fast", mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
		return nethttp.Install(mux, nethttp.Config{})
	}
	newStore := func() *renewCounter {
		s, err := redisstore.NewConcurrency(c, redisstore.ConcurrencyConfig{Prefix: prefix, Now: clock.Now, Timeout: storeTimeout})
		if err != nil {
			t.Fatal(err)
		}
		return &renewCounter{ConcurrencyStore: s}
	}
	storeA := newStore()
	a, b := app(storeA), app(newStore())
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = "192.0.2.1:1"
		h.ServeHTTP(rec, req)
		return rec
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- get(a, "/slow") }()
	<-entered
	for i := range 6 { // 4 leases on the stores' clock
		n := storeA.renewed.Load()
		for deadline := time.Now().Add(20 * time.Second); storeA.renewed.Load() < n+2; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("step %d: the slow request's slot was not renewed twice in 20s", i)
			}
		}
		clock.Advance(2 * lease / 3)
		if rec := get(b, "/fast"); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("other instance %v into the slow request: got %d Retry-After %q, want 429 and 1",
				time.Duration(i+1)*2*lease/3, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	close(finish)
	if rec := <-done; rec.Code != http.StatusOK || rec.Header().Get("RateLimit") != `"inflight";r=0` {
		t.Fatalf("slow request: got %d RateLimit %q", rec.Code, rec.Header().Get("RateLimit"))
	}
	if rec := get(b, "/fast"); rec.Code != http.StatusOK {
		t.Fatalf("after the slow request: got %d, want 200", rec.Code)
	}
}

// With Redis down, the guard fails open (runs the handler, logs a warning)
// or, with FailClosed, answers 503; never 429.
func TestConcurrencyRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failClosed bool
		code       int
		level      string
	}{
		{"fail_open", false, http.StatusOK, "WARN"},
		{"fail_closed", true, http.StatusServiceUnavailable, "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			c := patientClient(t, srv)
			var logs bytes.Buffer
			conc, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{
				Limit: 1, Store: newConcStore(t, c, nil), FailClosed: tc.failClosed,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle("GET /r", nethttp.Use(conc)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })))
			h := nethttp.Install(mux, nethttp.Config{Errors: errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/r", nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("Redis up: got %d", rec.Code)
			}
			srv.Kill()
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/r", nil))
			if rec.Code != tc.code {
				t.Fatalf("Redis down: got %d %s, want %d", rec.Code, rec.Body, tc.code)
			}
			if log := logs.String(); !strings.Contains(log, "level="+tc.level) || !strings.Contains(log, "concurrency store failed") {
				t.Errorf("got log %q, want a %s record", log, tc.level)
			}
		})
	}
}
