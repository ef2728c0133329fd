//go:build !leakcheck

package leakcheck

// AtExit does nothing in the default build.
func AtExit(prog string) {}
