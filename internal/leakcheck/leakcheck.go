//go:build leakcheck

// Package leakcheck is the goroutine-leak check of test builds
// (go build -tags leakcheck; the e2e suite builds its binaries so): after a
// clean shutdown on SIGINT or SIGTERM, every goroutine but main's must have
// ended. A leak is printed to stderr with its stacks and the process exits
// with ExitCode instead of 0. The default build (leakcheck_off.go) has
// neither the check nor goleak.
package leakcheck

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/goleak"
)

// ignored are goroutines that live as long as the process by design.
var ignored = []goleak.Option{
	// tss-lib logs through ipfs/go-log v1, whose writer package starts this
	// log pump at init; it never ends and holds nothing of ours.
	goleak.IgnoreTopFunction("github.com/ipfs/go-log/writer.(*MirrorWriter).logRoutine"),
}

// AtExit exits with ExitCode if goroutines are still running a few seconds
// after the shutdown (connections and stores closing get that long). prog
// names the program in the report.
func AtExit(prog string) {
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		// Find itself retries for about two seconds before it reports.
		if err = goleak.Find(ignored...); err == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	fmt.Fprintf(os.Stderr, "%s: leakcheck: goroutines leaked at exit: %v\n", prog, err)
	os.Exit(ExitCode)
}
