package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this build's version and the tss-lib version it links",
		Long: `Prints the module version (or "devel" for a local build), the VCS revision
when the build recorded one, the Go version, and the version of
github.com/bnb-chain/tss-lib/v2 linked in. It does not contact the coordinator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Read()
			if g.asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), info.Text("mpcctl"))
			return err
		},
	}
}
