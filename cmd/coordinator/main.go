// Command coordinator runs the MPC signing coordinator.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
	"github.com/mpcsign/mpcsign/internal/leakcheck"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Environ(), runServe).ExecuteContext(ctx)
	signalled := ctx.Err() != nil // read before stop, which cancels ctx too
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		os.Exit(1)
	}
	if signalled {
		// Test builds only (-tags leakcheck): exit non-zero if goroutines
		// are left after a clean shutdown. Nothing in the default build.
		leakcheck.AtExit("coordinator")
	}
}

// newRootCmd builds the command tree. environ is the environment the
// settings are read from (os.Environ in main); serve runs the coordinator
// once its settings are resolved and valid (runServe in main).
func newRootCmd(environ []string, serve serveFunc) *cobra.Command {
	root := &cobra.Command{
		Use:   "coordinator",
		Short: "MPC signing coordinator: routes keygen and signing between device parties",
		Long: `coordinator routes the rounds of threshold key generation and signing
between device parties, and serves the wallet and operator APIs.

"coordinator serve --help" lists its settings: flags, environment variables
(` + settings.EnvPrefix + `*) and the config file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(environ, serve), newCertCmd(time.Now), buildinfo.Command("coordinator"))
	return root
}
