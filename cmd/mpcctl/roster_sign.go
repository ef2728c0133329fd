package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newRosterSignCmd(g *globals) *cobra.Command {
	var signOps operatorFlags
	signCmd := &cobra.Command{
		Use:   "sign ID",
		Short: "Sign a roster entry that waits for operator signatures (ID: a prefix of its hash)",
		Long: `Finds the pending entry whose hash starts with ID ('mpcctl roster pending'
lists them), shows what it does, checks that it extends the roster this
operator verified, signs it with this operator's key and submits it. It is
appended once enough operators signed it.

A genesis waiting for signatures is signed only if it is the genesis this
operator pinned ('mpcctl roster pin --genesis HASH').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRosterSign(cmd, g, &signOps, args[0])
		},
	}
	signOps.register(signCmd.Flags())
	return signCmd
}

func runRosterSign(cmd *cobra.Command, g *globals, o *operatorFlags, id string) error {
	prefix := strings.ToLower(strings.TrimSpace(id))
	if _, err := hex.DecodeString(prefix + strings.Repeat("0", len(prefix)%2)); err != nil || prefix == "" || len(prefix) > 64 {
		return fmt.Errorf("ID %q: give a prefix of the entry's hash, as 'mpcctl roster pending' lists it", id)
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
	resp, err := c.GetRoster(ctx, &mpcv1.GetRosterRequest{FromHeight: 0})
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if !resp.GetExists() {
		return signGenesis(w, g.asJSON, ctx, c, o, k, prefix, id, entriesFromProto(resp.GetPending()))
	}
	v, err := verifyResponse(o.dir, resp)
	if err != nil {
		return err
	}
	st := v.state
	e, err := pendingByPrefix(v.pending, prefix, id)
	if err != nil {
		return err
	}
	b, err := roster.DecodeBody(e.Body)
	if err != nil {
		return fmt.Errorf("entry %s is malformed (%w): do not sign it", id, err)
	}
	names, _, err := st.Signers(e)
	if err != nil {
		return fmt.Errorf("entry %s does not extend the roster this operator verified (%w): do not sign it", entryID(e.Hash()), err)
	}
	if !g.asJSON {
		printEntryDetail(w, e, b, st, names)
	}
	if !isOperator(st.Operators(), k.PublicKey()) {
		return fmt.Errorf("this operator's key (%s, fingerprint %s) is not one of the roster's operators: only they can sign its entries", k.Name(), keyfile.Fingerprint(k.PublicKey()))
	}
	// A co-signature joins an operator's: an entry no operator signed yet
	// came from the coordinator (which may be hostile), and a co-signer
	// cannot check a device's short authentication string.
	if operatorCount(names) == 0 {
		return fmt.Errorf("no operator has signed entry %s yet: it did not come from one of you, do not sign it (an operator starts an entry with 'mpcctl devices approve', 'devices revoke', 'roster operators' or 'requesters create|grant|revoke')", entryID(e.Hash()))
	}
	e.Sign(k)
	if _, _, err := st.Signers(e); err != nil {
		return fmt.Errorf("the roster would refuse the signed entry: %w", err)
	}
	sub, err := submitEntry(ctx, c, o.dir, st, e, b)
	if err != nil {
		return err
	}
	if g.asJSON {
		out := outcomeJSON(e, sub)
		out["entry"] = bodyJSON(b, st)
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "signed as %s\n", k.Name())
	printOutcome(w, e, sub)
	if sub.GetAppended() && b.Kind == roster.KindRevokeDevice {
		fmt.Fprintln(w, "the device is revoked; its keys are reshared in the background ('mpcctl keys jobs' shows them)")
	}
	return nil
}

// pendingByPrefix finds the one entry of pending whose hash starts with
// prefix (id as the operator gave it, for the errors).
func pendingByPrefix(pending []roster.Entry, prefix, id string) (roster.Entry, error) {
	var found []roster.Entry
	for _, e := range pending {
		if strings.HasPrefix(e.Hash().String(), prefix) {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return roster.Entry{}, fmt.Errorf("no roster entry %s waits for signatures: 'mpcctl roster pending' lists those that do", id)
	case 1:
		return found[0], nil
	}
	return roster.Entry{}, fmt.Errorf("%d pending entries start with %s: give more of the hash", len(found), id)
}

// signGenesis signs a genesis that waits for signatures, if it is the one
// this operator pinned.
func signGenesis(w io.Writer, asJSON bool, ctx context.Context, c mpcv1.AdminServiceClient, o *operatorFlags, k *keyfile.Key,
	prefix, id string, pending []roster.Entry) error {
	pin, err := loadPin(o.dir)
	if err != nil {
		return err
	}
	if pin.height > 0 {
		return fmt.Errorf("DANGER: %w: the coordinator says it has no roster, but this operator verified roster %s up to height %d. %s",
			roster.ErrRollback, pin.genesis, pin.height, dangerAdvice)
	}
	e, err := pendingByPrefix(pending, prefix, id)
	if err != nil {
		return fmt.Errorf("the coordinator has no roster yet, and %w", err)
	}
	if e.Hash() != pin.genesis {
		return fmt.Errorf("entry %s is not the genesis this operator pinned (%s): do not sign it; compare the hash with the operator who created the roster", e.Hash(), pin.genesis)
	}
	b, err := roster.DecodeBody(e.Body)
	if err != nil {
		return fmt.Errorf("the pending genesis is malformed (%w): do not sign it", err)
	}
	names, need, err := roster.GenesisSigners(e)
	if err != nil {
		return fmt.Errorf("the pending genesis does not verify (%w): do not sign it", err)
	}
	if !isOperator(b.Operators, k.PublicKey()) {
		return fmt.Errorf("this operator's key (%s, fingerprint %s) is not one of the genesis's operators", k.Name(), keyfile.Fingerprint(k.PublicKey()))
	}
	if !asJSON {
		fmt.Fprintf(w, "entry %s (height 0): genesis\n  %s\n  signed by: %s (quorum %d)\n", entryID(e.Hash()), entryText.Describe(b, nil), signedByText(names), need)
		for _, op := range b.Operators {
			fmt.Fprintf(w, "  operator %-20s %s\n", op.Name, keyfile.Fingerprint(op.Key))
		}
	}
	e.Sign(k)
	sub, err := c.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(e)})
	if err != nil {
		return err
	}
	if asJSON {
		out := outcomeJSON(e, sub)
		out["entry"] = bodyJSON(b, nil)
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "signed as %s\n", k.Name())
	printOutcome(w, e, sub)
	return nil
}

// printEntryDetail says what an entry about to be signed does.
func printEntryDetail(w io.Writer, e roster.Entry, b roster.Body, st *roster.State, names []string) {
	fmt.Fprintf(w, "entry %s (height %d): %s\n  %s\n", entryID(e.Hash()), b.Height, b.Kind, entryText.Describe(b, st))
	switch {
	case b.Device != nil:
		fmt.Fprintf(w, "  device id: %s (compare with 'party status' on the device)\n", b.Device.ID)
	case b.DeviceID != "":
		fmt.Fprintf(w, "  device id: %s\n", b.DeviceID)
	}
	for _, op := range b.Operators {
		fmt.Fprintf(w, "  operator %-20s %s\n", op.Name, keyfile.Fingerprint(op.Key))
	}
	fmt.Fprintf(w, "  signed by: %s (quorum %d)\n", signedByText(names), st.Quorum())
}

func newRosterAddDeviceCmd(g *globals) *cobra.Command {
	var addOps operatorFlags
	var addID string
	addCmd := &cobra.Command{
		Use:   "add-device NAME --device-id ID",
		Short: "Put a device approved before the roster existed on the roster",
		Long: `Adopts a device the coordinator approved before the roster existed: signs an
add_device entry with the keys the device enrolled with. --device-id is the
full device id read on the device itself ('party status'), not from the
coordinator: it must match both the coordinator's record and the device's
identity key, so that the coordinator cannot put another key in its place.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRosterAddDevice(cmd, g, &addOps, args[0], addID)
		},
	}
	addCmd.Flags().StringVar(&addID, "device-id", "", "the device's full id, as 'party status' shows it on the device (required)")
	_ = addCmd.MarkFlagRequired("device-id")
	addOps.register(addCmd.Flags())
	return addCmd
}

