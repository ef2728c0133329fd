// Command mpcdemo runs the local demo of the MPC signing service: a
// coordinator and device agents in this process, talking real gRPC over TLS
// on 127.0.0.1, through keygen, signing, a lost device, a revocation with a
// reshare, and signing again.
package main

import (
	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/cli"
)

func main() {
	cli.Exit("mpcdemo", cli.Execute(newRootCmd(withTestFixtures)))
}

// newRootCmd builds the command. testFlags registers the hidden TEST-ONLY
// --insecure-test-preparams (withTestFixtures: only in a build with -tags
// testfixtures).
func newRootCmd(testFlags bool) *cobra.Command {
	var dir, logLevel, logFormat, testPreparams string
	var keep bool
	cmd := &cobra.Command{
		Use:   "mpcdemo",
		Short: "Run a local demo: coordinator and devices on loopback; keygen, sign, revoke, reshare, sign again",
		Long: `Starts a coordinator and device agents in this process, talking real gRPC
over TLS on 127.0.0.1, each device with its own encrypted keystore under a
temporary directory. The story:

  1. pair three devices (phone, laptop, server), comparing each one's short
     authentication string before approving it;
  2. create a 2-of-3 key and sign;
  3. the server is lost: sign with the two others;
  4. pair a new device (tablet), revoke the server and reshare the key to
     phone, laptop and tablet (same public key, the server's share is dead);
  5. sign again, then sign with phone and tablet alone (the new share works);
  6. one device alone cannot sign.

Every signature is verified with an independent verifier against the one
public key. Each device first generates fresh pre-parameters (safe primes):
on a small machine that takes a few minutes.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, keep, logLevel, logFormat, testPreparams)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the demo's data (default: a new temporary directory)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the data directory afterwards")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level of the coordinator and devices")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format of the coordinator and devices: text or json")
	if testFlags {
		registerTestPreparams(cmd, &testPreparams)
	}
	return cmd
}
