package main

import (
	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
)

// newRootCmd builds the command tree. environ is the environment the
// settings are read from (os.Environ in main); run runs the agent once its
// settings are resolved and valid (runAgent in main).
func newRootCmd(environ []string, run runFunc) *cobra.Command {
	root := &cobra.Command{
		Use:   "party",
		Short: "MPC signing device agent: holds this device's key shares and takes part in signing",
		Long: `party runs on each device that holds a share of a threshold key.

Its shares, identity keys and pre-parameters live in an encrypted keystore in
--data. The keystore passphrase comes from --passphrase-file or the
MPC_PASSPHRASE environment variable, never from a flag value, the config file
or an ` + settings.EnvPrefix + `* variable.

"party run --help" lists the settings: flags, environment variables
(` + settings.EnvPrefix + `*) and the config file (--config).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newEnrollCmd(environ), newRunCmd(environ, run), newStatusCmd(environ), newRepinCmd(environ), newPinRosterCmd(environ), newPolicyCmd(environ),
		newAuditCmd(environ), newBackupCmd(environ), newPreparamsCmd(), buildinfo.Command("party"))
	return root
}
