//go:build !unix

package echo4_test

import "time"

// processCPU is not available here; benchmarks report ns/op only.
func processCPU() (time.Duration, bool) { return 0, false }
