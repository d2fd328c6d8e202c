//go:build race

package gin1_test

// raceEnabled is true under the race detector, whose sync.Pool drops values
// at random, so allocation counts mean nothing.
const raceEnabled = true
