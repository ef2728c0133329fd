package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
)

// newRosterOperatorsCmd changes the roster's operators or quorum: a
// set_operators entry, signed by a quorum of the operators in office now.
func newRosterOperatorsCmd(g *globals) *cobra.Command {
	var o operatorFlags
	var ops []string
	var quorum int
	cmd := &cobra.Command{
		Use:   "operators --operator NAME=PUBLIC_KEY ... --quorum N",
		Short: "Change the roster's operators or quorum (signed by a quorum of the current ones)",
		Long: `Signs a set_operators entry: the full new list of operators (each
--operator NAME=PUBLIC_KEY, the key 'mpcctl operator show' prints on that
operator's machine; list this operator too if it stays) and the new quorum.
A quorum of the operators in office now must sign it (the others run
'mpcctl roster sign ID'); from then on only the new operators count, so a
removed operator's key signs nothing more. Use it to add an operator, retire
one whose key is lost or compromised, or change the quorum.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list []roster.Operator
			for _, s := range ops {
				op, err := parseOperator(s)
				if err != nil {
					return err
				}
				list = append(list, op)
			}
			if len(list) == 0 {
				return fmt.Errorf("give the full new list of operators with --operator NAME=PUBLIC_KEY (this operator too, if it stays)")
			}
			k, err := o.load()
			if err != nil {
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
			b := st.Next(roster.KindSetOperators, time.Now())
			b.Operators, b.Quorum = list, quorum
			e, resp, err := signSubmit(ctx, c, o.dir, st, b, k)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.asJSON {
				return printJSON(w, outcomeJSON(e, resp))
			}
			fmt.Fprintf(w, "set_operators entry signed as %s: quorum %d of\n", k.Name(), quorum)
			for _, op := range list {
				stays := ""
				if slices.ContainsFunc(st.Operators(), func(x roster.Operator) bool { return string(x.Key) == string(op.Key) }) {
					stays = " (in office now)"
				}
				fmt.Fprintf(w, "  %-20s %s%s\n", op.Name, keyfile.Fingerprint(op.Key), stays)
			}
			printOutcome(w, e, resp)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&ops, "operator", nil, "an operator of the new list, NAME=PUBLIC_KEY (repeat for each)")
	cmd.Flags().IntVar(&quorum, "quorum", 1, "how many of the new operators must sign each entry")
	o.register(cmd.Flags())
	return cmd
}
