package main

import (
	"fmt"
	"syscall"
)

// loadSysProcAttr makes the kernel kill a process mpcload started if
// mpcload dies without stopping it, so that no cluster outlives the run.
func loadSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// raiseFileLimit raises this process's limit of open files to at least
// need (the processes it starts inherit it), or says why it cannot.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open files limit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max < need {
		return fmt.Errorf("this needs %d open files, and the hard limit is %d: raise it (ulimit -Hn, or LimitNOFILE in a systemd unit)", need, lim.Max)
	}
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open files limit to %d: %w", need, err)
	}
	return nil
}
