//go:build !unix

package pgtest

import (
	"os"
	"syscall"
)

// sysProcAttr: processes run as the current user.
func sysProcAttr(*cred, bool) *syscall.SysProcAttr { return nil }

// sigQuit: without signals, stopping kills the server, which is as abrupt.
var sigQuit = os.Kill
