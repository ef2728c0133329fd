// Package crashtest lets end-to-end crash tests kill a process at a named
// point of its work, as `kill -9` would: the process sends itself SIGKILL,
// so nothing is flushed or closed. It is off unless the environment variable
// MPCSIGN_TEST_CRASH_AT names a point; the product never sets it.
package crashtest

import (
	"fmt"
	"os"
	"syscall"
)

// Env is the variable that names the crash point.
const Env = "MPCSIGN_TEST_CRASH_AT"

// Hook returns a function to call at each crash point, or nil when no crash
// point is set.
func Hook() func(point string) {
	at := os.Getenv(Env)
	if at == "" {
		return nil
	}
	return func(point string) {
		if point != at {
			return
		}
		fmt.Fprintf(os.Stderr, "crashtest: reached %s; killing this process (SIGKILL)\n", point)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never continue past the point
	}
}
