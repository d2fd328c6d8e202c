// Package concstoretest is the behaviour suite of the stores of apiguard's
// concurrency limit: [Run] for every [ratelimit.ConcurrencyStore] (the
// memory store and the Redis store run it; so can any other store, or the
// Redis store through a Redis Cluster client):
//
//	func TestConcurrencyStore(t *testing.T) {
//		concstoretest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.ConcurrencyStore {
//			s, err := redisstore.NewConcurrency(client, redisstore.ConcurrencyConfig{Prefix: redistest.Prefix(t), Now: now})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Run drives time through the now function it hands to the constructor, so
// it never sleeps; all its times are whole milliseconds apart, the
// precision of the Redis store. It only uses fresh, unique caller keys and
// never lists or flushes keys, so stores may share a server with other
// data. The suite imports no web framework.
package concstoretest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// NewStore builds a fresh store for one subtest. The store must measure
// leases on now (a fake clock the suite advances). The constructor
// registers any cleanup with t.
type NewStore func(t *testing.T, now func() time.Time) ratelimit.ConcurrencyStore

// Run runs the store suite against the stores newStore builds.
func Run(t *testing.T, newStore NewStore) {
	t.Run("limit", func(t *testing.T) { limit(t, newStore) })
	t.Run("release_frees_a_slot", func(t *testing.T) { release(t, newStore) })
	t.Run("keys_are_independent", func(t *testing.T) { keys(t, newStore) })
	t.Run("expired_slot_does_not_count", func(t *testing.T) { expiry(t, newStore) })
	t.Run("renew", func(t *testing.T) { renew(t, newStore) })
	t.Run("concurrent_acquires", func(t *testing.T) { concurrent(t, newStore) })
	t.Run("cancelled_context", func(t *testing.T) { cancelled(t, newStore) })
}

const lease = 10 * time.Second

type fixture struct {
	s     ratelimit.ConcurrencyStore
	clock *storetest.Clock
	ctx   context.Context
}

func newFixture(t *testing.T, newStore NewStore) *fixture {
	clock := &storetest.Clock{}
	return &fixture{s: newStore(t, clock.Now), clock: clock, ctx: context.Background()}
}

func (f *fixture) acquire(t *testing.T, key string, limit int64, wantOK bool, wantInFlight int64) string {
	t.Helper()
	res, err := f.s.Acquire(f.ctx, key, limit, lease)
	if err != nil {
		t.Fatalf("Acquire(%d): %v", limit, err)
	}
	if res.Acquired != wantOK || res.InFlight != wantInFlight {
		t.Fatalf("Acquire(%d): got acquired %v in flight %d, want %v %d", limit, res.Acquired, res.InFlight, wantOK, wantInFlight)
	}
	if res.Acquired == (res.Token == "") {
		t.Fatalf("Acquire(%d): acquired %v with token %q", limit, res.Acquired, res.Token)
	}
	return res.Token
}

