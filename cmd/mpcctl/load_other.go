//go:build !linux

package main

import "syscall"

// loadSysProcAttr: elsewhere the started processes are stopped by mpcctl
// itself only.
func loadSysProcAttr() *syscall.SysProcAttr { return nil }
