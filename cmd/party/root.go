package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
	"github.com/mpcsign/mpcsign/internal/home"
)

// common flags of the commands that open the keystore.
type storeFlags struct {
	dataDir        string
	passphraseFile string
	logLevel       string
	logFormat      string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dataDir, "data", filepath.Join(home.Dir(), "party"), "data directory of this device (encrypted keystore)")
	cmd.Flags().StringVar(&f.passphraseFile, "passphrase-file", "", "file holding the keystore passphrase (default: the MPC_PASSPHRASE environment variable)")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "text", "text or json")
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "party",
		Short: "MPC signing device agent: holds this device's key shares and takes part in signing",
		Long: `party runs on each device that holds a share of a threshold key.

Its shares, identity keys and pre-parameters live in an encrypted keystore in
--data. The keystore passphrase comes from --passphrase-file or the
MPC_PASSPHRASE environment variable, never from a flag value.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newEnrollCmd(), newRunCmd(), newStatusCmd(), newPolicyCmd(), newAuditCmd(), newBackupCmd(), newPreparamsCmd(), buildinfo.Command("party"))
	return root
}
