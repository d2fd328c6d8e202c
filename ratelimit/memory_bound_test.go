package ratelimit_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/clipia/apiguard/ratelimit"
	"github.com/clipia/apiguard/ratelimit/storetest"
)

// distinctKeys is the number of callers of the memory tests: a million,
// or 100,000 under the race detector.
var distinctKeys = map[bool]int{false: 1_000_000, true: 100_000}[raceEnabled]

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fill takes one token for each of n distinct callers.
func fill(t *testing.T, s *ratelimit.MemoryStore, n int) {
	t.Helper()
	p := []ratelimit.Policy{ratelimit.PerSecond("default", 1, 1)}
	for i := range n {
		r, err := s.Take(context.Background(), "ip:"+strconv.Itoa(i), p, 1)
		if err != nil || !r.Allowed {
			t.Fatalf("take %d: got %+v, %v", i, r, err)
		}
	}
}

// A million distinct callers: their buckets are swept as soon as they are
// full again, and the memory goes back.
func TestMemoryOfAMillionKeysIsReclaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 100 MB")
	}
	var clock storetest.Clock
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, SweepInterval: -1})
	defer s.Close()
	base := heapAlloc()
	fill(t, s, distinctKeys)
	if got := s.Len(); got != distinctKeys {
		t.Fatalf("got %d buckets, want %d", got, distinctKeys)
	}
	peak := heapAlloc()
	perKey := float64(peak-base) / float64(distinctKeys)
	t.Logf("%d live buckets: %.1f MB above the baseline, %.0f bytes per bucket (key string included)",
		distinctKeys, float64(peak-base)/1e6, perKey)
	if perKey > 200 {
		t.Errorf("got %.0f bytes per bucket, want at most 200", perKey)
	}

	clock.Advance(999 * time.Millisecond)
	if got := s.Sweep(); got != 0 {
		t.Fatalf("swept %d buckets that are not full yet", got)
	}
	clock.Advance(time.Millisecond)
	if got := s.Sweep(); got != distinctKeys {
		t.Fatalf("swept %d buckets, want all %d (all full again)", got, distinctKeys)
	}
	if got := s.Len(); got != 0 {
		t.Fatalf("got %d buckets after the sweep, want 0", got)
	}
	after := heapAlloc()
	t.Logf("after the sweep: %.1f MB above the baseline", (float64(after)-float64(base))/1e6)
	if after > base+(peak-base)/10 {
		t.Errorf("after the sweep the heap is %d bytes above the baseline, want under a tenth of the peak's %d",
			after-base, peak-base)
	}
}

// With MaxKeys, a million distinct callers at one instant never hold more
// than the bound.
func TestMaxKeysBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million takes")
	}
	var clock storetest.Clock
	const maxKeys = 10_000
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, SweepInterval: -1, MaxKeys: maxKeys, Shards: 16})
	defer s.Close()
	base := heapAlloc()
	fill(t, s, distinctKeys)
	got := s.Len()
	if got > maxKeys || got < maxKeys*9/10 {
		t.Fatalf("got %d buckets, want close to and at most %d", got, maxKeys)
	}
	grown := int64(heapAlloc()) - int64(base)
	t.Logf("MaxKeys %d after %d distinct callers: %d buckets, %.2f MB above the baseline", maxKeys, distinctKeys, got, float64(grown)/1e6)
	if grown > 4<<20 {
		t.Errorf("heap grew by %d bytes, want under 4 MiB for %d buckets", grown, maxKeys)
	}
}

// Under MaxKeys pressure a full bucket is replaced first: a caller who is
// still limited keeps its bucket while old, full ones make room.
func TestMaxKeysEvictsFullBucketsFirst(t *testing.T) {
	var clock storetest.Clock
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, SweepInterval: -1, MaxKeys: 8, Shards: 1})
	defer s.Close()
	ctx := context.Background()
	slow := []ratelimit.Policy{ratelimit.PerMinute("slow", 1, 1)}
	fast := []ratelimit.Policy{ratelimit.PerSecond("fast", 1, 1)}
	if _, err := s.Take(ctx, "limited", slow, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, err := s.Take(ctx, "old"+strconv.Itoa(i), fast, 1); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Second) // the seven "old" buckets are full again
	for i := range 7 {
		if _, err := s.Take(ctx, "new"+strconv.Itoa(i), fast, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Len(); got != 8 {
		t.Fatalf("got %d buckets, want the bound 8", got)
	}
	r, err := s.Take(ctx, "limited", slow, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed {
		t.Fatal("the limited caller's bucket was evicted while full buckets were available")
	}
}

func TestClosedMemoryStore(t *testing.T) {
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{SweepInterval: time.Millisecond})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(context.Background(), "k", []ratelimit.Policy{ratelimit.PerSecond("d", 1, 1)}, 1); err != ratelimit.ErrClosed {
		t.Fatalf("Take after Close: got %v, want ErrClosed", err)
	}
}

// The sweeper goroutine deletes full buckets by itself.
func TestSweeperRuns(t *testing.T) {
	var clock storetest.Clock
	s := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{Now: clock.Now, SweepInterval: time.Millisecond})
	defer s.Close()
	if _, err := s.Take(context.Background(), "k", []ratelimit.Policy{ratelimit.PerSecond("d", 1, 1)}, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete a full bucket within 20s")
		}
		time.Sleep(time.Millisecond) // waiting for the sweeper goroutine, not for a refill
	}
}
