package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newDevicesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Pair, list and revoke devices"}

	var name string
	var ttl time.Duration
	var noQR, wait bool
	var pairOps operatorFlags
	pair := &cobra.Command{
		Use:   "pair --name NAME",
		Short: "Make a one-time pairing code for a new device",
		Long: `Prints a one-time pairing code (as text and as a QR code) for a device to
use with 'party enroll --code CODE'. The code expires (default 5 minutes),
works once, and carries the coordinator's address and certificate fingerprint
and, once a roster exists, the roster's genesis hash, which the device pins.
When this operator has pinned the roster (--operator-dir), a code for another
roster, or for none, is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl != 0 && (ttl < time.Second || ttl > time.Hour || ttl%time.Second != 0) {
				return fmt.Errorf("--ttl must be whole seconds between 1s and 1h, got %s", ttl)
			}
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			// With a pinned roster this machine makes the code's secret
			// (pairing.go); otherwise the coordinator makes the code.
			var code, genesis string
			var resp *mpcv1.CreatePairingCodeResponse
			var secret []byte
			pin, pinErr := loadPin(pairOps.dir)
			switch {
			case pinErr == nil:
				if code, resp, err = g.operatorCode(ctx, c, pairOps.dir, name, ttl, pin); err != nil {
					return err
				}
				genesis = pin.genesis.String()
				secret, _, _ = loadPairing(pairOps.dir, name, time.Now())
			case errors.Is(pinErr, errNoPin):
				if resp, err = c.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name, TtlSeconds: uint32(ttl / time.Second)}); err != nil {
					return err
				}
				code = resp.GetCode()
				if genesis, err = checkPairingGenesis(cmd.ErrOrStderr(), code, pairOps.dir); err != nil {
					return err
				}
			default:
				return pinErr
			}
			w := cmd.OutOrStdout()
			if g.asJSON {
				out := map[string]any{"code": code, "name": resp.GetName(), "expires_at": resp.GetExpiresAt().AsTime(), "operator_made": secret != nil}
				if genesis != "" {
					out["roster_genesis"] = genesis
				}
				return printJSON(w, out)
			}
			fmt.Fprintf(w, "pairing code for %q (expires %s, single use):\n\n  %s\n\n", resp.GetName(), resp.GetExpiresAt().AsTime().Local().Format(time.Kitchen), code)
			if genesis != "" {
				fmt.Fprintf(w, "the device pins roster genesis %s\n\n", genesis)
			}
			if !noQR {
				qrterminal.GenerateHalfBlock(code, qrterminal.L, w)
			}
			fmt.Fprintf(w, "\non the device: party enroll --code %s\n", code)
			if secret != nil {
				fmt.Fprintln(w, "(the code's secret stays on this machine and the device: approve it here)")
			}
			if !wait {
				return nil
			}
			fmt.Fprintln(w, "waiting for the device to enrol...")
			for {
				devs, err := c.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
				if err != nil {
					return err
				}
				for _, d := range devs.GetDevices() {
					if d.GetName() != name {
						continue
					}
					if d.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_PENDING {
						sas := d.GetSas()
						if secret != nil {
							// Computed here, from the keys the coordinator
							// lists: a device that shows another string is
							// not the one these keys belong to.
							sas = pairing.SAS(secret, d.GetIdentityPublicKey(), d.GetEncryptionPublicKey())
						}
						fmt.Fprintf(w, "%q enrolled. Its short authentication string is %s.\n", name, sas)
						fmt.Fprintf(w, "Check that the device shows the same, then: mpcctl devices approve %s --sas %s\n", name, sas)
						return nil
					}
					if d.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
						fmt.Fprintf(w, "%q enrolled and was approved automatically\n", name)
						return nil
					}
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("no enrolment of %q before --timeout", name)
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	pair.Flags().BoolVar(&wait, "wait", false, "wait for the device to enrol and show its short authentication string")
	pair.Flags().StringVar(&name, "name", "", "device name (required)")
	pair.Flags().DurationVar(&ttl, "ttl", 0, "validity (default 5m, at most 1h)")
	pair.Flags().BoolVar(&noQR, "no-qr", false, "do not draw the QR code")
	pairOps.registerDir(pair.Flags())
	_ = pair.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
			if err != nil {
				return err
			}
			if g.asJSON {
				out := []map[string]any{}
				for _, d := range resp.GetDevices() {
					out = append(out, deviceJSON(d))
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tSTATUS\tSAS\tONLINE\tPREPARAMS\tPAIRED\tLAST SEEN\tKEYS")
			for _, d := range resp.GetDevices() {
				pre := "-"
				if d.GetOnline() {
					pre = fmt.Sprintf("%d/%d", d.GetPreparamsReady(), d.GetPreparamsTarget())
				}
				sas := "-"
				if d.GetSas() != "" {
					sas = d.GetSas()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\n", d.GetName(), d.GetId(), statusName(d.GetStatus()), sas, d.GetOnline(), pre,
					fmtTime(d.GetPairedAt().AsTime()), fmtTime(d.GetLastSeen().AsTime()), strings.Join(d.GetKeyIds(), ","))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, d := range resp.GetDevices() {
				for _, r := range d.GetPendingRestores() {
					fmt.Fprintf(cmd.OutOrStdout(), "\n%s restored %s's share of key %s (epoch %d) from a backup; to bind it: mpcctl devices approve %s --restore %s\n",
						d.GetName(), r.GetOriginalDevice(), r.GetKeyId(), r.GetEpoch(), d.GetName(), r.GetKeyId())
				}
			}
			return nil
		},
	}

	var replaceWith, reason string
	var follow, planValidFor time.Duration
	var revokeOps operatorFlags
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
			if err := checkValidity("--plan-valid-for", planValidFor); err != nil {
				return err
			}
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			w := cmd.OutOrStdout()
			req := &mpcv1.RevokeDeviceRequest{Device: args[0], ReplaceWith: replaceWith}
			r, withRoster, err := rosterInUse(ctx, c, revokeOps.dir)
			if err != nil {
				return err
			}
			var st *roster.State
			var entry roster.Entry
			var body roster.Body
			var plans []revokePlan
			var planNote string
			if withRoster {
				var k *keyfile.Key
				if st, entry, body, k, err = revokeEntry(&revokeOps, r, args[0], reason); err != nil {
					return err
				}
				req.Device, req.RosterEntry = body.DeviceID, roster.EntryProto(entry)
				replID := ""
				if replaceWith != "" {
					d, err := resolveActive(st, replaceWith)
					if err != nil {
						return fmt.Errorf("--replace-with: %w", err)
					}
					if d.ID == body.DeviceID {
						return fmt.Errorf("--replace-with %q is the device being revoked", replaceWith)
					}
					replID, req.ReplaceWith = d.ID, d.ID
				}
				if st.Quorum() > 1 {
					planNote = fmt.Sprintf("the roster's quorum is %d: no reshare plan was signed with this revocation (one operator's signature is not enough); once it is appended, each key it holds waits for a plan: mpcctl keys reshare KEY --devices ... --authorization-out FILE, the other operators run mpcctl ceremony sign --in FILE, then mpcctl keys reshare KEY --authorization FILE", st.Quorum())
				} else {
					keys, err := c.ListKeys(ctx, &mpcv1.ListKeysRequest{})
					if err != nil {
						return err
					}
					name := body.DeviceID
					if d, ok := st.Device(body.DeviceID); ok {
						name = d.Name
					}
					if plans, err = revokePlans(cmd.ErrOrStderr(), st, k, keys.GetKeys(), body.DeviceID, name, replID, planValidFor); err != nil {
						return err
					}
					for _, p := range plans {
						req.Plans = append(req.Plans, roster.AuthorizationProto(p.auth))
					}
				}
			} else if reason != "" {
				return errors.New("--reason is recorded in the roster, and this coordinator has none: leave it out (or create the roster first: mpcctl roster init)")
			}
			resp, err := c.RevokeDevice(ctx, req)
			if err != nil {
				return err
			}
			withOutcome := func(out map[string]any) map[string]any {
				if withRoster {
					out["roster"] = outcomeJSON(entry, resp.GetRoster())
					ps := []map[string]any{}
					for _, p := range plans {
						ps = append(ps, p.json(st))
					}
					out["plans"] = ps
					if planNote != "" {
						out["plan_note"] = planNote
					}
				}
				return out
			}
			if withRoster && !g.asJSON {
				for _, p := range plans {
					fmt.Fprintln(w, p.line(st, planValidFor))
				}
				if planNote != "" {
					fmt.Fprintln(w, planNote)
				}
			}
			if withRoster {
				if err := advancePin(revokeOps.dir, st, entry, body, resp.GetRoster()); err != nil {
					return err
				}
				if !resp.GetRoster().GetAppended() {
					if g.asJSON {
						return printJSON(w, withOutcome(deviceJSON(resp.GetDevice())))
					}
					fmt.Fprintf(w, "revocation of device %q (%s) signed; it takes effect once enough operators signed it\n", resp.GetDevice().GetName(), body.DeviceID)
					printOutcome(w, entry, resp.GetRoster())
					return nil
				}
			}
			var keys []string
			for _, j := range resp.GetJobs() {
				keys = append(keys, j.GetKeyId())
			}
			if !g.asJSON {
				if withRoster {
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
					return printJSON(w, withOutcome(out))
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
				if err := printJSON(w, withOutcome(out)); err != nil {
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
		},
	}
	revoke.Flags().StringVar(&replaceWith, "replace-with", "", "an active device (name or id) that joins every key the revoked device held")
	revoke.Flags().DurationVar(&follow, "wait", 15*time.Minute, "how long to show the reshares' progress (0: return at once)")
	revoke.Flags().StringVar(&reason, "reason", "", "why the device is revoked, recorded in the roster entry")
	revoke.Flags().DurationVar(&planValidFor, "plan-valid-for", 7*24*time.Hour, "with a roster: how long the signed reshare plan of each key stays valid (the background reshare is retried under it until then)")
	revokeOps.register(revoke.Flags())
	var sas, restoreKey string
	var approveOps operatorFlags
	approve := &cobra.Command{
		Use:   "approve DEVICE (--sas SAS | --restore KEY_ID)",
		Short: "Approve a pending device, or bind a share it restored from a backup",
		Long: `A device enrolled with a pairing code stays pending until the operator
compares the short authentication string the device shows (party enroll
prints it) with the one the coordinator shows (devices list, devices pair
--wait), and approves it here by typing the string the device shows. A
mismatch is refused: the device may not be the one you paired.

Once a roster exists, approving is signing the device's add_device roster
entry with this operator's key (--operator-dir): mpcctl verifies the roster,
compares the string itself, checks the device id matches its identity key,
and submits the signed entry. The device becomes active when enough
operators signed it; the others sign it with 'mpcctl roster sign ID'.

With --restore KEY_ID: the device restored another device's share of the key
from a paper-key backup ('party backup restore') and reported it ('devices
list' shows it as a pending restore). Approving binds that share to the
device in place of the original one. Run 'mpcctl drill --key KEY_ID' right
after, so that every share is fresh and the original device's copy (and the
backup) no longer sign.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (sas == "") == (restoreKey == "") {
				return fmt.Errorf("give either --sas (a new device) or --restore KEY_ID (a restored share)")
			}
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			if restoreKey == "" {
				r, withRoster, err := rosterInUse(ctx, c, approveOps.dir)
				if err != nil {
					return err
				}
				if withRoster {
					return approveOnRoster(cmd, g, ctx, c, &approveOps, r, args[0], sas)
				}
			}
			resp, err := c.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: args[0], Sas: sas, RestoreKeyId: restoreKey})
			if err != nil {
				return err
			}
			if g.asJSON {
				return printJSON(cmd.OutOrStdout(), deviceJSON(resp.GetDevice()))
			}
			if restoreKey != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "the share of key %s restored on %q is bound to it\nnext: mpcctl drill --key %s (so the original device's copy and the backup stop signing)\n",
					restoreKey, resp.GetDevice().GetName(), restoreKey)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %q (%s) approved\n", resp.GetDevice().GetName(), resp.GetDevice().GetId())
			return nil
		},
	}
	approve.Flags().StringVar(&sas, "sas", "", "the short authentication string the device shows")
	approve.Flags().StringVar(&restoreKey, "restore", "", "bind the share of this key that the device restored from a backup")
	approveOps.register(approve.Flags())
	cmd.AddCommand(pair, list, approve, revoke)
	return cmd
}

