package pgtest

import "syscall"

// sysProcAttr runs a process as c (nil: the current user); with dieWithParent
// the kernel kills it when the test binary dies.
func sysProcAttr(c *cred, dieWithParent bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if c != nil {
		a.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, NoSetGroups: true}
	}
	if dieWithParent {
		a.Pdeathsig = syscall.SIGKILL
	}
	return a
}

// sigQuit asks postgres for an immediate shutdown.
var sigQuit = syscall.SIGQUIT
