//go:build !race

package gin1_test

const raceEnabled = false
