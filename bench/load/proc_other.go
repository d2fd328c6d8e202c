//go:build !linux

package load

import "os/exec"

// dieWithParent does nothing outside Linux: processes are killed by the
// tests' cleanups only.
func dieWithParent(cmd *exec.Cmd) {}

// selfCPU returns 0 outside Linux: the CPU columns need getrusage.
func selfCPU() int64 { return 0 }
