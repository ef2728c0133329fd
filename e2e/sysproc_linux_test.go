package e2e

import "syscall"

// sysProcAttr makes the kernel kill a started binary if the test binary dies
// without running its cleanups (for example on a 'go test -timeout' panic), so
// that no process outlives the test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