func (f *fixture) release(t *testing.T, key, token string) {
	t.Helper()
	if err := f.s.Release(f.ctx, key, token); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

// uniq returns a caller key no other test uses.
func uniq() string {
	return fmt.Sprintf("caller:%d:%d", time.Now().UnixNano(), rand.Uint64())
}

func limit(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	key := uniq()
	seen := map[string]bool{}
	for i := int64(1); i <= 3; i++ {
		tok := f.acquire(t, key, 3, true, i)
		if seen[tok] {
			t.Fatalf("token %q handed out twice", tok)
		}
		seen[tok] = true
	}
	f.acquire(t, key, 3, false, 3)
	f.acquire(t, key, 3, false, 3)
	// A lower limit refuses too; a higher one admits.
	f.acquire(t, key, 1, false, 3)
	f.acquire(t, key, 4, true, 4)
}

func release(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	key := uniq()
	a := f.acquire(t, key, 2, true, 1)
	b := f.acquire(t, key, 2, true, 2)
	f.acquire(t, key, 2, false, 2)
	f.release(t, key, a)
	c := f.acquire(t, key, 2, true, 2)
	// Releasing twice, or a token the store never gave, frees nothing more.
	f.release(t, key, a)
	f.release(t, key, "not-a-token")
	f.release(t, key+":other", b)
	f.acquire(t, key, 2, false, 2)
	f.release(t, key, b)
	f.release(t, key, c)
	f.acquire(t, key, 2, true, 1)
}

func keys(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	a, b := uniq(), uniq()
	ta := f.acquire(t, a, 1, true, 1)
	f.acquire(t, b, 1, true, 1)
	f.acquire(t, a, 1, false, 1)
	f.acquire(t, b, 1, false, 1)
	// A's token does not free B's slot.
	f.release(t, b, ta)
	f.acquire(t, b, 1, false, 1)
	f.release(t, a, ta)
	f.acquire(t, a, 1, true, 1)
}

func expiry(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	key := uniq()
	f.acquire(t, key, 2, true, 1)
	f.clock.Advance(4 * time.Second)
	f.acquire(t, key, 2, true, 2)
	f.acquire(t, key, 2, false, 2)
	// One millisecond before the first lease ends, both still count.
	f.clock.Advance(lease - 4*time.Second - time.Millisecond)
	f.acquire(t, key, 2, false, 2)
	// When it ends, the first slot no longer counts.
	f.clock.Advance(time.Millisecond)
	f.acquire(t, key, 2, true, 2)
	// Long after every lease, none counts.
	f.clock.Advance(time.Hour)
	f.acquire(t, key, 2, true, 1)
}

func renew(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	key := uniq()
	tok := f.acquire(t, key, 1, true, 1)
	for range 5 {
		f.clock.Advance(lease - time.Millisecond)
		if err := f.s.Renew(f.ctx, key, tok, lease); err != nil {
			t.Fatalf("Renew within the lease: %v", err)
		}
		f.acquire(t, key, 1, false, 1)
	}
	// Without a renewal the lease ends: the slot is lost, and Renew says so
	// without taking it back.
	f.clock.Advance(lease)
	if err := f.s.Renew(f.ctx, key, tok, lease); !errors.Is(err, ratelimit.ErrSlotLost) {
		t.Fatalf("Renew after the lease: got %v, want ErrSlotLost", err)
	}
	other := f.acquire(t, key, 1, true, 1)
	// Renewing a released slot, or one the store never gave, fails too.
	f.release(t, key, other)
	for _, tok := range []string{other, "not-a-token"} {
		if err := f.s.Renew(f.ctx, key, tok, lease); !errors.Is(err, ratelimit.ErrSlotLost) {
			t.Fatalf("Renew(%q) after release: got %v, want ErrSlotLost", tok, err)
		}
	}
	f.acquire(t, key, 1, true, 1)
}

// Many goroutines race for the slots of one key: exactly limit win.
func concurrent(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	key := uniq()
	const limit, goroutines = 5, 40
	var won atomic.Int64
	var mu sync.Mutex
	var tokens []string
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			res, err := f.s.Acquire(f.ctx, key, limit, lease)
			if err != nil {
				t.Errorf("Acquire: %v", err)
				return
			}
			if res.InFlight < 1 || res.InFlight > limit {
				t.Errorf("got in flight %d, want 1..%d", res.InFlight, limit)
			}
			if res.Acquired {
				won.Add(1)
				mu.Lock()
				tokens = append(tokens, res.Token)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won.Load() != limit {
		t.Fatalf("%d of %d acquired a slot, want %d", won.Load(), goroutines, limit)
	}
	for _, tok := range tokens {
		wg.Go(func() {
			if err := f.s.Release(f.ctx, key, tok); err != nil {
				t.Errorf("Release: %v", err)
			}
		})
	}
	wg.Wait()
	f.acquire(t, key, limit, true, 1)
}

func cancelled(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	key := uniq()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := f.s.Acquire(ctx, key, 1, lease); err == nil {
		t.Fatalf("Acquire with a cancelled context: got %+v, want an error", res)
	}
	f.acquire(t, key, 1, true, 1)
}
