package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/roster"
)

func newRosterShowCmd(g *globals) *cobra.Command {
	var showOps operatorFlags
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Verify the roster and show its entries and the ones waiting for signatures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRosterShow(cmd, g, showOps.dir)
		},
	}
	showOps.registerDir(showCmd.Flags())
	return showCmd
}

func runRosterShow(cmd *cobra.Command, g *globals, dir string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	v, err := fetchVerified(ctx, c, dir)
	if err != nil {
		return err
	}
	return printRoster(cmd.OutOrStdout(), g.asJSON, v)
}

func newRosterVerifyCmd(g *globals) *cobra.Command {
	var verifyOps operatorFlags
	verifyCmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the coordinator's roster against this operator's pin (exits non-zero on any failure)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRosterVerify(cmd, g, verifyOps.dir)
		},
	}
	verifyOps.registerDir(verifyCmd.Flags())
	return verifyCmd
}

func runRosterVerify(cmd *cobra.Command, g *globals, dir string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, dir)
	if err != nil {
		return err
	}
	n := st.Height() + 1
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{"verified": true, "entries": n, "genesis": st.GenesisHash().String(), "head": st.Head().String(), "height": st.Height()})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "roster verified: %d entries from genesis %s, head %s at height %d\n", n, st.GenesisHash(), st.Head(), st.Height())
	return nil
}

func newRosterPendingCmd(g *globals) *cobra.Command {
	var pendingOps operatorFlags
	pendingCmd := &cobra.Command{
		Use:   "pending",
		Short: "List the roster entries waiting for more operator signatures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRosterPending(cmd, g, pendingOps.dir)
		},
	}
	pendingOps.registerDir(pendingCmd.Flags())
	return pendingCmd
}

func runRosterPending(cmd *cobra.Command, g *globals, dir string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, pending, err := verifiedRoster(ctx, c, dir)
	if err != nil {
		return err
	}
	infos := checkPending(st, pending)
	w := cmd.OutOrStdout()
	if g.asJSON {
		return printJSON(w, pendingJSON(st, infos))
	}
	if len(infos) == 0 {
		fmt.Fprintln(w, "no roster entries wait for signatures")
		return nil
	}
	return printPending(w, st, infos)
}

func printRoster(w io.Writer, asJSON bool, v *verified) error {
	st := v.state
	signers, err := entrySigners(v.entries)
	if err != nil {
		return err // verified a moment ago: cannot happen
	}
	infos := checkPending(st, v.pending)
	if asJSON {
		var entries []map[string]any
		for i, e := range v.entries {
			b, _ := roster.DecodeBody(e.Body)
			m := bodyJSON(b, st)
			m["hash"] = e.Hash().String()
			m["signed_by"] = signers[i]
			entries = append(entries, m)
		}
		return printJSON(w, map[string]any{
			"genesis": st.GenesisHash().String(), "height": st.Height(), "head": st.Head().String(), "quorum": st.Quorum(),
			"entries": entries, "pending": pendingJSON(st, infos),
		})
	}
	fmt.Fprintf(w, "genesis: %s\nhead:    %s (height %d)\nquorum:  %d of %d operators\n\n", st.GenesisHash(), st.Head(), st.Height(), st.Quorum(), len(st.Operators()))
	tw := newTable(w, "HEIGHT\tTIME\tKIND\tWHAT\tSIGNED BY")
	for i, e := range v.entries {
		b, _ := roster.DecodeBody(e.Body)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", b.Height, fmtTime(time.Unix(b.Time, 0)), b.Kind, entryText.Describe(b, st), signedByText(signers[i]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(infos) > 0 {
		fmt.Fprintln(w, "\nwaiting for operator signatures:")
		return printPending(w, st, infos)
	}
	return nil
}

func printPending(w io.Writer, st *roster.State, infos []pendingInfo) error {
	tw := newTable(w, "ID\tKIND\tWHAT\tSIGNED BY\tQUORUM")
	for _, p := range infos {
		if p.err != nil {
			fmt.Fprintf(tw, "%s\t%s\tdoes not extend the verified roster: %v\t-\t-\n", p.id, p.body.Kind, p.err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d of %d\n", p.id, p.body.Kind, entryText.Describe(p.body, st), signedByText(p.signedBy), operatorCount(p.signedBy), p.need)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "to sign one: mpcctl roster sign ID")
	return nil
}

func pendingJSON(st *roster.State, infos []pendingInfo) []map[string]any {
	out := []map[string]any{}
	for _, p := range infos {
		m := map[string]any{"id": p.id, "hash": p.entry.Hash().String()}
		if p.err != nil {
			m["error"] = p.err.Error()
		} else {
			m["entry"] = bodyJSON(p.body, st)
			m["signed_by"] = p.signedBy
			m["quorum"] = p.need
		}
		out = append(out, m)
	}
	return out
}
