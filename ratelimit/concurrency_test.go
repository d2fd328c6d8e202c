package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/internal/alloctest"
	"github.com/clipia/apiguard/internal/conctest"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/concstoretest"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

func TestMemoryConcurrencyStore(t *testing.T) {
	concstoretest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.ConcurrencyStore {
		return ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{Now: now})
	})
}

// concPath is the route of concurrencyCoreApp.
const concPath = "/r"

// concurrencyCoreApp is the core guard behind a bare renderer and no
// framework, for the tests of slots and leases.
func concurrencyCoreApp(_ testing.TB, cfg ratelimit.ConcurrencyConfig, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	c, err := ratelimit.NewConcurrency(cfg)
	if err != nil {
		return nil, err
	}
	renderer := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+concPath, func(w http.ResponseWriter, r *http.Request) {
		release, err := c.Acquire(w, r, r.Pattern)
		if err == nil {
			defer release()
			err = h(w, r)
		}
		if err != nil {
			renderer.Write(w, r, r.Pattern, errorsx.From(err))
		}
	})
	return mux, nil
}

// TestConcurrency runs the concurrency limit's behaviour table through
// every front door.
func TestConcurrency(t *testing.T) { conctest.Run(t) }

// countingStore counts the calls of a store and can lose every slot once.
// It hands the store a context without the guard's deadline: the guard
// bounds a renewal by Lease/3 (a few milliseconds here), which a loaded
// machine can exceed before the memory store even looks at the context,
// and these tests are about the slots, not about slow stores.
type countingStore struct {
	ratelimit.ConcurrencyStore
	acquires, renews, releases atomic.Int64
	renewed                    atomic.Int64 // renewals that succeeded
	loseOnce                   atomic.Bool

	mu      sync.Mutex
	renewAt []time.Time // when each renewal started, on the real clock
}

func (s *countingStore) Acquire(ctx context.Context, key string, limit int64, lease time.Duration) (ratelimit.ConcurrencyResult, error) {
	s.acquires.Add(1)
	return s.ConcurrencyStore.Acquire(context.WithoutCancel(ctx), key, limit, lease)
}

func (s *countingStore) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	s.mu.Lock()
	s.renewAt = append(s.renewAt, time.Now())
	s.mu.Unlock()
	s.renews.Add(1)
	ctx = context.WithoutCancel(ctx)
	if s.loseOnce.CompareAndSwap(true, false) {
		_ = s.ConcurrencyStore.Release(ctx, key, token) // the store "forgets" the slot
		return ratelimit.ErrSlotLost
	}
	err := s.ConcurrencyStore.Renew(ctx, key, token, lease)
	if err == nil {
		s.renewed.Add(1)
	}
	return err
}

func (s *countingStore) Release(ctx context.Context, key, token string) error {
	s.releases.Add(1)
	return s.ConcurrencyStore.Release(context.WithoutCancel(ctx), key, token)
}

// renewGaps returns the real time between the starts of consecutive
// renewals.
func (s *countingStore) renewGaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(s.renewAt); i++ {
		gaps = append(gaps, s.renewAt[i].Sub(s.renewAt[i-1]))
	}
	return gaps
}

// waitUntil polls cond until it holds, for at most 20s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func concDo(h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, concPath, nil)
	req.RemoteAddr = "192.0.2.1:1"
	h.ServeHTTP(rec, req)
	return rec
}

// A handler that runs for many leases keeps its slot: the guard renews it
// every Lease/3. When it ends, the slot is free.
//
// Leases end on the store's fake clock, which the test moves by 2/3 of a
// lease only after two renewals completed since its last move (the second
// one started after it): each renewal is then seen to extend the lease,
// whatever the scheduler does (a real-clock lease of tens of milliseconds
// ran out under load). The cadence is checked on the real clock with the
// median gap between renewals, which a few delayed timers do not move.
func TestConcurrencyRenewalKeepsSlowHandlerSlot(t *testing.T) {
	clock := &storetest.Clock{}
	store := &countingStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{Now: clock.Now})}
	lease := 300 * time.Millisecond
	entered, finish := make(chan struct{}), make(chan struct{})
	var slow atomic.Bool
	slow.Store(true)
	h, err := concurrencyCoreApp(t, ratelimit.ConcurrencyConfig{Limit: 1, Lease: lease, Store: store},
		func(w http.ResponseWriter, _ *http.Request) error {
			if slow.CompareAndSwap(true, false) {
				close(entered)
				<-finish
			}
			w.WriteHeader(http.StatusOK)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() { done <- concDo(h).Code }()
	<-entered
	const steps = 6 // 4 leases on the store's clock
	for i := range steps {
		n := store.renewed.Load()
		waitUntil(t, "two renewals", func() bool { return store.renewed.Load() >= n+2 })
		clock.Advance(2 * lease / 3)
		if code := concDo(h).Code; code != http.StatusTooManyRequests {
			t.Fatalf("%v into a slow request: got %d, want 429 (its slot must be renewed)", time.Duration(i+1)*2*lease/3, code)
		}
	}
	close(finish)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("slow request: got %d", code)
	}
	gaps := store.renewGaps()
	slices.Sort(gaps)
	if len(gaps) < 2*steps-1 {
		t.Fatalf("got %d renewals, want at least %d", len(gaps)+1, 2*steps)
	}
	if median := gaps[len(gaps)/2]; median > lease*6/10 {
		t.Errorf("got a median of %v between renewals (gaps %v), want about Lease/3 = %v", median, gaps, lease/3)
	}
	if code := concDo(h).Code; code != http.StatusOK {
		t.Fatalf("after the slow request: got %d, want 200", code)
	}
	if a, r := store.acquires.Load(), store.releases.Load(); r != 2 {
		t.Errorf("got %d acquires and %d releases, want 2 releases (one per slot taken)", a, r)
	}
}

