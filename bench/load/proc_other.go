//go:build !linux

package load

import "os/exec"

// dieWithParent does nothing outside Linux: processes are killed by the
// tests' cleanups only.
func dieWithParent(cmd *exec.Cmd) {}
