package alloctest_test

import (
	"testing"

	"github.com/clipia/apiguard/internal/alloctest"
)

var sink []byte

// PerRun counts what f allocates, and not what another goroutine allocates
// during one of the measurements.
func TestPerRun(t *testing.T) {
	if n := alloctest.PerRun(100, func() {}); n != 0 {
		t.Errorf("a function that allocates nothing: got %v, want 0", n)
	}
	if n := alloctest.PerRun(100, func() { sink = make([]byte, 64) }); n != 1 {
		t.Errorf("a function that allocates once: got %v, want 1", n)
	}
	// Another goroutine allocates a burst during the first measurement
	// only (the 50th call; the first is AllocsPerRun's warm-up, not
	// counted): testing.AllocsPerRun alone counts it.
	withBurst := func() func() {
		calls := 0
		return func() {
			if calls++; calls == 50 {
				done := make(chan struct{})
				go func() {
					for range 10_000 {
						sink = make([]byte, 64)
					}
					close(done)
				}()
				<-done
			}
			sink = make([]byte, 64)
		}
	}
	if n := testing.AllocsPerRun(100, withBurst()); n < 100 {
		t.Fatalf("testing.AllocsPerRun with the burst: got %v, want it counted (100 or more)", n)
	}
	if n := alloctest.PerRun(100, withBurst()); n != 1 {
		t.Errorf("with a burst in the first measurement: got %v, want 1", n)
	}
}
