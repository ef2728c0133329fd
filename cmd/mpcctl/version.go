package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this build's version",
		Long: `Prints the module version (or "devel" for a local build), the VCS revision
when the build recorded one, and the Go version. mpcctl is a client only: it
links no threshold-signature code (coordinator version and party version name
the tss-lib version they run). It does not contact the coordinator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Read().Client()
			if g.asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), info.Text("mpcctl"))
			return err
		},
	}
}
