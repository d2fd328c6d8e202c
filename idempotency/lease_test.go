package idempotency_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/guardtest"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The lease of these tests: long enough that a renewal every lease/3 is far
// from racing the clock under -race, short enough to wait past it.
const testLease = time.Second

// waitPending waits for the middleware's background work.
func waitPending(t *testing.T, p *idempotency.Pending) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("Pending.Wait: %v", err)
	}
}

// TestMain fails the run when a claim holder goroutine outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	deadline := time.Now().Add(5 * time.Second)
	for holders() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := holders(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d claim holder goroutines left after the tests\n", n)
		code = 1
	}
	os.Exit(code)
}

// holders counts the goroutines that keep a claim.
func holders() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "idempotency.(*holder).loop")
}

// recordKey is the store key of a request sent by do with tenant acme.
func recordKey(key string) string {
	return idempotency.RecordKey("tenant:acme", http.MethodPost, "/v1/generations", key)
}

// TestSlowHandlerKeepsItsClaim: a handler that runs longer than the lease
// runs once. A duplicate sent after the first lease would have ended gets
// 409 request_in_progress with Retry-After, and the replay once the handler
// is done.
func TestSlowHandlerKeepsItsClaim(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			t.Parallel()
			pending := new(idempotency.Pending)
			var calls atomic.Int32
			started, finish := make(chan struct{}), make(chan struct{})
			e := newApp(t, idempotency.Config{Store: sk.new(t), Lease: testLease, Pending: pending}, func(w http.ResponseWriter, r *http.Request) error {
				n := calls.Add(1)
				close(started)
				<-finish
				if err := r.Context().Err(); err != nil {
					return fmt.Errorf("handler context: %w (cause %v)", err, context.Cause(r.Context()))
				}
				return created(w, fmt.Sprintf(`{"id":"gen_%d"}`, n))
			})
			r := req{Key: "slow", Body: `{"prompt":"slow"}`, Tenant: "acme"}
			firstDone := make(chan *httptest.ResponseRecorder)
			go func() { firstDone <- do(e, r) }()
			<-started
			time.Sleep(testLease * 3 / 2) // the handler is now slower than the lease

			rec := do(e, r)
			if rec.Code != 409 || errorCode(t, rec) != "request_in_progress" {
				t.Fatalf("duplicate after one lease: got %d %s, want 409 request_in_progress", rec.Code, rec.Body)
			}
			if rec.Header().Get("Retry-After") == "" {
				t.Error("409 request_in_progress without Retry-After")
			}
			close(finish)
			first := <-firstDone
			if first.Code != 201 {
				t.Fatalf("first: got %d %s, want 201", first.Code, first.Body)
			}
			rec = do(e, r)
			if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.String() != first.Body.String() {
				t.Fatalf("after the handler: got %d %q replayed=%q, want the replay of %q", rec.Code, rec.Body, rec.Header().Get(idempotency.HeaderIdempotentReplayed), first.Body)
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("handler calls: got %d, want 1", got)
			}
			waitPending(t, pending)
		})
	}
}

