// Package cli holds what the main functions of the client commands
// (mpcctl, mpcdemo, mpcload) share.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
)

// Execute runs root with a context that an interrupt or SIGTERM cancels.
func Execute(root *cobra.Command) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return root.ExecuteContext(ctx)
}

// Exit does nothing when err is nil; else it prints err to stderr after
// "name: " (a gRPC status as its code and message) and exits 1.
func Exit(name string, err error) {
	if err == nil {
		return
	}
	if st, ok := status.FromError(err); ok {
		fmt.Fprintf(os.Stderr, "%s: %s: %s\n", name, st.Code(), st.Message())
	} else {
		fmt.Fprintln(os.Stderr, name+":", err)
	}
	os.Exit(1)
}
