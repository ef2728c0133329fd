package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// longTimeout is the default deadline of commands that run a reshare
// (a protocol as heavy as keygen), unless --timeout is given.
const longTimeout = 15 * time.Minute

func (g *globals) adminLong(cmd *cobra.Command) (mpcv1.AdminServiceClient, func(), context.Context, error) {
	if !cmd.Flags().Changed("timeout") {
		g.timeout = max(g.timeout, longTimeout)
	}
	return g.admin(cmd)
}

// newReshareCmd is 'mpcctl keys reshare'.
func newReshareCmd(g *globals) *cobra.Command {
	var devices []string
	var threshold uint32
	var cer ceremonyFlags
	cmd := &cobra.Command{
		Use:   "reshare KEY_ID [--devices A,B,C] [--threshold T]",
		Short: "Move a key to a new committee and threshold, with the same public key",
		Long: `Reshares the key: t+1 current holders hand fresh shares to the new committee
(tss-lib resharing), the public key and every address stay the same, and the
old shares stop working.

It is a two-phase commit: the new holders store their shares as pending, the
coordinator checks that every one of them reports the key's public key and
only then records the new epoch as committed; the old holders then erase
their shares. If anything fails before that point, the key stays as it was.
Afterwards a test digest is signed with the new shares and checked.

Every device of the new committee must be online with a pre-parameter set
ready. --devices defaults to the current holders, --threshold to the key's.

Once the coordinator has a roster, the reshare runs only under the operators'
signed authorization of exactly this key, epoch, thresholds and committees.
mpcctl verifies the roster from this operator's pin (--operator-dir),
resolves --devices on it (each must be active there), signs the reshare
ceremony with the operator key (valid for --valid-for) and sends it. Its old
committee is the key's holders that are active on the roster. With a quorum
above one, write it with --authorization-out FILE, have the other operators
sign it (mpcctl ceremony sign) and run again with --authorization FILE. A
revocation's background reshare that is blocked for want of a valid plan is
done this way too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var newT *uint32
			if cmd.Flags().Changed("threshold") {
				newT = &threshold
			}
			return runKeysReshare(cmd, g, &cer, args[0], devices, newT)
		},
	}
	cmd.Flags().StringSliceVar(&devices, "devices", nil, "device names or ids of the new committee, comma separated (default: the current holders)")
	cmd.Flags().Uint32Var(&threshold, "threshold", 0, "new tss-lib threshold t (default: keep the key's)")
	cer.register(cmd.Flags(), "reshare")
	return cmd
}

// runKeysReshare reshares keyID to devices (nil: its holders) with the
// threshold newT (nil: the key's).
func runKeysReshare(cmd *cobra.Command, g *globals, cer *ceremonyFlags, keyID string, devices []string, newT *uint32) error {
	if err := cer.check(); err != nil {
		return err
	}
	c, done, ctx, err := g.adminLong(cmd)
	if err != nil {
		return err
	}
	defer done()
	req := &mpcv1.ReshareKeyRequest{KeyId: keyID, Devices: devices, Threshold: newT}
	signer, err := cer.open(ctx, c)
	if err != nil {
		return err
	}
	if signer.withRoster() {
		k, err := c.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: keyID})
		if err != nil {
			return err
		}
		want, ids, err := reshareCeremony(signer.st, k.GetKey(), devices, req.Threshold)
		if err != nil {
			return err
		}
		auth, written, err := signer.authorize(infoWriter(cmd, g), want)
		if err != nil || written {
			return err
		}
		// Ids, not names: the coordinator runs the committee signed.
		req.KeyId, req.Devices, req.Authorization = k.GetKey().GetId(), ids, auth
	}
	stop := adminview.ShowPreparing(ctx, c, req.Devices, cmd.ErrOrStderr())
	resp, err := c.ReshareKey(ctx, req)
	stop()
	if err != nil {
		return err
	}
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{"key": keyJSON(resp.GetKey()), "report": reportJSON(resp.GetReport())})
	}
	printReport(cmd.OutOrStdout(), resp.GetReport())
	if !resp.GetReport().GetOk() {
		return errors.New(resp.GetReport().GetError())
	}
	return nil
}

// newJobsCmd is 'mpcctl keys jobs'.
func newJobsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "jobs",
		Short: "Show the background reshares started by device revocations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listItems(cmd, g, func(ctx context.Context, c mpcv1.AdminServiceClient) ([]*mpcv1.ReshareJob, error) {
				resp, err := c.ListReshareJobs(ctx, &mpcv1.ListReshareJobsRequest{})
				return resp.GetJobs(), err
			}, jobJSON, printJobs)
		},
	}
}

// printJobs is the text of 'keys jobs': a line per job.
func printJobs(w io.Writer, jobs []*mpcv1.ReshareJob) error {
	for _, j := range jobs {
		fmt.Fprintln(w, adminview.JobLine(j))
	}
	return nil
}

// drillFlags are the flags of 'mpcctl drill'.
type drillFlags struct {
	keyID    string
	all      bool
	standing bool
	cer      ceremonyFlags
}

func newDrillCmd(g *globals) *cobra.Command {
	var f drillFlags
	cmd := &cobra.Command{
		Use:   "drill (--key ID | --all)",
		Short: "Resharing drill: refresh a key's shares on its own committee and prove it still signs",
		Long: `A drill reshares a key to its own committee and threshold (a proactive
refresh: every share changes, the public key does not), checks the public key
is unchanged, signs a test digest with the new shares and verifies it. It
prints a report: the devices that took part, each step's time and the result.

A drill that fails before its commit point leaves the key as it was and says
why. Each drill is in the audit log. With --all, every key is drilled in turn;
the command fails if any drill failed. --json prints the reports for
schedulers.

Once the coordinator has a roster, each drill runs only under the operators'
signed authorization of exactly this key, epoch, threshold and committee.
mpcctl verifies the roster from this operator's pin (--operator-dir), signs
each drill ceremony with the operator key (valid for --valid-for) and sends
it; every holder must be active on the roster. With a quorum above one,
write it with --key ID --authorization-out FILE, have the other operators
sign it (mpcctl ceremony sign) and run again with --authorization FILE.

For drills on a schedule, sign a standing authorization once:
'mpcctl drill --key ID --standing --valid-for 2160h --authorization-out FILE'
(and have the other operators sign it); it holds for any epoch of the key
within its window and for this committee and threshold only, so the
scheduler runs 'mpcctl drill --key ID --authorization FILE' without an
operator key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDrill(cmd, g, &f)
		},
	}
	cmd.Flags().StringVar(&f.keyID, "key", "", "key id to drill")
	cmd.Flags().BoolVar(&f.all, "all", false, "drill every key")
	cmd.Flags().BoolVar(&f.standing, "standing", false, "with a roster and --authorization-out: sign a standing drill authorization of the key, valid for any epoch within --valid-for (at most 400 days), for a scheduler that runs 'mpcctl drill --key ID --authorization FILE'")
	f.cer.register(cmd.Flags(), "drill")
	return cmd
}

