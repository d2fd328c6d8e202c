package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clipia/apiguard/idempotency"
	"github.com/clipia/apiguard/idempotency/storetest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMemoryStore(t *testing.T, cfg idempotency.MemoryConfig) *idempotency.MemoryStore {
	t.Helper()
	s := idempotency.NewMemoryStore(cfg)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMemoryStoreSuite(t *testing.T) {
	storetest.RunWithClock(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
		clk := newFakeClock()
		return newMemoryStore(t, idempotency.MemoryConfig{Now: clk.Now}), clk.Advance
	})
}

func TestMemoryStoreSuiteRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps")
	}
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		return newMemoryStore(t, idempotency.MemoryConfig{})
	})
}

func TestMemoryStoreBounded(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		max       int
		expireOld bool // let the first records' leases expire before filling up
		claims    int
		wantLen   int
		wantGone  []string
		wantKept  []string
	}{
		{"under the bound keeps all", 5, false, 4, 4, nil, []string{"k0", "k3"}},
		{"over the bound evicts the oldest", 3, false, 5, 3, []string{"k0", "k1"}, []string{"k2", "k3", "k4"}},
		{"expired records go first", 3, true, 5, 3, []string{"k0", "k1"}, []string{"k2", "k4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			s := newMemoryStore(t, idempotency.MemoryConfig{MaxRecords: tc.max, Now: clk.Now})
			for i := range tc.claims {
				lease := time.Hour
				if tc.expireOld && i < 2 {
					lease = time.Second
				}
				if _, err := s.Claim(ctx, fmt.Sprintf("k%d", i), "fp", lease); err != nil {
					t.Fatal(err)
				}
				if i == 1 && tc.expireOld {
					clk.Advance(2 * time.Second)
				}
			}
			if got := s.Len(); got != tc.wantLen {
				t.Errorf("Len: got %d, want %d", got, tc.wantLen)
			}
			for _, k := range tc.wantGone {
				if _, ok, _ := s.Get(ctx, k); ok {
					t.Errorf("Get(%s): got a record, want evicted", k)
				}
			}
			for _, k := range tc.wantKept {
				if _, ok, _ := s.Get(ctx, k); !ok {
					t.Errorf("Get(%s): got none, want kept", k)
				}
			}
		})
	}
}

func TestMemoryStoreSweep(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	s := newMemoryStore(t, idempotency.MemoryConfig{Now: clk.Now})
	for i := range 10 {
		lease := time.Minute
		if i%2 == 0 {
			lease = time.Second
		}
		if _, err := s.Claim(ctx, fmt.Sprint(i), "fp", lease); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Second)
	if got := s.Len(); got != 10 {
		t.Fatalf("Len before sweep: got %d, want 10", got)
	}
	s.Sweep()
	if got := s.Len(); got != 5 {
		t.Fatalf("Len after sweep: got %d, want 5", got)
	}
}

func TestMemoryStoreSweeperRunsAndCloseStopsIt(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	s := idempotency.NewMemoryStore(idempotency.MemoryConfig{Now: clk.Now, SweepInterval: time.Millisecond})
	if _, err := s.Claim(ctx, "k", "fp", time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not delete the expired record")
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { _ = s.Close(); _ = s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	// The store keeps working after Close.
	r, err := s.Claim(ctx, "k2", "fp", time.Minute)
	if err != nil || !r.Claimed {
		t.Fatalf("Claim after Close: got %+v, %v", r, err)
	}
	if err := s.Release(ctx, "k2", r.Token); err != nil {
		t.Fatalf("Release after Close: %v", err)
	}
	if err := s.Release(ctx, "k2", r.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("second Release: got %v, want ErrLeaseLost", err)
	}
}

// sweepers counts the sweeper goroutines of the memory stores created by
// the calling goroutine: the stores other tests left to the garbage
// collector come and go at any time.
func sweepers() int {
	buf := make([]byte, 64)
	me := strings.Fields(string(buf[:runtime.Stack(buf, false)]))[1] // "goroutine 7 [running]:"
	buf = make([]byte, 1<<22)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "idempotency.(*memStore).sweeper") && strings.Contains(g, " in goroutine "+me+"\n") {
			n++
		}
	}
	return n
}

// TestUnreferencedDefaultStoreStopsItsSweeper: the store New creates when
// Config.Store is nil cannot be closed by the app; when the guard is
// dropped, the garbage collector stops its sweeper.
func TestUnreferencedDefaultStoreStopsItsSweeper(t *testing.T) {
	before := sweepers()
	func() {
		mws := make([]*idempotency.Guard, 10)
		for i := range mws {
			g, err := idempotency.New(idempotency.Config{})
			if err != nil {
				t.Fatal(err)
			}
			mws[i] = g
		}
		// The sweepers start asynchronously: wait for them while the
		// middlewares are still referenced.
		deadline := time.Now().Add(5 * time.Second)
		for sweepers() < before+10 {
			if time.Now().After(deadline) {
				t.Fatalf("sweepers: got %d, want at least %d", sweepers(), before+10)
			}
			time.Sleep(time.Millisecond)
		}
		runtime.KeepAlive(mws)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for sweepers() > before {
		if time.Now().After(deadline) {
			t.Fatalf("sweepers: got %d after GC, want %d", sweepers(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
