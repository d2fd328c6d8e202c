package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/auth"
	"github.com/clipia/apiguard/principal"
)

// countingStore counts lookups per key in front of a MemoryKeyStore, and
// fails with errDown while down is set.
type countingStore struct {
	mem   *auth.MemoryKeyStore
	mu    sync.Mutex
	calls map[string]int
	down  atomic.Bool
}

var errDown = errors.New("store down")

func newCountingStore() *countingStore {
	return &countingStore{mem: must(auth.NewMemoryKeyStore(authDemoKeys())), calls: map[string]int{}}
}

func (s *countingStore) Lookup(ctx context.Context, key string) (*principal.Principal, error) {
	s.mu.Lock()
	s.calls[key]++
	s.mu.Unlock()
	if s.down.Load() {
		return nil, errDown
	}
	return s.mem.Lookup(ctx, key)
}

func (s *countingStore) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCachedKeyStore(t *testing.T) {
	type step struct {
		advance   time.Duration
		key       string
		down      bool
		wantErr   error // nil, ErrKeyNotFound, ErrKeyRevoked or errDown
		wantCalls int   // calls to the underlying store for key so far
	}
	tests := []struct {
		name  string
		cfg   auth.CacheConfig
		steps []step
	}{
		{"hit within TTL, miss after", auth.CacheConfig{TTL: time.Minute}, []step{
			{key: "sk_test_full", wantCalls: 1},
			{advance: 59 * time.Second, key: "sk_test_full", wantCalls: 1},
			{advance: time.Second, key: "sk_test_full", wantCalls: 2},
		}},
		{"default TTL is 30s", auth.CacheConfig{}, []step{
			{key: "sk_test_full", wantCalls: 1},
			{advance: 29 * time.Second, key: "sk_test_full", wantCalls: 1},
			{advance: time.Second, key: "sk_test_full", wantCalls: 2},
		}},
		{"revoked cached like a found key", auth.CacheConfig{TTL: time.Minute}, []step{
			{key: "sk_test_revoked", wantErr: auth.ErrKeyRevoked, wantCalls: 1},
			{key: "sk_test_revoked", wantErr: auth.ErrKeyRevoked, wantCalls: 1},
		}},
		{"unknown not cached by default", auth.CacheConfig{}, []step{
			{key: "sk_nope", wantErr: auth.ErrKeyNotFound, wantCalls: 1},
			{key: "sk_nope", wantErr: auth.ErrKeyNotFound, wantCalls: 2},
		}},
		{"unknown cached for NegativeTTL", auth.CacheConfig{NegativeTTL: 5 * time.Second}, []step{
			{key: "sk_nope", wantErr: auth.ErrKeyNotFound, wantCalls: 1},
			{advance: 4 * time.Second, key: "sk_nope", wantErr: auth.ErrKeyNotFound, wantCalls: 1},
			{advance: time.Second, key: "sk_nope", wantErr: auth.ErrKeyNotFound, wantCalls: 2},
		}},
		{"store errors never cached", auth.CacheConfig{}, []step{
			{key: "sk_test_full", down: true, wantErr: errDown, wantCalls: 1},
			{key: "sk_test_full", wantCalls: 2},
			{key: "sk_test_full", wantCalls: 2},
		}},
		{"cached answer survives a store outage", auth.CacheConfig{}, []step{
			{key: "sk_test_full", wantCalls: 1},
			{key: "sk_test_full", down: true, wantCalls: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under := newCountingStore()
			clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			cfg := tt.cfg
			cfg.Now = clock.Now
			c, err := auth.NewCachedKeyStore(under, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				under.down.Store(s.down)
				p, err := c.Lookup(context.Background(), s.key)
				if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
					t.Fatalf("step %d: got error %v, want %v", i, err, s.wantErr)
				}
				if s.wantErr == nil && (p == nil || p.KeyID == "") {
					t.Fatalf("step %d: got principal %v, want one", i, p)
				}
				if got := under.count(s.key); got != s.wantCalls {
					t.Errorf("step %d: got %d store calls, want %d", i, got, s.wantCalls)
				}
			}
		})
	}
}

