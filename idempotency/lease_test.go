package idempotency_test

import (
	"context"
	"errors"
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
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/idemtest"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The lease of the tests where a claim is lost on purpose: the loss is
// found at the first renewal, lease/3 after the claim.
const testLease = time.Second

// keptLease is the lease of the tests where a claim must survive: a
// renewal every lease/3 leaves two seconds of slack against the stalls of
// a loaded machine under -race, and the tests wait past one lease.
const keptLease = 3 * time.Second

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
	deadline := time.Now().Add(10 * time.Second)
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
			e := newApp(t, idempotency.Config{Store: sk.new(t), Lease: keptLease, Pending: pending}, func(w http.ResponseWriter, r *http.Request) error {
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
			time.Sleep(keptLease + keptLease/6) // the handler is now slower than the lease

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
			taken := takeOver(t, store, rk, expire)

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

// takeOver makes key, claimed by a running handler, another request's:
// expire ends the handler's claim in the store, then the key is claimed.
// The handler's holder may renew in between and, finding its claim gone,
// claim the key again (see holder.reclaim); then expire and claim again.
func takeOver(t *testing.T, store idempotency.Store, key string, expire func(key string)) idempotency.ClaimResult {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		expire(key)
		taken, err := store.Claim(context.Background(), key, "another request", time.Minute)
		if err != nil {
			t.Fatalf("taking the key over: %v", err)
		}
		if taken.Claimed {
			return taken
		}
		if time.Now().After(deadline) {
			t.Fatalf("taking the key over: got %+v, want claimed", taken)
		}
	}
}

// storeCallTimeout bounds each call to a private Redis: a paused server
// fails a call after it, and a live one answers far within it even on a
// loaded machine.
const storeCallTimeout = time.Second

// redisOnPrivateServer returns a store on a private Redis the test may
// pause or kill, and the store's client. The client honours the context's
// deadline, so each store call is bounded by storeCallTimeout (and a
// holder's calls by the end of its lease); failures counts the calls that
// failed.
func redisOnPrivateServer(t *testing.T) (srv *redistest.Server, rdb *redis.Client, store idempotency.Store, prefix string, failures *atomic.Int32) {
	t.Helper()
	srv = redistest.Start(t)
	rdb = redis.NewClient(&redis.Options{
		Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	failures = new(atomic.Int32)
	rdb.AddHook(failureHook{failures})
	prefix = redistest.Prefix(t)
	s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix, Timeout: storeCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return srv, rdb, s, prefix, failures
}

// failureHook counts the Redis commands that fail (a missing key, redis.Nil,
// is an answer, not a failure).
type failureHook struct{ n *atomic.Int32 }

func (failureHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h failureHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && !errors.Is(err, redis.Nil) {
			h.n.Add(1)
		}
		return err
	}
}

func (h failureHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil && !errors.Is(err, redis.Nil) {
			h.n.Add(1)
		}
		return err
	}
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreDownLongerThanLease: Redis frozen for longer than the lease
// while the handler runs; the claim cannot be renewed, so the handler's
// context is cancelled with cause ErrLeaseLost. This is the documented
// limit: the key is free again, and a retry runs the request again.
func TestStoreDownLongerThanLease(t *testing.T) {
	t.Parallel()
	srv, rdb, store, prefix, _ := redisOnPrivateServer(t)
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
	waitPending(t, pending) // the holder logs the loss after it cancels the handler
	if !strings.Contains(logs.String(), "claim lost while the handler ran") {
		t.Errorf("log: got %q, want the lost claim logged", logs.String())
	}
	// The record ends with its lease in Redis too: just after the holder
	// gave up (the lease began in Redis a round trip after claimedAt), or a
	// lease later when Redis, resumed, runs a renewal sent during the
	// freeze. A record that never ends fails here.
	waitFor(t, "the lost claim's record to end", func() bool {
		n, err := rdb.Exists(context.Background(), prefix+recordKey("k")).Result()
		return err == nil && n == 0
	})
	var rec *httptest.ResponseRecorder
	deadline := time.Now().Add(10 * time.Second)
	for { // the client redials after the freeze
		if rec = do(e, r); rec.Code != 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
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
	// Down until the first renewal (lease/3) has failed, after at most
	// storeCallTimeout, then back: the claim is renewed again with about
	// three seconds of its lease left.
	const lease = 6 * time.Second
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
				srv, rdb, store, prefix, failures := redisOnPrivateServer(t)
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
				failed := failures.Load()
				b.down(t, srv)

				var first *httptest.ResponseRecorder
				if during == "handler" {
					// Down until a renewal (lease/3 after the claim) has
					// failed, then back.
					waitFor(t, "a renewal to fail", func() bool { return failures.Load() > failed })
					b.back(t, srv)
					// The claim is in Redis again (after a restart, the
					// holder claimed it again) before the duplicate.
					waitFor(t, "the claim to come back to Redis", func() bool {
						n, _ := rdb.Exists(ctx, prefix+recordKey("k")).Result()
						return n == 1
					})
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
	// About four renewals during the work. The lease leaves a second of
	// slack after each renewal is due: a holder stalled past its lease
	// would lose the claim without a round trip, and count none.
	const lease, hold = 1500 * time.Millisecond, 2 * time.Second
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	rt := &idemtest.RoundTrips{}
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
