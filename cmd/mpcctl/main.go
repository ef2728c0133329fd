// Command mpcctl is the operator and wallet CLI of the MPC signing service:
// a client of the coordinator only (the demo is cmd/mpcdemo, the load
// generator cmd/mpcload).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc/status"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		if moved, ok := errors.AsType[movedError](err); ok {
			fmt.Fprintln(os.Stderr, "mpcctl:", moved)
			os.Exit(exitMoved)
		}
		if st, ok := status.FromError(err); ok {
			fmt.Fprintf(os.Stderr, "mpcctl: %s: %s\n", st.Code(), st.Message())
		} else {
			fmt.Fprintln(os.Stderr, "mpcctl:", err)
		}
		os.Exit(1)
	}
}
