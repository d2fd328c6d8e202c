package idempotency_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/redisstore"
	"github.com/clipia/apiguard/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// hammer sends n identical requests at once, spread over the Echo
// instances, and checks that the handler ran exactly once and that every
// other answer is a replay of the same response or request_in_progress.
// It closes overlapped when a duplicate found the handler running (see
// slowHandler).
func hammer(t *testing.T, n int, apps []http.Handler, calls *atomic.Int32, overlapped chan struct{}) {
	t.Helper()
	type answer struct {
		code     int
		body     string
		replayed bool
		errCode  string
	}
	answers := make([]answer, n)
	start := make(chan struct{})
	var overlap sync.Once
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			// Spread the arrivals over about twice the handler's time, so
			// that early duplicates find it running and late ones find it
			// done.
			time.Sleep(time.Duration(i) * time.Millisecond)
			rec := do(apps[i%len(apps)], req{Key: "dup-key", Body: `{"prompt":"one generation please"}`, Tenant: "acme"})
			a := answer{code: rec.Code, body: rec.Body.String(), replayed: rec.Header().Get(idempotency.HeaderIdempotentReplayed) == "true"}
			if rec.Code >= 400 {
				a.errCode = errorCode(t, rec)
			}
			if a.code == 409 && a.errCode == "request_in_progress" {
				overlap.Do(func() { close(overlapped) })
			}
			answers[i] = a
		})
	}
	close(start)
	wg.Wait()

	if got := calls.Load(); got != 1 {
		t.Fatalf("handler calls: got %d, want exactly 1", got)
	}
	var fresh, replays, inProgress int
	var body string
	for i, a := range answers {
		switch {
		case a.code == 201 && !a.replayed:
			fresh++
			body = a.body
		case a.code == 201 && a.replayed:
			replays++
		case a.code == 409 && a.errCode == "request_in_progress":
			inProgress++
		default:
			t.Errorf("answer %d: got %d %q (replayed %v), want 201 or 409 request_in_progress", i, a.code, a.body, a.replayed)
		}
	}
	if fresh != 1 {
		t.Errorf("fresh answers: got %d, want 1", fresh)
	}
	for i, a := range answers {
		if a.code == 201 && a.body != body {
			t.Errorf("answer %d: body %q differs from the original %q", i, a.body, body)
		}
	}
	t.Logf("fresh %d, replays %d, request_in_progress %d", fresh, replays, inProgress)
	if inProgress == 0 {
		t.Errorf("request_in_progress answers: got 0; the duplicates did not overlap the handler")
	}
}

// slowHandler is the handler of hammer: it works for 50 ms, and then
// until a duplicate has found it running (overlapped closed), which a
// loaded machine may delay past the 50 ms; a guard that never answers
// request_in_progress fails hammer after 10 s.
func slowHandler(calls *atomic.Int32, overlapped <-chan struct{}) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		n := calls.Add(1)
		time.Sleep(50 * time.Millisecond) // the work; duplicates arrive meanwhile
		select {
		case <-overlapped:
		case <-time.After(10 * time.Second):
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, err := fmt.Fprintf(w, `{"id":"gen_%d"}`, n)
		return err
	}
}

func TestConcurrentDuplicatesRunOnce(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			var calls atomic.Int32
			overlapped := make(chan struct{})
			pending := new(idempotency.Pending)
			e := newApp(t, idempotency.Config{Store: sk.new(t), Pending: pending}, slowHandler(&calls, overlapped))
			hammer(t, 100, []http.Handler{e}, &calls, overlapped)
			// Afterwards everything is a replay, once the response is
			// stored (the client may have had it first, see commitWait).
			waitPending(t, pending)
			rec := do(e, req{Key: "dup-key", Body: `{"prompt":"one generation please"}`, Tenant: "acme"})
			if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" {
				t.Fatalf("after the storm: got %d replayed=%q, want a replay", rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
			}
		})
	}
}

