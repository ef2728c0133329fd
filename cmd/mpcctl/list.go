package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// listItems is the shape of the plain list commands (devices, keys,
// tokens, reshare jobs): fetch the items from the coordinator as admin,
// then print them as a JSON array of asJSON's objects ([] when there are
// none) or, without --json, with asText.
func listItems[T any](cmd *cobra.Command, g *globals,
	fetch func(context.Context, mpcv1.AdminServiceClient) ([]T, error),
	asJSON func(T) map[string]any, asText func(io.Writer, []T) error) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	items, err := fetch(ctx, c)
	if err != nil {
		return err
	}
	if g.asJSON {
		out := []map[string]any{}
		for _, it := range items {
			out = append(out, asJSON(it))
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	return asText(cmd.OutOrStdout(), items)
}

// newTable is the tab-aligned table of the text listings, its header line
// written (columns separated by tabs).
func newTable(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}
