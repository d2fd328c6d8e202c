package ratelimit_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// Lock-free single-policy decisions, several-policy decisions (under the
// lock) on the same bucket, and inserts that resize the one shard's table
// under the readers' feet, all at one instant: the bucket's burst is spent
// exactly, never more.
func TestMemoryLockFreeNeverOverspends(t *testing.T) {
	var clock storetest.Clock
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, Shards: 1, SweepInterval: -1})
	defer s.Close()
	ctx := context.Background()
	p := ratelimit.PerSecond("p", 1, 500)
	q := ratelimit.PerDay("q", 1_000_000, 1_000_000)
	single := []ratelimit.Policy{p}
	both := []ratelimit.Policy{p, q}
	// Create the bucket so that the single-policy path is lock-free.
	if r, err := s.Take(ctx, "hot", single, 1); err != nil || !r.Allowed {
		t.Fatalf("first take: %+v, %v", r, err)
	}
	var allowed, qAllowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				ps := single
				if (g+i)%3 == 0 {
					ps = both
				}
				r, err := s.Take(ctx, "hot", ps, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					allowed.Add(1)
					if len(ps) == 2 {
						qAllowed.Add(1)
					}
				}
			}
		})
	}
	wg.Go(func() { // grows the table many times meanwhile
		for i := range 5000 {
			if _, err := s.Take(ctx, "other"+strconv.Itoa(i), single, 1); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() { // sweeps find nothing full, but take the lock
		for range 50 {
			s.Sweep()
		}
	})
	wg.Wait()
	if got := allowed.Load(); got != 499 {
		t.Fatalf("got %d allowed after the first, want exactly 499 (burst 500)", got)
	}
	r, err := s.Take(ctx, "hot", both[1:], 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1_000_000 - qAllowed.Load(); r.Remaining != want {
		t.Fatalf("q has %d left, want %d: refused several-policy takes must charge nothing", r.Remaining, want)
	}
}

// Decisions racing with sweeps that delete, evictions under MaxKeys, charges
// and a moving clock: no race (run with -race), no error, and a caller
// alone on its bucket never gets more than the policy allows per second.
func TestMemoryLockFreeWithSweepsAndEvictions(t *testing.T) {
	var clock storetest.Clock
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, Shards: 2, SweepInterval: -1, MaxKeys: 64})
	defer s.Close()
	ctx := context.Background()
	single := []ratelimit.Policy{ratelimit.PerSecond("p", 10, 10)}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				clock.Advance(time.Millisecond)
				s.Sweep()
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 2000 {
				key := "k" + strconv.Itoa((g*7+i)%200)
				var err error
				switch i % 5 {
				case 0:
					err = s.Charge(ctx, key, single, 2)
				case 1:
					_, err = s.Take(ctx, key, []ratelimit.Policy{single[0], ratelimit.PerMinute("m", 100, 100)}, 1)
				default:
					var r ratelimit.Result
					r, err = s.Take(ctx, key, single, 1)
					if err == nil && (r.Remaining < 0 || r.Remaining > 10) {
						t.Errorf("remaining %d out of range", r.Remaining)
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	if n := s.Len(); n > 64 {
		t.Errorf("%d buckets, want at most MaxKeys 64", n)
	}
}
