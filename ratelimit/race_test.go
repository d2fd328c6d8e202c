//go:build race

package ratelimit_test

// raceEnabled is true when the tests run under the race detector, which
// makes the million-key tests too slow: they use fewer keys then.
const raceEnabled = true
