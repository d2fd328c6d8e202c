//go:build unix

package echo4_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used.
// Benchmarks report it per operation next to ns/op: on a shared, loaded
// machine wall time mostly measures waiting for a CPU, CPU time does not.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