func TestConcurrentDuplicatesTwoInstancesOneRedis(t *testing.T) {
	prefix := redistest.Prefix(t)
	var calls atomic.Int32
	overlapped := make(chan struct{})
	pending := new(idempotency.Pending)
	var apps []http.Handler
	for range 2 {
		// Each instance has its own client and store, as two processes would.
		s, err := redisstore.New(redistest.Client(t), redisstore.Config{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, newApp(t, idempotency.Config{Store: s, Pending: pending}, slowHandler(&calls, overlapped)))
	}
	hammer(t, 100, apps, &calls, overlapped)
	waitPending(t, pending) // the response is stored
	for i, e := range apps {
		rec := do(e, req{Key: "dup-key", Body: `{"prompt":"one generation please"}`, Tenant: "acme"})
		if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" {
			t.Errorf("instance %d after the storm: got %d, want a replay", i, rec.Code)
		}
	}
}

// TestLeaseExpiryMemory: the first owner hangs past its lease; a retry
// re-claims and completes; the first owner's late commit is refused, so the
// retry's answer is the one replayed. The clock is injected.
func TestLeaseExpiryMemory(t *testing.T) {
	clk := newFakeClock()
	store := newMemoryStore(t, idempotency.MemoryConfig{Now: clk.Now})
	leaseExpiry(t, store, 30*time.Second, func() { clk.Advance(31 * time.Second) })
}

// TestLeaseExpiryRedis is the same with Redis, whose clock the test cannot
// move, and where the owner keeps renewing its lease: the record vanishes
// from Redis instead (as it does when the owner cannot renew it), long
// before the owner's first renewal (lease/3 = 10 s), which would claim the
// key again (see holder.reclaim).
func TestLeaseExpiryRedis(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	store, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	rk := prefix + idempotency.RecordKey("ip:192.0.2.1", http.MethodPost, "/v1/generations", "k")
	leaseExpiry(t, store, 30*time.Second, func() {
		if n, err := rdb.Del(context.Background(), rk).Result(); err != nil || n != 1 {
			t.Fatalf("deleting the record %s: got %d, %v", rk, n, err)
		}
	})
}

func leaseExpiry(t *testing.T, store idempotency.Store, lease time.Duration, expire func()) {
	t.Helper()
	logs := &logBuffer{}
	pending := new(idempotency.Pending)
	var calls atomic.Int32
	started, unblock := make(chan struct{}), make(chan struct{})
	e := newApp(t, idempotency.Config{Store: store, Lease: lease, Logger: logs.logger(), Pending: pending}, func(w http.ResponseWriter, r *http.Request) error {
		if n := calls.Add(1); n == 1 {
			close(started)
			<-unblock // the owner hangs
			return text(w, http.StatusCreated, "stale owner")
		}
		return text(w, http.StatusCreated, "retry")
	})
	r := req{Key: "k", Body: `{"a":1}`}
	staleDone := make(chan int)
	go func() { staleDone <- do(e, r).Code }()
	<-started

	if rec := do(e, r); rec.Code != 409 || errorCode(t, rec) != "request_in_progress" {
		t.Fatalf("during the lease: got %d %s, want 409 request_in_progress", rec.Code, rec.Body)
	}
	expire()
	rec := do(e, r)
	if rec.Code != 201 || rec.Body.String() != "retry" || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "" {
		t.Fatalf("after the lease: got %d %q, want the retry to run", rec.Code, rec.Body)
	}
	close(unblock)
	if code := <-staleDone; code != 201 {
		t.Fatalf("stale owner's client: got %d, want its 201 all the same", code)
	}
	// Both commits are over (a client may have its answer first, see
	// commitWait): the retry's stored, the stale owner's refused and logged.
	waitPending(t, pending)
	rec = do(e, r)
	if rec.Body.String() != "retry" || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("replay: got %q replayed=%q, want the retry's answer replayed", rec.Body, rec.Header().Get(idempotency.HeaderIdempotentReplayed))
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("handler calls: got %d, want 2", got)
	}
	if !strings.Contains(logs.String(), "response not stored") || !strings.Contains(logs.String(), idempotency.ErrLeaseLost.Error()) {
		t.Errorf("log: got %q, want the refused commit logged", logs.String())
	}
}

