package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// devicesRevokeFlags are the flags of 'devices revoke'.
type devicesRevokeFlags struct {
	replaceWith  string
	reason       string
	follow       time.Duration // --wait
	planValidFor time.Duration
	operators    operatorFlags
}

func newDevicesRevokeCmd(g *globals) *cobra.Command {
	var f devicesRevokeFlags
	revoke := &cobra.Command{
		Use:   "revoke DEVICE [--replace-with DEVICE] [--reason TEXT]",
		Short: "Revoke a device (by name or id) and reshare its keys without it",
		Long: `Marks the device revoked: its connection is closed at once and it can no
longer connect or sign. Then every key it held is reshared, in the background,
to the remaining holders (plus --replace-with, an active device that joins
every such key), keeping the threshold; the public keys do not change and the
revoked device's shares become useless.

The command shows each key's progress until all are done (or --wait passes;
--wait 0 returns at once). A key whose new committee has an offline device
stays pending and is retried when devices connect ('mpcctl keys jobs' shows
it). A key that lost too many holders to be reshared is reported as blocked,
with the reason.

Once a roster exists, the revocation is a roster entry signed with this
operator's key (--operator-dir): the device is revoked when enough operators
signed it. Below the quorum it waits; the others sign it with 'mpcctl roster
sign ID'.

With a roster, the coordinator reshares a key only under a plan the
operators signed: mpcctl signs one per key the device holds (a reshare
ceremony valid for --plan-valid-for), from the key's holders that stay
active on the verified roster to those plus --replace-with, at the same
threshold. A key with fewer than threshold+1 such holders left cannot be
reshared and gets no plan (a warning names it). With a quorum above one the
plans are not signed here: once the revocation is appended, each key's
reshare is blocked until the operators sign one (mpcctl keys reshare KEY
--devices ... --authorization-out FILE, mpcctl ceremony sign, mpcctl keys
reshare KEY --authorization FILE).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDevicesRevoke(cmd, g, &f, args[0])
		},
	}
	revoke.Flags().StringVar(&f.replaceWith, "replace-with", "", "an active device (name or id) that joins every key the revoked device held")
	revoke.Flags().DurationVar(&f.follow, "wait", 15*time.Minute, "how long to show the reshares' progress (0: return at once)")
	revoke.Flags().StringVar(&f.reason, "reason", "", "why the device is revoked, recorded in the roster entry")
	revoke.Flags().DurationVar(&f.planValidFor, "plan-valid-for", 7*24*time.Hour, "with a roster: how long the signed reshare plan of each key stays valid (the background reshare is retried under it until then)")
	f.operators.register(revoke.Flags())
	return revoke
}

// revocation is a revocation on a roster: the verified roster, the signed
// revoke_device entry and the reshare plans signed with it (or, with a
// quorum above one, the note saying why there are none).
type revocation struct {
	st       *roster.State
	entry    roster.Entry
	body     roster.Body
	plans    []revokePlan
	planNote string
}

func runDevicesRevoke(cmd *cobra.Command, g *globals, f *devicesRevokeFlags, ref string) error {
	if err := checkValidity("--plan-valid-for", f.planValidFor); err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	w := cmd.OutOrStdout()
	req := &mpcv1.RevokeDeviceRequest{Device: ref, ReplaceWith: f.replaceWith}
	r, withRoster, err := rosterInUse(ctx, c, f.operators.dir)
	if err != nil {
		return err
	}
	var rv *revocation // nil: no roster
	if withRoster {
		if rv, err = signRevocation(cmd.ErrOrStderr(), ctx, c, f, r, ref, req); err != nil {
			return err
		}
	} else if f.reason != "" {
		return errors.New("--reason is recorded in the roster, and this coordinator has none: leave it out (or create the roster first: mpcctl roster init)")
	}
	resp, err := c.RevokeDevice(ctx, req)
	if err != nil {
		return err
	}
	if rv != nil && !g.asJSON {
		for _, p := range rv.plans {
			fmt.Fprintln(w, p.line(rv.st, f.planValidFor))
		}
		if rv.planNote != "" {
			fmt.Fprintln(w, rv.planNote)
		}
	}
	if rv != nil {
		if err := advancePin(f.operators.dir, rv.st, rv.entry, rv.body, resp.GetRoster()); err != nil {
			return err
		}
		if !resp.GetRoster().GetAppended() {
			if g.asJSON {
				return printJSON(w, rv.withOutcome(deviceJSON(resp.GetDevice()), resp))
			}
			fmt.Fprintf(w, "revocation of device %q (%s) signed; it takes effect once enough operators signed it\n", resp.GetDevice().GetName(), rv.body.DeviceID)
			printOutcome(w, rv.entry, resp.GetRoster())
			return nil
		}
	}
	return followRevocation(cmd, g, c, f.follow, rv, resp)
}

// signRevocation verifies the roster, signs the revoke_device entry of ref
// and, with a quorum of one, the reshare plan of each key it holds, and
// puts them in req.
func signRevocation(errw io.Writer, ctx context.Context, c mpcv1.AdminServiceClient, f *devicesRevokeFlags, r *mpcv1.GetRosterResponse, ref string, req *mpcv1.RevokeDeviceRequest) (*revocation, error) {
	rv := &revocation{}
	var k *keyfile.Key
	var err error
	if rv.st, rv.entry, rv.body, k, err = revokeEntry(&f.operators, r, ref, f.reason); err != nil {
		return nil, err
	}
	st, body := rv.st, rv.body
	req.Device, req.RosterEntry = body.DeviceID, roster.EntryProto(rv.entry)
	replID := ""
	if f.replaceWith != "" {
		d, err := resolveActive(st, f.replaceWith)
		if err != nil {
			return nil, fmt.Errorf("--replace-with: %w", err)
		}
		if d.ID == body.DeviceID {
			return nil, fmt.Errorf("--replace-with %q is the device being revoked", f.replaceWith)
		}
		replID, req.ReplaceWith = d.ID, d.ID
	}
	if st.Quorum() > 1 {
		rv.planNote = fmt.Sprintf("the roster's quorum is %d: no reshare plan was signed with this revocation (one operator's signature is not enough); once it is appended, each key it holds waits for a plan: mpcctl keys reshare KEY --devices ... --authorization-out FILE, the other operators run mpcctl ceremony sign --in FILE, then mpcctl keys reshare KEY --authorization FILE", st.Quorum())
		return rv, nil
	}
	keys, err := adminview.Keys(ctx, c, 0)
	if err != nil {
		return nil, err
	}
	name := body.DeviceID
	if d, ok := st.Device(body.DeviceID); ok {
		name = d.Name
	}
	if rv.plans, err = revokePlans(errw, st, k, keys, body.DeviceID, name, replID, f.planValidFor); err != nil {
		return nil, err
	}
	for _, p := range rv.plans {
		req.Plans = append(req.Plans, roster.AuthorizationProto(p.auth))
	}
	return rv, nil
}

// withOutcome adds to a revocation's JSON document the roster entry's
// outcome and the plans (nothing without a roster).
func (rv *revocation) withOutcome(out map[string]any, resp *mpcv1.RevokeDeviceResponse) map[string]any {
	if rv == nil {
		return out
	}
	out["roster"] = outcomeJSON(rv.entry, resp.GetRoster())
	ps := []map[string]any{}
	for _, p := range rv.plans {
		ps = append(ps, p.json(rv.st))
	}
	out["plans"] = ps
	if rv.planNote != "" {
		out["plan_note"] = rv.planNote
	}
	return out
}

// followRevocation reports a revocation in effect and, for up to follow,
// the progress of the reshares it started; rv is nil without a roster.
func followRevocation(cmd *cobra.Command, g *globals, c mpcv1.AdminServiceClient, follow time.Duration, rv *revocation, resp *mpcv1.RevokeDeviceResponse) error {
	w := cmd.OutOrStdout()
	var keys []string
	for _, j := range resp.GetJobs() {
		keys = append(keys, j.GetKeyId())
	}
	if !g.asJSON {
		if rv != nil {
			fmt.Fprintf(w, "revocation appended to the roster (height %d)\n", resp.GetRoster().GetHeight())
		}
		fmt.Fprintf(w, "device %q (%s) revoked\n", resp.GetDevice().GetName(), resp.GetDevice().GetId())
		if len(keys) == 0 {
			fmt.Fprintln(w, "it held no keys")
		} else {
			fmt.Fprintf(w, "resharing %d key(s) without it:\n", len(keys))
		}
	}
	if follow <= 0 || len(keys) == 0 {
		if g.asJSON {
			out := deviceJSON(resp.GetDevice())
			jobs := []map[string]any{}
			for _, j := range resp.GetJobs() {
				jobs = append(jobs, jobJSON(j))
			}
			out["reshare_jobs"] = jobs
			return printJSON(w, rv.withOutcome(out, resp))
		}
		for _, j := range resp.GetJobs() {
			fmt.Fprintln(w, "  "+adminview.JobLine(j))
		}
		return nil
	}
	fctx, cancel := context.WithTimeout(cmd.Context(), follow)
	defer cancel()
	var progress io.Writer = w
	if g.asJSON {
		progress = nil
	}
	finished, jobs, err := adminview.FollowJobs(fctx, c, progress, keys)
	if err != nil {
		return err
	}
	if g.asJSON {
		out := deviceJSON(resp.GetDevice())
		js := []map[string]any{}
		for _, j := range jobs {
			js = append(js, jobJSON(j))
		}
		out["reshare_jobs"] = js
		if err := printJSON(w, rv.withOutcome(out, resp)); err != nil {
			return err
		}
	}
	if !finished {
		return fmt.Errorf("some keys are still being reshared after %s; they continue in the background ('mpcctl keys jobs')", follow)
	}
	for _, j := range jobs {
		if j.GetState() == mpcv1.ReshareJobState_RESHARE_JOB_STATE_BLOCKED {
			return fmt.Errorf("key %s cannot be reshared: %s", j.GetKeyId(), j.GetDetail())
		}
	}
	return nil
}

// revokeEntry verifies the roster and signs a revoke_device entry for ref
// (a device id, or the name of an active device, on the roster). It
// returns the operator key too, for the reshare plans.
func revokeEntry(o *operatorFlags, r *mpcv1.GetRosterResponse, ref, reason string) (*roster.State, roster.Entry, roster.Body, *keyfile.Key, error) {
	v, err := verifyResponse(o.dir, r)
	if err != nil {
		return nil, roster.Entry{}, roster.Body{}, nil, err
	}
	st := v.state
	d, ok := st.Device(ref)
	if !ok || !d.Active {
		if byName, found := st.ActiveByName(ref); found {
			d, ok = byName, true
		}
	}
	switch {
	case !ok:
		return nil, roster.Entry{}, roster.Body{}, nil, fmt.Errorf("device %q is not on the roster ('mpcctl roster show' lists it): a device approved before the roster existed must be put on it first (mpcctl roster add-device NAME --device-id ID)", ref)
	case !d.Active:
		return nil, roster.Entry{}, roster.Body{}, nil, fmt.Errorf("device %q (%s) is revoked on the roster already (height %d)", d.Name, d.ID, d.RevokedAt)
	}
	k, err := o.load()
	if err != nil {
		return nil, roster.Entry{}, roster.Body{}, nil, err
	}
	b := st.Next(roster.KindRevokeDevice, time.Now())
	b.DeviceID, b.Reason = d.ID, reason
	e, err := signEntry(st, b, k)
	if err != nil {
		return nil, roster.Entry{}, roster.Body{}, nil, err
	}
	return st, e, b, k, nil
}

// revokePlan is the signed reshare plan of one key of a revoked device.
type revokePlan struct {
	key  *mpcv1.Key
	c    roster.Ceremony
	auth roster.Authorization
}

// revokePlans signs, with k, the reshare plan of each key that holds the
// revoked device: from its holders that stay active on st (all but the
// revoked device and any device not active there) to those plus replID
// (if set and not a holder already), at the key's threshold. A key with
// fewer than threshold+1 such holders cannot be reshared: it is skipped,
// with a warning on errw.
func revokePlans(errw io.Writer, st *roster.State, k *keyfile.Key, keys []*mpcv1.Key, revokedID, revokedName, replID string, validFor time.Duration) ([]revokePlan, error) {
	var plans []revokePlan
	for _, key := range keys {
		if err := attestedHolders(st, key); err != nil {
			return nil, err
		}
		var holders, stay, gone []string
		for _, h := range key.GetHolders() {
			holders = append(holders, h.GetDeviceId())
			if h.GetDeviceId() == revokedID || !st.Active(h.GetDeviceId()) {
				gone = append(gone, h.GetDeviceName())
				continue
			}
			stay = append(stay, h.GetDeviceId())
		}
		if !slices.Contains(holders, revokedID) {
			continue
		}
		t := int(key.GetThreshold())
		if len(stay) < t+1 {
			fmt.Fprintf(errw, "warning: key %s cannot be reshared: it needs %d of its holders and only %d stay active (leaving: %s); no plan is signed for it: restore a backup share on a new device\n",
				key.GetId(), t+1, len(stay), strings.Join(gone, ", "))
			continue
		}
		newC := slices.Clone(stay)
		if replID != "" && !slices.Contains(holders, replID) {
			newC = append(newC, replID)
		}
		want := roster.Ceremony{Kind: roster.CeremonyReshare, KeyID: key.GetId(), Curve: rosterCurve(key.GetCurve()), Epoch: key.GetEpoch(),
			Threshold: t, Committee: stay, NewThreshold: t, NewCommittee: newC, Reason: "revoke " + revokedName}
		a, err := signCeremony(st, k, want, validFor)
		if err != nil {
			return nil, fmt.Errorf("the reshare plan of key %s: %w", key.GetId(), err)
		}
		plans = append(plans, revokePlan{key: key, c: want, auth: a})
	}
	return plans, nil
}

func (p revokePlan) line(st *roster.State, validFor time.Duration) string {
	return fmt.Sprintf("reshare plan of key %s signed (authorization %s, valid for %s): %s (t=%d) -> %s (t=%d)",
		p.key.GetId(), entryID(p.auth.Hash()), validFor, strings.Join(deviceNames(st, p.c.Committee), ", "), p.c.Threshold,
		strings.Join(deviceNames(st, p.c.NewCommittee), ", "), p.c.NewThreshold)
}

func (p revokePlan) json(st *roster.State) map[string]any {
	return map[string]any{"key_id": p.key.GetId(), "authorization": entryID(p.auth.Hash()), "hash": p.auth.Hash().String(),
		"committee": deviceNames(st, p.c.Committee), "new_committee": deviceNames(st, p.c.NewCommittee), "threshold": p.c.Threshold}
}
