//go:build !linux

package main

import "syscall"

// loadSysProcAttr: elsewhere the started processes are stopped by mpcload
// itself only.
func loadSysProcAttr() *syscall.SysProcAttr { return nil }

// raiseFileLimit leaves the limit of open files as it is elsewhere.
func raiseFileLimit(uint64) error { return nil }
