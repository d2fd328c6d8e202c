package ratelimit

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user + system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU reports, next to ns/op (wall clock), the CPU time the process
// spent per operation: on a busy shared machine wall time mostly measures
// the neighbours, CPU time still measures the code. On an idle machine with
// P cores, ns/op ≈ cpu-ns/op ÷ P for a RunParallel benchmark.
func measureCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
