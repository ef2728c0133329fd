package buildinfo

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

// Command is the `version` subcommand of a binary: the build as text, or
// as one JSON object with --json (the fields of Info).
func Command(binary string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print this build's version and the tss-lib version it links",
		Long: `Prints the module version (or "devel" for a local build), the VCS revision
when the build recorded one, the Go version, and the version of
github.com/bnb-chain/tss-lib/v2 linked in.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := Read()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), info.Text(binary))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build information as JSON")
	return cmd
}