// TestRedisDown: with Redis killed, a guarded request answers 503 and the
// handler does not run; a commit that fails because Redis died while the
// handler ran is logged, the client still gets its answer, and duplicates
// of it reaching this process get 409 request_in_progress while the commit
// is retried.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	// A killed server fails calls at once: the client needs no short
	// timeouts (the store's Timeout, a second, bounds each call).
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := redisstore.New(rdb, redisstore.Config{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	var calls atomic.Int32
	inHandler, proceed := make(chan struct{}, 1), make(chan struct{}, 1)
	pending := new(idempotency.Pending)
	t.Cleanup(func() { waitPending(t, pending) })
	e := newApp(t, idempotency.Config{Store: store, Logger: logs.logger(), Pending: pending, Lease: 5 * time.Second}, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		if r.Header.Get("X-Block") != "" {
			inHandler <- struct{}{}
			<-proceed
		}
		return text(w, http.StatusCreated, "done")
	})
	if rec := do(e, req{Key: "before"}); rec.Code != 201 {
		t.Fatalf("with Redis up: got %d", rec.Code)
	}

	// Redis dies while a handler runs: the client still gets its answer.
	done := make(chan int)
	go func() { done <- do(e, req{Key: "during", Headers: map[string]string{"X-Block": "1"}}).Code }()
	<-inHandler
	srv.Kill()
	proceed <- struct{}{}
	if code := <-done; code != 201 {
		t.Fatalf("request whose commit failed: got %d, want 201", code)
	}
	// Logged by the holder after the first attempt, which the client stops
	// waiting for after commitWait.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "storing the response failed; retrying in the background") {
		if time.Now().After(deadline) {
			t.Errorf("log: got %q, want the failed commit logged", logs.String())
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := calls.Load()

	tests := []struct{ name, key, want string }{
		{"a replay of a stored key", "before", "service_unavailable"},
		{"a new key", "new", "service_unavailable"},
		{"the key whose commit is retried", "during", "request_in_progress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(e, req{Key: tc.key})
			if want := map[string]int{"service_unavailable": 503, "request_in_progress": 409}[tc.want]; rec.Code != want || errorCode(t, rec) != tc.want {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, want, tc.want)
			}
			if strings.Contains(rec.Body.String(), "127.0.0.1") || strings.Contains(rec.Body.String(), "redis") {
				t.Errorf("body leaks internals: %s", rec.Body)
			}
			if got := calls.Load(); got != before {
				t.Errorf("handler calls: got %d, want %d (the handler must not run)", got, before)
			}
		})
	}
	// Requests without a key are not guarded and still run.
	if rec := do(e, req{}); rec.Code != 201 {
		t.Errorf("unguarded request: got %d, want 201", rec.Code)
	}

	// Back up (empty, as after a crash): requests run again, once each.
	srv.Restart(t)
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for ctx.Err() == nil {
			if rec := doCtx(e, ctx, req{Key: "after"}); rec.Code != 503 {
				want := []string{"", "true"}[i]
				if rec.Code != 201 || rec.Header().Get(idempotency.HeaderIdempotentReplayed) != want {
					t.Errorf("after restart, request %d: got %d replayed=%q, want 201 replayed=%q", i, rec.Code, rec.Header().Get(idempotency.HeaderIdempotentReplayed), want)
				}
				break
			}
			time.Sleep(20 * time.Millisecond) // the client redials
		}
		cancel()
	}
	if got := calls.Load(); got != before+2 {
		t.Errorf("handler calls after restart: got %d, want %d", got, before+2)
	}
}