// TestLostClaimCancelsHandler: when another request takes the key over
// while the handler runs, the handler's context is cancelled with cause
// ErrLeaseLost, its client still gets its answer, that answer is not
// stored over the new owner's record, and the loss is logged at Error.
func TestLostClaimCancelsHandler(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		store func(t *testing.T) (idempotency.Store, func(key string))
	}{
		{"memory, lease expired on the store's clock", func(t *testing.T) (idempotency.Store, func(string)) {
			clk := newFakeClock()
			s := newMemoryStore(t, idempotency.MemoryConfig{Now: clk.Now})
			return s, func(string) { clk.Advance(2 * testLease) }
		}},
		{"redis, record gone", func(t *testing.T) (idempotency.Store, func(string)) {
			rdb := redistest.Client(t)
			prefix := redistest.Prefix(t)
			s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return s, func(key string) { rdb.Del(ctx, prefix+key) }
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, expire := tc.store(t)
			logs := &logBuffer{}
			pending := new(idempotency.Pending)
			causes := make(chan error, 1)
			started := make(chan struct{})
			e := newApp(t, idempotency.Config{Store: store, Lease: testLease, Pending: pending, Logger: logs.logger()}, func(w http.ResponseWriter, r *http.Request) error {
				close(started)
				<-r.Context().Done()
				causes <- context.Cause(r.Context())
				return created(w, `{"id":"gen_stale"}`) // a handler that answers all the same
			})
			done := make(chan *httptest.ResponseRecorder)
			go func() { done <- do(e, req{Key: "k", Tenant: "acme"}) }()
			<-started
			rk := recordKey("k")
			expire(rk)
			taken, err := store.Claim(ctx, rk, "another request", time.Minute)
			if err != nil || !taken.Claimed {
				t.Fatalf("taking the key over: got %+v, %v", taken, err)
			}

			if cause := <-causes; cause != idempotency.ErrLeaseLost {
				t.Errorf("context.Cause: got %v, want ErrLeaseLost", cause)
			}
			if rec := <-done; rec.Code != 201 {
				t.Errorf("client of the cancelled handler: got %d, want its 201", rec.Code)
			}
			waitPending(t, pending)
			rec, ok, err := store.Get(ctx, rk)
			if err != nil || !ok || rec.State != idempotency.StateInProgress || rec.Token != taken.Token {
				t.Errorf("record: got %+v ok=%v %v, want the new owner's claim untouched", rec, ok, err)
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "response not stored") || !strings.Contains(l, "request_id=") {
				t.Errorf("log: got %q, want the lost response at Error with its request id", l)
			}
		})
	}
}

// redisOnPrivateServer returns a store on a private Redis the test may
// pause or kill, with short timeouts.
func redisOnPrivateServer(t *testing.T) (*redistest.Server, *redis.Client, idempotency.Store, string) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	prefix := redistest.Prefix(t)
	s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return srv, rdb, s, prefix
}