func statusName(s mpcv1.DeviceStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "DEVICE_STATUS_"))
}

func fmtTime(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func deviceJSON(d *mpcv1.Device) map[string]any {
	m := map[string]any{
		"id": d.GetId(), "name": d.GetName(), "status": statusName(d.GetStatus()), "online": d.GetOnline(),
		"paired_at": d.GetPairedAt().AsTime(), "key_ids": append([]string{}, d.GetKeyIds()...),
		"preparams_ready": d.GetPreparamsReady(), "preparams_target": d.GetPreparamsTarget(),
	}
	if d.GetSas() != "" {
		m["sas"] = d.GetSas()
	}
	if d.GetLastSeen() != nil {
		m["last_seen"] = d.GetLastSeen().AsTime()
	}
	if len(d.GetPendingRestores()) > 0 {
		var rs []map[string]any
		for _, r := range d.GetPendingRestores() {
			rs = append(rs, map[string]any{"key_id": r.GetKeyId(), "epoch": r.GetEpoch(), "original_device": r.GetOriginalDevice()})
		}
		m["pending_restores"] = rs
	}
	return m
}

// rosterInUse fetches the roster and reports whether a command must go
// through it: the coordinator has one, or this operator pinned one (then a
// coordinator claiming to have none is refused by verifyResponse).
func rosterInUse(ctx context.Context, c mpcv1.AdminServiceClient, dir string) (*mpcv1.GetRosterResponse, bool, error) {
	r, err := c.GetRoster(ctx, &mpcv1.GetRosterRequest{FromHeight: 0})
	if err != nil {
		return nil, false, err
	}
	_, pinErr := loadPin(dir)
	if pinErr != nil && !errors.Is(pinErr, errNoPin) {
		return nil, false, pinErr
	}
	return r, r.GetExists() || pinErr == nil, nil
}

// checkPairingGenesis checks the genesis hash in a pairing code the
// coordinator made against this operator's pin, and returns it (hex; empty
// for a code without one).
func checkPairingGenesis(errw io.Writer, code, dir string) (string, error) {
	pc, err := pairing.Parse(code)
	if err != nil {
		return "", fmt.Errorf("the coordinator returned a pairing code that does not decode (%v): do not use it", err)
	}
	genesis := ""
	if pc.HasGenesis() {
		genesis = roster.Hash(pc.Genesis).String()
	}
	pin, err := loadPin(dir)
	switch {
	case errors.Is(err, errNoPin):
		if genesis != "" {
			fmt.Fprintf(errw, "the code pins roster genesis %s, which this operator has not pinned: check the hash with the operator who created the roster, then: mpcctl roster pin --genesis %s\n", genesis, genesis)
		}
		return genesis, nil
	case err != nil:
		return "", err
	}
	if genesis == "" && pin.height == 0 {
		return "", fmt.Errorf("the coordinator handed out a pairing code without a roster, but this operator pinned roster %s: a device paired with it would trust the coordinator for membership. Do not use the code. If the genesis still waits for operator signatures, have them sign it (mpcctl roster sign %s) and pair then; if it was appended, the coordinator hides the roster: %s", pin.genesis, entryID(pin.genesis), dangerAdvice)
	}
	if genesis == "" {
		return "", fmt.Errorf("DANGER: the coordinator handed out a pairing code without a roster, but this operator verified roster %s up to height %d: a device paired with it would trust the coordinator for membership. Do not use the code. %s", pin.genesis, pin.height, dangerAdvice)
	}
	if roster.Hash(pc.Genesis) != pin.genesis {
		return "", fmt.Errorf("DANGER: the coordinator hands out pairing codes for another roster (genesis %s) than the one this operator pinned (%s): do not use the code. %s", genesis, pin.genesis, dangerAdvice)
	}
	return genesis, nil
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

// approveOnRoster approves a pending device by signing its add_device
// roster entry, after checking its short authentication string here (the
// coordinator never sees the string the operator typed).
func approveOnRoster(cmd *cobra.Command, g *globals, ctx context.Context, c mpcv1.AdminServiceClient, o *operatorFlags, r *mpcv1.GetRosterResponse, ref, sas string) error {
	v, err := verifyResponse(o.dir, r)
	if err != nil {
		return err
	}
	st := v.state
	devs, err := c.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
	if err != nil {
		return err
	}
	var pending []*mpcv1.Device
	var other *mpcv1.Device
	for _, d := range devs.GetDevices() {
		if d.GetName() != ref && d.GetId() != ref {
			continue
		}
		if d.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_PENDING {
			pending = append(pending, d)
		} else if other == nil || d.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
			other = d
		}
	}
	switch {
	case len(pending) > 1:
		return fmt.Errorf("%d pending devices are named %q: approve one by its id ('mpcctl devices list')", len(pending), ref)
	case len(pending) == 0 && other == nil:
		return fmt.Errorf("unknown device %q ('mpcctl devices list' shows them)", ref)
	case len(pending) == 0 && other.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE && st.Active(other.GetId()):
		return fmt.Errorf("device %q is approved already (it is on the roster)", other.GetName())
	case len(pending) == 0 && other.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE:
		return fmt.Errorf("device %q was approved before the roster existed: put it on the roster with 'mpcctl roster add-device %s --device-id ID' (the id 'party status' shows on the device)", other.GetName(), other.GetName())
	case len(pending) == 0:
		return fmt.Errorf("device %q is %s and cannot be approved", other.GetName(), statusName(other.GetStatus()))
	}
	d := pending[0]
	want := strings.ReplaceAll(strings.TrimSpace(sas), " ", "-")
	// The SAS of the keys about to be signed, computed here from the code's
	// secret when this machine made the code (the coordinator never saw
	// it); only for a coordinator-made code is the coordinator's word used.
	secret, ours, err := loadPairing(o.dir, d.GetName(), time.Now())
	if err != nil {
		return err
	}
	expected := d.GetSas()
	switch {
	case ours:
		expected = pairing.SAS(secret, d.GetIdentityPublicKey(), d.GetEncryptionPublicKey())
	case expected != "":
		fmt.Fprintf(cmd.ErrOrStderr(), "note: the coordinator made the pairing code of %q, so its short authentication string shows the device got the code, not that the coordinator did not swap its keys; codes made with 'mpcctl devices pair' on this machine show that too\n", d.GetName())
	default:
		return fmt.Errorf("this machine did not make the pairing code of %q, and only the machine that did can check its short authentication string: approve it there, or pair the device again from here (mpcctl devices pair --name %s)", d.GetName(), d.GetName())
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(expected)) != 1 {
		return coordclient.ErrSASMismatch
	}
	if got := identity.DeviceID(d.GetIdentityPublicKey()); got != d.GetId() {
		return fmt.Errorf("the coordinator lists device %q with id %s, but its identity key gives id %s: do not approve it, the coordinator may be substituting another key. %s", d.GetName(), d.GetId(), got, dangerAdvice)
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	b := st.Next(roster.KindAddDevice, time.Now())
	b.Device = &roster.Device{ID: d.GetId(), Name: d.GetName(), IdentityKey: d.GetIdentityPublicKey(), EncryptionKey: d.GetEncryptionPublicKey()}
	e, sub, err := signSubmit(ctx, c, o.dir, st, b, k)
	if err != nil {
		return err
	}
	removePairing(o.dir, d.GetName()) // signed: the secret is no longer needed
	w := cmd.OutOrStdout()
	if g.asJSON {
		out := deviceJSON(d)
		if sub.GetAppended() {
			if all, err := c.ListDevices(ctx, &mpcv1.ListDevicesRequest{}); err == nil {
				for _, x := range all.GetDevices() {
					if x.GetId() == d.GetId() {
						out = deviceJSON(x)
					}
				}
			}
		}
		out["roster"] = outcomeJSON(e, sub)
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "device %q: add_device entry signed as %s\n  device id: %s (the device shows it with 'party status')\n", d.GetName(), k.Name(), d.GetId())
	printOutcome(w, e, sub)
	if sub.GetAppended() {
		fmt.Fprintf(w, "device %q (%s) approved\n", d.GetName(), d.GetId())
	}
	return nil
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
