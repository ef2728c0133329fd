package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/buildinfo"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this build's version and the tss-lib version it links",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), buildinfo.Read().Text("party"))
			return err
		},
	}
}
