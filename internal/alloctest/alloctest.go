// Package alloctest measures a function's allocations per call in tests,
// without counting what other goroutines allocate meanwhile.
package alloctest

import "testing"

// tries is how many times PerRun measures at most.
const tries = 5

// PerRun returns the average number of allocations of one call of f, like
// testing.AllocsPerRun(runs, f), measured up to five times: the smallest
// result. testing.AllocsPerRun counts every allocation the process makes
// while f runs, including those of other goroutines (a store's sweeper, a
// finalizer, a connection a previous test left closing), and those can only
// add to the count; the smallest of several measurements is f's own. It
// stops early at zero, which nothing can go below.
func PerRun(runs int, f func()) float64 {
	best := testing.AllocsPerRun(runs, f)
	for i := 1; i < tries && best > 0; i++ {
		best = min(best, testing.AllocsPerRun(runs, f))
	}
	return best
}