// TestStoreDownLongerThanLease: Redis frozen for longer than the lease
// while the handler runs; the claim cannot be renewed, so the handler's
// context is cancelled with cause ErrLeaseLost. This is the documented
// limit: the key is free again, and a retry runs the request again.
func TestStoreDownLongerThanLease(t *testing.T) {
	t.Parallel()
	srv, _, store, _ := redisOnPrivateServer(t)
	logs := &logBuffer{}
	pending := new(idempotency.Pending)
	var calls atomic.Int32
	causes := make(chan error, 1)
	e := newApp(t, idempotency.Config{Store: store, Lease: testLease, Pending: pending, Logger: logs.logger()}, func(w http.ResponseWriter, r *http.Request) error {
		if calls.Add(1) == 1 {
			srv.Pause(t)
			<-r.Context().Done()
			causes <- context.Cause(r.Context())
			srv.Resume(t)
			return r.Context().Err()
		}
		return created(w, `{}`)
	})
	r := req{Key: "k", Tenant: "acme"}
	if rec := do(e, r); rec.Code < 500 {
		t.Errorf("cancelled handler: got %d, want a 5xx", rec.Code)
	}
	if cause := <-causes; cause != idempotency.ErrLeaseLost {
		t.Errorf("context.Cause: got %v, want ErrLeaseLost", cause)
	}
	if !strings.Contains(logs.String(), "claim lost while the handler ran") {
		t.Errorf("log: got %q, want the lost claim logged", logs.String())
	}
	waitPending(t, pending)
	var rec *httptest.ResponseRecorder
	for range 5 { // the client redials after the freeze
		if rec = do(e, r); rec.Code != 503 {
			break
		}
	}
	if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "" {
		t.Errorf("retry: got %d replayed=%q, want a fresh 201", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
	}
	waitPending(t, pending)
}

// TestCommitSurvivesStoreBlip: Redis paused (SIGSTOP) or restarted empty,
// during the handler or during the commit, for less than the lease. The
// client gets its answer without waiting for Redis, duplicates get 409
// request_in_progress meanwhile, and once Redis is back the response is
// stored and replayed: the handler ran once.
func TestCommitSurvivesStoreBlip(t *testing.T) {
	const lease = 3 * time.Second
	type blip struct {
		name       string
		down, back func(t *testing.T, srv *redistest.Server)
	}
	blips := []blip{
		{"paused", func(t *testing.T, srv *redistest.Server) { srv.Pause(t) }, func(t *testing.T, srv *redistest.Server) { srv.Resume(t) }},
		{"restarted empty", func(t *testing.T, srv *redistest.Server) { srv.Kill() }, func(t *testing.T, srv *redistest.Server) { srv.Restart(t) }},
	}
	for _, b := range blips {
		for _, during := range []string{"handler", "commit"} {
			t.Run(b.name+" during the "+during, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				srv, rdb, store, prefix := redisOnPrivateServer(t)
				logs := &logBuffer{}
				pending := new(idempotency.Pending)
				var calls atomic.Int32
				started, finish := make(chan struct{}), make(chan struct{})
				e := newApp(t, idempotency.Config{Store: store, Lease: lease, Pending: pending, Logger: logs.logger()}, func(w http.ResponseWriter, r *http.Request) error {
					n := calls.Add(1)
					close(started)
					<-finish
					return created(w, fmt.Sprintf(`{"id":"gen_%d"}`, n))
				})
				r := req{Key: "k", Body: `{"prompt":"blip"}`, Tenant: "acme"}
				firstDone := make(chan *httptest.ResponseRecorder, 1)
				go func() { firstDone <- do(e, r) }()
				<-started
				b.down(t, srv)

				var first *httptest.ResponseRecorder
				if during == "handler" {
					// Down past a renewal (every lease/3), then back.
					time.Sleep(lease / 2)
					b.back(t, srv)
					// The claim is in Redis again (after a restart, the
					// holder claimed it again) before the duplicate.
					deadline := time.Now().Add(lease)
					for {
						if n, _ := rdb.Exists(ctx, prefix+recordKey("k")).Result(); n == 1 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatal("the claim did not come back to Redis")
						}
						time.Sleep(10 * time.Millisecond)
					}
					if rec := do(e, r); rec.Code != 409 || errorCode(t, rec) != "request_in_progress" {
						t.Fatalf("duplicate while the handler runs: got %d %s, want 409 request_in_progress", rec.Code, rec.Body)
					}
					close(finish)
					first = <-firstDone
				} else {
					close(finish)
					// The client has its answer while Redis is still down.
					first = <-firstDone
					if rec := do(e, r); rec.Code != 409 || errorCode(t, rec) != "request_in_progress" {
						t.Fatalf("duplicate while the commit is retried: got %d %s, want 409 request_in_progress", rec.Code, rec.Body)
					}
					b.back(t, srv)
				}
				if first.Code != 201 {
					t.Fatalf("first: got %d %s, want 201", first.Code, first.Body)
				}
				waitPending(t, pending)
				rec := do(e, r)
				if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" || rec.Body.String() != first.Body.String() {
					t.Fatalf("after the blip: got %d %q replayed=%q, want the replay of %q\nlog:\n%s", rec.Code, rec.Body, rec.Header().Get(idempotency.HeaderIdempotentReplayed), first.Body, logs)
				}
				if got := calls.Load(); got != 1 {
					t.Errorf("handler calls: got %d, want 1", got)
				}
				if strings.Contains(logs.String(), "level=ERROR") {
					t.Errorf("log has errors:\n%s", logs)
				}
			})
		}
	}
}

// TestRenewalCost measures the Redis round trips a claim costs while its
// handler runs: one renewal every lease/3, that is 3/lease per second per
// in-flight request (0.1/s with the default 30 s lease).
func TestRenewalCost(t *testing.T) {
	t.Parallel()
	const lease, hold = 300 * time.Millisecond, 1500 * time.Millisecond
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	rt := &guardtest.RoundTrips{}
	rdb.AddHook(rt)
	store, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	pending := new(idempotency.Pending)
	started := make(chan struct{})
	var during int64
	e := newApp(t, idempotency.Config{Store: store, Lease: lease, Pending: pending}, func(w http.ResponseWriter, r *http.Request) error {
		before := rt.N.Load()
		close(started)
		time.Sleep(hold) // the work
		during = rt.N.Load() - before
		return created(w, `{}`)
	})
	do(e, req{Key: "k", Tenant: "acme"})
	<-started
	waitPending(t, pending)
	perSecond := float64(during) / hold.Seconds()
	want := 3 / lease.Seconds()
	t.Logf("renewal round trips: %d in %v = %.1f/s per in-flight request (3/lease = %.1f/s; %.2f/s at the default 30 s lease)",
		during, hold, perSecond, want, 3/idempotency.DefaultLease.Seconds())
	if during == 0 || perSecond > 3*want {
		t.Errorf("renewal round trips: got %.1f/s, want about %.1f/s", perSecond, want)
	}
}
