package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/roster"
)

func newRequestersGrantCmd(g *globals) *cobra.Command {
	var grantOps operatorFlags
	var grantGrants grantFlags
	var grantReason string
	grant := &cobra.Command{
		Use:   "grant NAME|ID [--keys ID,...|'*'] [--paths P,...] [--max-per-hour N]",
		Short: "Change an active requester's grants (same key)",
		Long: `Signs an add_requester entry for an active requester with the same key and
new grants, which replace the old ones once it is appended. A flag that is
not given keeps its current value: --paths '' lifts the path restriction,
--max-per-hour 0 the cap.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRequestersGrant(cmd, g, &grantOps, args[0], &grantGrants, grantReason)
		},
	}
	grantGrants.register(grant.Flags(), "key ids it may sign with, comma separated, or '*' for every key")
	grant.Flags().StringVar(&grantReason, "reason", "", "why, recorded in the roster entry")
	grantOps.register(grant.Flags())
	return grant
}

func runRequestersGrant(cmd *cobra.Command, g *globals, o *operatorFlags, ref string, gf *grantFlags, reason string) error {
	fl := cmd.Flags()
	if !fl.Changed("keys") && !fl.Changed("paths") && !fl.Changed("max-per-hour") {
		return errors.New("nothing to change: give --keys, --paths or --max-per-hour")
	}
	var keys, paths []string
	var err error
	if fl.Changed("keys") {
		if keys, err = parseKeys(gf.keys); err != nil {
			return err
		}
	}
	if fl.Changed("paths") {
		if paths, err = parsePaths(gf.paths); err != nil {
			return err
		}
	}
	if err := checkMaxPerHour(gf.maxPerHour); err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	cur, err := resolveRequester(st, ref)
	if err != nil {
		return err
	}
	if !cur.Active {
		return fmt.Errorf("requester %s (%s) was revoked at roster height %d: a revoked key never comes back; register a new one with 'mpcctl requesters create'", cur.Name, cur.ID, cur.RevokedAt)
	}
	next := cur.Requester
	if fl.Changed("keys") {
		next.Keys = keys
	}
	if fl.Changed("paths") {
		next.Paths = paths
	}
	if fl.Changed("max-per-hour") {
		next.MaxPerHour = gf.maxPerHour
	}
	if slices.Equal(next.Keys, cur.Keys) && slices.Equal(next.Paths, cur.Paths) && next.MaxPerHour == cur.MaxPerHour {
		return fmt.Errorf("requester %s has these grants already (%s)", cur.Name, grantsText(cur.Requester))
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	b := st.Next(roster.KindAddRequester, time.Now())
	b.Requester, b.Reason = &next, reason
	e, sub, err := signSubmit(ctx, c, o.dir, st, b, k)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		res := outcomeJSON(e, sub)
		res["requester"] = requesterJSON(next)
		res["previous"] = requesterJSON(cur.Requester)
		res["entry"] = bodyJSON(b, st)
		return printJSON(w, res)
	}
	fmt.Fprintf(w, "requester %s (%s)\n  was: %s\n  now: %s\n", cur.Name, cur.ID, grantsText(cur.Requester), grantsText(next))
	fmt.Fprintf(w, "add_requester entry %s signed as %s\n", entryID(e.Hash()), k.Name())
	printOutcome(w, e, sub)
	return nil
}