// When a renewal finds that the store lost the slot, the guard takes one
// again, logs it, and the request stays counted.
func TestConcurrencyRenewalReclaimsLostSlot(t *testing.T) {
	// The store's clock stands still: no lease runs out, only the slot the
	// store "forgets" is lost.
	clock := &storetest.Clock{}
	store := &countingStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{Now: clock.Now})}
	store.loseOnce.Store(true)
	var logs syncBuffer
	lease := 60 * time.Millisecond
	entered, finish := make(chan struct{}), make(chan struct{})
	var slow atomic.Bool
	slow.Store(true)
	h, err := concurrencyCoreApp(t, ratelimit.ConcurrencyConfig{Limit: 1, Lease: lease, Store: store,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		func(w http.ResponseWriter, _ *http.Request) error {
			if slow.CompareAndSwap(true, false) {
				close(entered)
				<-finish
			}
			w.WriteHeader(http.StatusOK)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() { done <- concDo(h).Code }()
	<-entered
	waitUntil(t, "three renewals", func() bool { return store.renews.Load() >= 3 })
	if code := concDo(h).Code; code != http.StatusTooManyRequests {
		t.Fatalf("after the slot was lost and taken again: got %d, want 429", code)
	}
	close(finish)
	<-done
	if code := concDo(h).Code; code != http.StatusOK {
		t.Fatalf("after the request: got %d, want 200 (the new slot released)", code)
	}
	if log := logs.String(); !strings.Contains(log, "took a slot again") || strings.Count(log, "\n") != 1 {
		t.Errorf("got log %q, want one warning that the slot was taken again", log)
	}
}

// Release waits for a renewal in progress and no renewal follows it.
//
// The store's clock stands still: on the real one, a holder stalled for a
// lease (30ms) lost its slot to the next goroutine, and its release then
// had no slot to free.
func TestConcurrencyReleaseIsFinal(t *testing.T) {
	clock := &storetest.Clock{}
	store := &countingStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{Now: clock.Now})}
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 1, Lease: ratelimit.MinConcurrencyLease, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var held atomic.Int64
	for range 50 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			release, err := c.Acquire(rec, req, "/")
			if err != nil {
				return
			}
			held.Add(1)
			time.Sleep(15 * time.Millisecond) // across a renewal (every 10ms)
			release()
			release()
		})
	}
	wg.Wait()
	renews := store.renews.Load()
	time.Sleep(3 * ratelimit.MinConcurrencyLease)
	if got := store.renews.Load(); got != renews {
		t.Errorf("%d renewals after every release", got-renews)
	}
	rec := httptest.NewRecorder()
	release, err := c.Acquire(rec, httptest.NewRequest(http.MethodGet, "/", nil), "/")
	if err != nil {
		t.Fatalf("after all releases: %v", err)
	}
	release()
	if r := store.releases.Load(); r != held.Load()+1 || rec.Header().Get("RateLimit") != `"inflight";r=0` {
		t.Errorf("got %d releases of %d slots, RateLimit %q", r, held.Load()+1, rec.Header().Get("RateLimit"))
	}
}

// A rate limiter's headers on the same response stay listed.
func TestConcurrencyHeadersAddToRateLimit(t *testing.T) {
	l, err := ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{ratelimit.PerSecond("burst", 10, 20)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := l.Limit(rec, req, "/"); err != nil {
		t.Fatal(err)
	}
	release, err := c.Acquire(rec, req, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	want := []string{`"burst";q=20;w=2`, `"inflight";q=2;qu="concurrent-requests"`}
	if got := rec.Header().Values("RateLimit-Policy"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got RateLimit-Policy %q, want %q", got, want)
	}
	want = []string{`"burst";r=19;t=1`, `"inflight";r=1`}
	if got := rec.Header().Values("RateLimit"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got RateLimit %q, want %q", got, want)
	}
}

func TestConcurrencyLargeLimitHeader(t *testing.T) {
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 1000, Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	release, err := c.Acquire(rec, httptest.NewRequest(http.MethodGet, "/", nil), "/")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if got := rec.Header().Get("RateLimit"); got != `"big";r=999` {
		t.Errorf("got RateLimit %q", got)
	}
}

// The pass-through paths allocate nothing.
func TestConcurrencySkipAllocs(t *testing.T) {
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 1, Skip: func(*http.Request) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if n := alloctest.PerRun(100, func() {
		release, _ := c.Acquire(w, req, "/")
		release()
	}); n != 0 {
		t.Errorf("a skipped request allocates %v times", n)
	}
}

func TestConcurrencyStoreWithoutToken(t *testing.T) {
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Limit: 1, FailClosed: true, Store: tokenless{},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Acquire(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil), "/")
	var e *errorsx.Error
	if !errors.As(err, &e) || e.Status() != http.StatusServiceUnavailable {
		t.Fatalf("got %v, want 503", err)
	}
}

type tokenless struct{ ratelimit.ConcurrencyStore }

func (tokenless) Acquire(context.Context, string, int64, time.Duration) (ratelimit.ConcurrencyResult, error) {
	return ratelimit.ConcurrencyResult{Acquired: true, InFlight: 1}, nil
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
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
