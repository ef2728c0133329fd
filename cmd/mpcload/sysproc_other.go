//go:build !linux

package main

import "syscall"

// loadSysProcAttr: elsewhere the started processes are stopped by mpcload
// itself only.
func loadSysProcAttr() *syscall.SysProcAttr { return nil }
