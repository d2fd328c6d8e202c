package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/errorsx"
	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/concstoretest"
)

func TestMemoryConcurrencyStore(t *testing.T) {
	concstoretest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.ConcurrencyStore {
		return ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{Now: now})
	})
}

// concurrencyCoreApp runs the door suite against the core guard behind a
// bare renderer and no framework: the translation every front door does,
// by hand.
func concurrencyCoreApp(_ testing.TB, cfg ratelimit.ConcurrencyConfig, h func(http.ResponseWriter, *http.Request) error) (http.Handler, error) {
	c, err := ratelimit.NewConcurrency(cfg)
	if err != nil {
		return nil, err
	}
	renderer := errorsx.NewRenderer(errorsx.HandlerConfig{Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+concstoretest.DoorPath, func(w http.ResponseWriter, r *http.Request) {
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

func TestConcurrency(t *testing.T) { concstoretest.RunDoor(t, concurrencyCoreApp) }

// countingStore counts the calls of a store and can lose every slot once.
type countingStore struct {
	ratelimit.ConcurrencyStore
	acquires, renews, releases atomic.Int64
	loseOnce                   atomic.Bool
}

func (s *countingStore) Acquire(ctx context.Context, key string, limit int64, lease time.Duration) (ratelimit.ConcurrencyResult, error) {
	s.acquires.Add(1)
	return s.ConcurrencyStore.Acquire(ctx, key, limit, lease)
}

func (s *countingStore) Renew(ctx context.Context, key, token string, lease time.Duration) error {
	s.renews.Add(1)
	if s.loseOnce.CompareAndSwap(true, false) {
		_ = s.ConcurrencyStore.Release(ctx, key, token) // the store "forgets" the slot
		return ratelimit.ErrSlotLost
	}
	return s.ConcurrencyStore.Renew(ctx, key, token, lease)
}

func (s *countingStore) Release(ctx context.Context, key, token string) error {
	s.releases.Add(1)
	return s.ConcurrencyStore.Release(ctx, key, token)
}

func concDo(h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, concstoretest.DoorPath, nil)
	req.RemoteAddr = "192.0.2.1:1"
	h.ServeHTTP(rec, req)
	return rec
}

// A handler that runs for many leases keeps its slot: the guard renews it
// every Lease/3 on the store's real clock. When it ends, the slot is free.
func TestConcurrencyRenewalKeepsSlowHandlerSlot(t *testing.T) {
	store := &countingStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{})}
	lease := 90 * time.Millisecond
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
	deadline := time.Now().Add(6 * lease)
	for time.Now().Before(deadline) {
		if code := concDo(h).Code; code != http.StatusTooManyRequests {
			t.Fatalf("%v into a slow request: got %d, want 429 (its slot must be renewed)", time.Until(deadline), code)
		}
		time.Sleep(lease / 5)
	}
	close(finish)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("slow request: got %d", code)
	}
	if n := store.renews.Load(); n < 10 {
		t.Errorf("got %d renewals in 6 leases, want about 18", n)
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
	store := &countingStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{})}
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
	for store.renews.Load() < 3 {
		time.Sleep(lease / 10)
	}
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
func TestConcurrencyReleaseIsFinal(t *testing.T) {
	store := &countingStore{ConcurrencyStore: ratelimit.NewMemoryConcurrencyStore(ratelimit.MemoryConcurrencyConfig{})}
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
	if n := testing.AllocsPerRun(100, func() {
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
