package buildinfo

import (
	"fmt"

	"github.com/spf13/cobra"
)

// Command is the `version` subcommand of a binary without --json.
func Command(binary string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this build's version and the tss-lib version it links",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), Read().Text(binary))
			return err
		},
	}
}
