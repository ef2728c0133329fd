package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/roster"
)

func newRequestersRevokeCmd(g *globals) *cobra.Command {
	var revokeOps operatorFlags
	var revokeReason string
	revoke := &cobra.Command{
		Use:   "revoke NAME|ID [--reason TEXT]",
		Short: "Revoke a requester: devices refuse its requests once the entry is appended",
		Long: `Signs a revoke_requester roster entry. Once it is appended every device
refuses the requester's requests, even those signed before. A revoked key
never comes back: register a new one with 'mpcctl requesters create'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRequestersRevoke(cmd, g, &revokeOps, args[0], revokeReason)
		},
	}
	revoke.Flags().StringVar(&revokeReason, "reason", "", "why, recorded in the roster entry")
	revokeOps.register(revoke.Flags())
	return revoke
}

func runRequestersRevoke(cmd *cobra.Command, g *globals, o *operatorFlags, ref, reason string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	r, err := resolveRequester(st, ref)
	if err != nil {
		return err
	}
	if !r.Active {
		return fmt.Errorf("requester %s (%s) is revoked already (roster height %d)", r.Name, r.ID, r.RevokedAt)
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	b := st.Next(roster.KindRevokeRequester, time.Now())
	b.RequesterID, b.Reason = r.ID, reason
	e, sub, err := signSubmit(ctx, c, o.dir, st, b, k)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		res := outcomeJSON(e, sub)
		res["requester"] = requesterJSON(r.Requester)
		res["entry"] = bodyJSON(b, st)
		return printJSON(w, res)
	}
	fmt.Fprintf(w, "requester %s (%s): revoke_requester entry %s signed as %s\n", r.Name, r.ID, entryID(e.Hash()), k.Name())
	printOutcome(w, e, sub)
	if sub.GetAppended() {
		fmt.Fprintln(w, "devices refuse its requests from now on")
	}
	return nil
}
