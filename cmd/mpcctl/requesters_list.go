package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
)

func newRequestersListCmd(g *globals) *cobra.Command {
	var listOps operatorFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the requesters on the verified roster, active and revoked, with their grants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRequestersList(cmd, g, &listOps)
		},
	}
	listOps.registerDir(list.Flags())
	return list
}

func runRequestersList(cmd *cobra.Command, g *globals, o *operatorFlags) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, pending, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	waiting := 0
	for _, p := range checkPending(st, pending) {
		if p.err == nil && (p.body.Kind == roster.KindAddRequester || p.body.Kind == roster.KindRevokeRequester) {
			waiting++
		}
	}
	rs := st.Requesters()
	w := cmd.OutOrStdout()
	if g.asJSON {
		list := []map[string]any{}
		for _, r := range rs {
			m := requesterJSON(r.Requester)
			m["active"], m["added_at"] = r.Active, r.AddedAt
			if !r.Active {
				m["revoked_at"] = r.RevokedAt
			}
			list = append(list, m)
		}
		return printJSON(w, map[string]any{"requesters": list, "pending_entries": waiting})
	}
	if len(rs) == 0 {
		fmt.Fprintln(w, "no requesters on the roster: register one with 'mpcctl requesters create NAME --keys ...'")
	} else if err := printRequesters(w, rs); err != nil {
		return err
	}
	if waiting > 0 {
		fmt.Fprintf(w, "%d requester entries wait for operator signatures: mpcctl roster pending\n", waiting)
	}
	return nil
}

// printRequesters is the table of 'requesters list'.
func printRequesters(w io.Writer, rs []roster.RequesterState) error {
	tw := newTable(w, "NAME\tID\tKEY\tSTATUS\tKEYS\tPATHS\tMAX/HOUR")
	for _, r := range rs {
		status := fmt.Sprintf("active (height %d)", r.AddedAt)
		if !r.Active {
			status = fmt.Sprintf("revoked (height %d)", r.RevokedAt)
		}
		paths, rate := "any", "-"
		if len(r.Paths) > 0 {
			paths = strings.Join(r.Paths, ",")
		}
		if r.MaxPerHour > 0 {
			rate = fmt.Sprint(r.MaxPerHour)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", r.Name, r.ID, r.Algorithm, keyfile.Fingerprint(r.PublicKey), status, strings.Join(r.Keys, ","), paths, rate)
	}
	return tw.Flush()
}
