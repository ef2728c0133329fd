// Command party is the device agent: it holds this device's key shares in an
// encrypted keystore, dials out to the coordinator and runs the tss-lib rounds
// it is asked to run.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mpcsign/mpcsign/internal/leakcheck"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Environ(), runAgent).ExecuteContext(ctx)
	signalled := ctx.Err() != nil // read before stop, which cancels ctx too
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "party:", err)
		os.Exit(1)
	}
	if signalled {
		// Test builds only (-tags leakcheck): exit non-zero if goroutines
		// are left after a clean shutdown. Nothing in the default build.
		leakcheck.AtExit("party")
	}
}
