package main

import "syscall"

// loadSysProcAttr makes the kernel kill a process mpcload started if
// mpcload dies without stopping it, so that no cluster outlives the run.
func loadSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
