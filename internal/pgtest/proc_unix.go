//go:build unix && !linux

package pgtest

import "syscall"

// sysProcAttr runs a process as c (nil: the current user). Outside Linux a
// server is not killed with the test binary; [Main] and the test cleanups
// stop it.
func sysProcAttr(c *cred, _ bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if c != nil {
		a.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, NoSetGroups: true}
	}
	return a
}

// sigQuit asks postgres for an immediate shutdown.
var sigQuit = syscall.SIGQUIT
