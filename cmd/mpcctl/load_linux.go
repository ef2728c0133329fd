package main

import "syscall"

// loadSysProcAttr makes the kernel kill a process 'mpcctl load' started if
// mpcctl dies without stopping it, so that no cluster outlives the run.
func loadSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