// check refuses contradicting flags before anything is contacted.
func (f *drillFlags) check() error {
	if (f.keyID == "") == !f.all {
		return errors.New("give either --key ID or --all")
	}
	if f.all && (f.cer.in != "" || f.cer.out != "") {
		return errors.New("--authorization and --authorization-out are for one key: give --key ID, not --all")
	}
	if err := f.cer.check(); err != nil {
		return err
	}
	if f.standing && (f.all || f.cer.out == "") {
		return errors.New("--standing signs a standing authorization of one key for a scheduler: give --key ID and --authorization-out FILE")
	}
	return nil
}

func runDrill(cmd *cobra.Command, g *globals, f *drillFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	c, done, ctx, err := g.adminLong(cmd)
	if err != nil {
		return err
	}
	defer done()
	signer, err := f.cer.open(ctx, c)
	if err != nil {
		return err
	}
	if f.all && signer.withRoster() {
		// Refuse once, not once per key.
		if q := signer.st.Quorum(); q > 1 {
			return fmt.Errorf("the roster's quorum is %d operators: this operator's signature alone does not authorize a drill. Drill one key at a time with --key ID --authorization-out FILE, have %d other operator(s) sign it (mpcctl ceremony sign --in FILE --out FILE), then run 'mpcctl drill --key ID --authorization FILE'", q, q-1)
		}
		if _, err := signer.signer(); err != nil {
			return err
		}
	}
	keys := []string{f.keyID}
	known := map[string]*mpcv1.Key{}
	if f.all {
		all, err := adminview.Keys(ctx, c, 0)
		if err != nil {
			return err
		}
		keys = nil
		for _, k := range all {
			keys = append(keys, k.GetId())
			known[k.GetId()] = k
		}
	}
	// authorize signs the drill of a key (with a roster).
	authorize := func(id string) (*mpcv1.Authorization, bool, error) {
		if !signer.withRoster() {
			return nil, false, nil
		}
		k := known[id]
		if k == nil {
			resp, err := c.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: id})
			if err != nil {
				return nil, false, err
			}
			k = resp.GetKey()
		}
		want, err := drillCeremony(signer.st, k)
		if err != nil {
			return nil, false, err
		}
		if f.standing && f.cer.in == "" {
			// For any epoch, so a scheduler can drill again and again.
			want.Standing, want.Epoch = true, 0
		}
		return signer.authorize(infoWriter(cmd, g), want)
	}
	return drillKeys(cmd, g, ctx, c, keys, f.all, authorize)
}

