package idempotency_test

import (
	"testing"

	"github.com/clipia/apiguard/internal/idemtest"
)

// BenchmarkGuard measures the guard through every front door
// (-bench 'Guard/nethttp' selects one).
func BenchmarkGuard(b *testing.B) { idemtest.Bench(b) }
