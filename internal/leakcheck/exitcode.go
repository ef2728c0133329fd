package leakcheck

// ExitCode is the exit status of a process, built with -tags leakcheck,
// that still ran goroutines after a clean shutdown.
const ExitCode = 86