// drillKeys drills each key in turn, under the authorization authorize
// returns for it (written: it only wrote one, and nothing is run). With
// all, a failed drill does not stop the others.
func drillKeys(cmd *cobra.Command, g *globals, ctx context.Context, c mpcv1.AdminServiceClient, keys []string, all bool,
	authorize func(id string) (*mpcv1.Authorization, bool, error)) error {
	var reports []map[string]any
	failed := 0
	for _, id := range keys {
		auth, written, err := authorize(id)
		if written {
			return nil
		}
		var resp *mpcv1.DrillKeyResponse
		if err == nil {
			resp, err = c.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: id, Authorization: auth})
		}
		if err != nil {
			if !all {
				return err
			}
			failed++
			reports = append(reports, map[string]any{"key_id": id, "ok": false, "error": err.Error()})
			if !g.asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "drill of %s: FAILED: %v\n\n", id, err)
			}
			continue
		}
		rep := resp.GetReport()
		if !rep.GetOk() {
			failed++
		}
		reports = append(reports, reportJSON(rep))
		if !g.asJSON {
			printReport(cmd.OutOrStdout(), rep)
			fmt.Fprintln(cmd.OutOrStdout())
		}
	}
	if g.asJSON {
		if err := printJSON(cmd.OutOrStdout(), reports); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d drills failed", failed, len(keys))
	}
	return nil
}

// reportResult is a reshare report's outcome in a few words.
func reportResult(r *mpcv1.ReshareReport) string {
	if r.GetOk() {
		return "ok"
	}
	result := "FAILED: " + r.GetError()
	if !r.GetCommitted() {
		result += " (the key is unchanged)"
	}
	return result
}

func printReport(w io.Writer, r *mpcv1.ReshareReport) {
	fmt.Fprintf(w, "key %s: epoch %d -> %d: %s\n", r.GetKeyId(), r.GetFromEpoch(), r.GetToEpoch(), reportResult(r))
	fmt.Fprintf(w, "  old committee: %s (t=%d)\n", strings.Join(r.GetOldCommittee(), ", "), r.GetOldThreshold())
	fmt.Fprintf(w, "  new committee: %s (t=%d)\n", strings.Join(r.GetNewCommittee(), ", "), r.GetNewThreshold())
	fmt.Fprintf(w, "  public key:    %x (unchanged)\n", r.GetPublicKey())
	for _, s := range r.GetSteps() {
		mark := "ok"
		if !s.GetOk() {
			mark = "FAILED"
		}
		line := fmt.Sprintf("  %-18s %8s  %s", s.GetName(), (time.Duration(s.GetDurationMs()) * time.Millisecond).String(), mark)
		if s.GetDetail() != "" {
			line += ": " + s.GetDetail()
		}
		fmt.Fprintln(w, line)
	}
	if len(r.GetTestSignature()) > 0 {
		fmt.Fprintf(w, "  test signature %x over digest %x\n", r.GetTestSignature(), r.GetTestDigest())
	}
}

func reportJSON(r *mpcv1.ReshareReport) map[string]any {
	if r == nil {
		return nil
	}
	steps := []map[string]any{}
	for _, s := range r.GetSteps() {
		steps = append(steps, map[string]any{"name": s.GetName(), "duration_ms": s.GetDurationMs(), "ok": s.GetOk(), "detail": s.GetDetail()})
	}
	return map[string]any{
		"key_id": r.GetKeyId(), "kind": r.GetKind(), "ok": r.GetOk(), "error": r.GetError(), "committed": r.GetCommitted(),
		"from_epoch": r.GetFromEpoch(), "to_epoch": r.GetToEpoch(), "old_threshold": r.GetOldThreshold(), "new_threshold": r.GetNewThreshold(),
		"old_committee": r.GetOldCommittee(), "new_committee": r.GetNewCommittee(), "public_key": hex.EncodeToString(r.GetPublicKey()),
		"test_digest": hex.EncodeToString(r.GetTestDigest()), "test_signature": hex.EncodeToString(r.GetTestSignature()), "steps": steps,
	}
}

func jobJSON(j *mpcv1.ReshareJob) map[string]any {
	return map[string]any{"key_id": j.GetKeyId(), "state": adminview.JobState(j.GetState()), "reason": j.GetReason(), "detail": j.GetDetail(),
		"attempts": j.GetAttempts(), "new_committee": j.GetNewCommittee(), "new_threshold": j.GetNewThreshold(), "epoch": j.GetEpoch(),
		"updated_at": j.GetUpdatedAt().AsTime()}
}