func TestCachedKeyStoreBounded(t *testing.T) {
	var keys []auth.KeyConfig
	for i := range 50 {
		keys = append(keys, auth.KeyConfig{Key: fmt.Sprintf("sk_%d", i), KeyID: fmt.Sprint(i)})
	}
	mem := must(auth.NewMemoryKeyStore(keys))
	c, err := auth.NewCachedKeyStore(mem, auth.CacheConfig{MaxEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := c.Lookup(context.Background(), fmt.Sprintf("sk_%d", i)); err != nil {
			t.Fatal(err)
		}
		if got := c.Len(); got > 10 {
			t.Fatalf("after %d keys: got %d entries, want at most 10", i+1, got)
		}
	}
	if got := c.Len(); got != 10 {
		t.Errorf("got %d entries, want 10", got)
	}
	c.Purge()
	if got := c.Len(); got != 0 {
		t.Errorf("after Purge: got %d entries, want 0", got)
	}
}

// blockingStore blocks every lookup until release is closed, after
// signalling entered; the first call fails when failFirst is set.
type blockingStore struct {
	entered   chan struct{}
	release   chan struct{}
	calls     atomic.Int32
	failFirst bool
}

func (s *blockingStore) Lookup(ctx context.Context, key string) (*principal.Principal, error) {
	n := s.calls.Add(1)
	if n == 1 {
		close(s.entered)
		<-s.release
		if s.failFirst {
			return nil, errDown
		}
	}
	return &principal.Principal{KeyID: "k"}, nil
}

// TestCachedKeyStoreCoalesces: concurrent lookups of one uncached key make
// one store call. Lookups that start while the first call is blocked either
// wait for it or, if they start after it returns, hit the cache: both ways
// the store sees exactly one call.
func TestCachedKeyStoreCoalesces(t *testing.T) {
	s := &blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
	c, err := auth.NewCachedKeyStore(s, auth.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.Lookup(ctx, "k"); err != nil {
			t.Errorf("first lookup: %v", err)
		}
	})
	<-s.entered
	for range 8 {
		wg.Go(func() {
			if p, err := c.Lookup(ctx, "k"); err != nil || p.KeyID != "k" {
				t.Errorf("waiting lookup: got %v, %v", p, err)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Lookup(cancelled, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter with a cancelled context: got %v, want context.Canceled", err)
	}
	close(s.release)
	wg.Wait()
	if got := s.calls.Load(); got != 1 {
		t.Errorf("got %d store calls, want 1", got)
	}
}

// TestCachedKeyStoreLeaderFails: when the shared call fails, the others ask
// the store themselves instead of inheriting the failure.
func TestCachedKeyStoreLeaderFails(t *testing.T) {
	s := &blockingStore{entered: make(chan struct{}), release: make(chan struct{}), failFirst: true}
	c, err := auth.NewCachedKeyStore(s, auth.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.Lookup(ctx, "k"); !errors.Is(err, errDown) {
			t.Errorf("first lookup: got %v, want errDown", err)
		}
	})
	<-s.entered
	for range 4 {
		wg.Go(func() {
			if _, err := c.Lookup(ctx, "k"); err != nil {
				t.Errorf("other lookup: got %v, want success from its own call", err)
			}
		})
	}
	close(s.release)
	wg.Wait()
}

func TestNewCachedKeyStoreErrors(t *testing.T) {
	mem := must(auth.NewMemoryKeyStore(nil))
	tests := []struct {
		name  string
		store auth.KeyStore
		cfg   auth.CacheConfig
	}{
		{"nil store", nil, auth.CacheConfig{}},
		{"negative TTL", mem, auth.CacheConfig{TTL: -1}},
		{"negative NegativeTTL", mem, auth.CacheConfig{NegativeTTL: -1}},
		{"negative MaxEntries", mem, auth.CacheConfig{MaxEntries: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := auth.NewCachedKeyStore(tt.store, tt.cfg); err == nil || c != nil {
				t.Errorf("got %v, %v; want an error", c, err)
			}
		})
	}
}