func runRosterAddDevice(cmd *cobra.Command, g *globals, o *operatorFlags, name, wantID string) error {
	wantID = strings.ToLower(strings.TrimSpace(wantID))
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
	devs, err := adminview.Devices(ctx, c)
	if err != nil {
		return err
	}
	var d *mpcv1.Device
	var ids []string
	for _, x := range devs {
		if x.GetName() != name {
			continue
		}
		ids = append(ids, x.GetId())
		if x.GetId() == wantID {
			d = x
		}
	}
	switch {
	case len(ids) == 0:
		return fmt.Errorf("the coordinator has no device %q ('mpcctl devices list' shows them)", name)
	case d == nil:
		return fmt.Errorf("the coordinator's device %q has id %s, not the --device-id %s read on the device: do not adopt it; check the id with 'party status' on the device", name, strings.Join(ids, ", "), wantID)
	}
	if got := identity.DeviceID(d.GetIdentityPublicKey()); got != wantID {
		return fmt.Errorf("the identity key the coordinator reports for %q gives device id %s, not %s: do not adopt it, the coordinator may be substituting another key", name, got, wantID)
	}
	if _, ok := st.Device(wantID); ok {
		return fmt.Errorf("device %q (%s) is on the roster already ('mpcctl roster show')", name, wantID)
	}
	switch d.GetStatus() {
	case mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE:
	case mpcv1.DeviceStatus_DEVICE_STATUS_PENDING:
		return fmt.Errorf("device %q is pending: approve it with 'mpcctl devices approve %s --sas SAS' (comparing the string the device shows)", name, name)
	default:
		return fmt.Errorf("device %q is %s: it cannot be put on the roster", name, statusName(d.GetStatus()))
	}
	b := st.Next(roster.KindAddDevice, time.Now())
	b.Device = &roster.Device{ID: wantID, Name: name, IdentityKey: d.GetIdentityPublicKey(), EncryptionKey: d.GetEncryptionPublicKey()}
	e, sub, err := signSubmit(ctx, c, o.dir, st, b, k)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		out := outcomeJSON(e, sub)
		out["entry"] = bodyJSON(b, st)
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "device %q (%s): add_device entry signed as %s\n", name, wantID, k.Name())
	printOutcome(w, e, sub)
	return nil
}
