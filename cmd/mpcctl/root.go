package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command { return newRootCmdWith(&globals{}) }

// newRootCmdWith is mpcctl's command tree on g (tests set fields of g that
// no flag sets).
func newRootCmdWith(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "mpcctl",
		Short: "Operate the MPC signing service: devices, keys, signatures, rosters and ceremonies",
		Long: `mpcctl talks to a coordinator over TLS, pinning its certificate fingerprint,
with an API token. On the coordinator's own machine the defaults (read from
--coordinator-dir) need no flags.

Thresholds follow tss-lib: a key with threshold t needs t+1 devices to sign.
A 2-of-3 key is --threshold 1 with three devices.

The local demo and the load generator are commands of their own: go run
./cmd/mpcdemo and go run ./cmd/mpcload.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.register(root)
	root.AddCommand(newDevicesCmd(g), newKeysCmd(g), newSignCmd(g), newTokensCmd(g), newAuditCmd(g), newVersionCmd(g), newDrillCmd(g))
	root.AddCommand(newOperatorCmd(g))
	root.AddCommand(newRosterCmd(g), newCeremonyCmd(g))
	root.AddCommand(newRequestersCmd(g))
	root.AddCommand(newMovedCmd("demo", "./cmd/mpcdemo"), newMovedCmd("load", "./cmd/mpcload"))
	return root
}
