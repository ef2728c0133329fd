package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newRosterInitCmd(g *globals) *cobra.Command {
	var initOps operatorFlags
	var extraOps []string
	var quorum int
	var deviceApproval bool
	initCmd := &cobra.Command{
		Use:   "init [--operator NAME=PUBLIC_KEY ...] [--quorum N]",
		Short: "Create the roster: sign its genesis with this operator's key and submit it",
		Long: `Builds the roster's genesis entry: this operator (the name and key of its key
file) plus every --operator, and the quorum (how many of them must sign each
later entry). Signs it, submits it to the coordinator and pins it here.

Devices paired from then on pin its hash (it is in every pairing code). The
other operators pin it with 'mpcctl roster pin --genesis HASH', taking the
hash from you over another channel. With a quorum above 1 the genesis waits
until enough operators signed it with 'mpcctl roster sign'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRosterInit(cmd, g, &initOps, extraOps, quorum, deviceApproval)
		},
	}
	initCmd.Flags().StringArrayVar(&extraOps, "operator", nil, "another operator, as NAME=PUBLIC_KEY (hex, from 'mpcctl operator show' on their machine); repeat for each")
	initCmd.Flags().IntVar(&quorum, "quorum", 1, "how many operators must sign each roster entry")
	initCmd.Flags().BoolVar(&deviceApproval, "device-approval", false, "let an active device approve a new device in place of the operators (fixed for the roster's life)")
	initOps.register(initCmd.Flags())
	return initCmd
}

func runRosterInit(cmd *cobra.Command, g *globals, o *operatorFlags, extra []string, quorum int, deviceApproval bool) error {
	ops := make([]roster.Operator, 0, 1+len(extra))
	var parsed []roster.Operator
	for _, s := range extra {
		op, err := parseOperator(s)
		if err != nil {
			return err
		}
		parsed = append(parsed, op)
	}
	if old, err := loadPin(o.dir); err == nil {
		return fmt.Errorf("this operator pinned roster %s already (%s): an institution has one roster; if that one was abandoned, remove the file first", old.genesis, pinPath(o.dir))
	} else if !errors.Is(err, errNoPin) {
		return err
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	ops = append(ops, roster.Operator{Name: k.Name(), Key: k.PublicKey()})
	ops = append(ops, parsed...)
	genesis, err := roster.NewGenesis(ops, quorum, deviceApproval, time.Now())
	if err != nil {
		return fmt.Errorf("%w: check --operator and --quorum (1 to the number of operators, this one included)", err)
	}
	genesis.Sign(k)

	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	cur, err := c.GetRoster(ctx, &mpcv1.GetRosterRequest{FromHeight: 0})
	if err != nil {
		return err
	}
	if cur.GetExists() {
		gh := "?"
		if len(cur.GetEntries()) > 0 {
			gh = roster.EntryFromProto(cur.GetEntries()[0]).Hash().String()
		}
		return fmt.Errorf("the coordinator has a roster already (genesis %s, height %d): to join it, pin its genesis with 'mpcctl roster pin --genesis HASH', taking the hash from the operator who created it (not from the coordinator)", gh, cur.GetHeight())
	}
	resp, err := c.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(genesis)})
	if err != nil {
		return err
	}
	h := genesis.Hash()
	if err := savePin(o.dir, rosterPin{genesis: h, height: 0, head: h}); err != nil {
		return fmt.Errorf("the genesis %s was submitted, but pinning it failed (%w): run 'mpcctl roster pin --genesis %s'", h, err, h)
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		out := outcomeJSON(genesis, resp)
		out["genesis"] = h.String()
		b, _ := roster.DecodeBody(genesis.Body)
		out["operators"] = bodyJSON(b, nil)["operators"]
		out["quorum"] = quorum
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "roster genesis: %s\n\noperators (quorum %d):\n", h, quorum)
	for _, op := range ops {
		fmt.Fprintf(w, "  %-20s %s\n", op.Name, keyfile.Fingerprint(op.Key))
	}
	fmt.Fprintln(w)
	if resp.GetAppended() {
		fmt.Fprintln(w, "The roster exists now. Devices paired from now on pin this genesis (it is in every pairing code).")
	} else {
		fmt.Fprintf(w, "The genesis waits for more operator signatures: signed by %s; the quorum is %d.\n", signedByText(resp.GetSignedBy()), resp.GetQuorum())
		fmt.Fprintf(w, "Each other operator runs, after pinning it: mpcctl roster sign %s\n", entryID(h))
	}
	fmt.Fprintf(w, "Give the hash to the other operators over another channel than the coordinator; each runs:\n  mpcctl roster pin --genesis %s\n", h)
	fmt.Fprintln(w, "Devices approved before the roster existed are not on it yet: adopt each with 'mpcctl roster add-device NAME --device-id ID'.")
	return nil
}

func newRosterPinCmd(g *globals) *cobra.Command {
	var pinOps operatorFlags
	var genesis string
	var force bool
	pinCmd := &cobra.Command{
		Use:   "pin --genesis HASH",
		Short: "Pin the roster's genesis hash (from the operator who created it) for this operator",
		Long: `Records the roster's genesis hash in --operator-dir/` + rosterPinName + `. Take the hash from
the operator who ran 'mpcctl roster init', over another channel than the
coordinator. From then on every roster command verifies the coordinator's
roster from it. Pinning the same genesis again keeps what was verified;
another genesis needs --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRosterPin(cmd, g, pinOps.dir, genesis, force)
		},
	}
	pinCmd.Flags().StringVar(&genesis, "genesis", "", "the roster's genesis hash (64 hex digits) (required)")
	pinCmd.Flags().BoolVar(&force, "force", false, "replace a pin of another roster")
	_ = pinCmd.MarkFlagRequired("genesis")
	pinOps.registerDir(pinCmd.Flags())
	return pinCmd
}

func runRosterPin(cmd *cobra.Command, g *globals, dir, genesis string, force bool) error {
	h, err := roster.ParseHash(strings.TrimSpace(genesis))
	if err != nil {
		return fmt.Errorf("--genesis: %v (the 64 hex digits 'mpcctl roster init' printed)", err)
	}
	w := cmd.OutOrStdout()
	old, err := loadPin(dir)
	switch {
	case err == nil && old.genesis == h:
		if g.asJSON {
			return printJSON(w, map[string]any{"genesis": h.String(), "height": old.height, "head": old.head.String(), "changed": false})
		}
		fmt.Fprintf(w, "roster %s is pinned already (verified up to height %d)\n", h, old.height)
		return nil
	case err == nil && !force:
		return fmt.Errorf("this operator pinned another roster (%s) in %s: pass --force to replace it, if that one is wrong", old.genesis, pinPath(dir))
	case err != nil && !errors.Is(err, errNoPin) && !force:
		return err
	}
	if err := savePin(dir, rosterPin{genesis: h, height: 0, head: h}); err != nil {
		return err
	}
	if g.asJSON {
		return printJSON(w, map[string]any{"genesis": h.String(), "height": 0, "head": h.String(), "changed": true})
	}
	fmt.Fprintf(w, "pinned roster genesis %s in %s\nnext: mpcctl roster verify (checks the coordinator's roster against it)\n", h, pinPath(dir))
	return nil
}
