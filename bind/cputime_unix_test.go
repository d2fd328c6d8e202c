//go:build unix

package bind_test

import "syscall"

// cpuTime is the process's CPU time so far, in nanoseconds: on a shared
// machine it still measures the code when the wall clock measures the
// neighbours.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
