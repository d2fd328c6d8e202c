package idempotency

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestPendingWaitMissesNoWakeup: work done on other goroutines while Wait
// starts, again and again; every Wait returns once the work is done (a
// lost wakeup would leave it waiting until its context ends).
func TestPendingWaitMissesNoWakeup(t *testing.T) {
	var p Pending
	for round := range 2000 {
		k := 1 + round%4
		for range k {
			p.add()
		}
		var wg sync.WaitGroup
		for range k {
			wg.Go(p.done)
		}
		waiters := 1 + round%3
		errs := make(chan error, waiters)
		for range waiters {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				errs <- p.Wait(ctx)
			}()
		}
		for range waiters {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: Wait: %v, want nil once the work is done", round, err)
			}
		}
		wg.Wait()
		if n := p.n.Load(); n != 0 {
			t.Fatalf("round %d: %d pending after every done", round, n)
		}
	}
}
