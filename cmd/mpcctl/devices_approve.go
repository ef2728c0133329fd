package main

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newDevicesApproveCmd(g *globals) *cobra.Command {
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
			return runDevicesApprove(cmd, g, &approveOps, args[0], sas, restoreKey)
		},
	}
	approve.Flags().StringVar(&sas, "sas", "", "the short authentication string the device shows")
	approve.Flags().StringVar(&restoreKey, "restore", "", "bind the share of this key that the device restored from a backup")
	approveOps.register(approve.Flags())
	return approve
}

func runDevicesApprove(cmd *cobra.Command, g *globals, o *operatorFlags, ref, sas, restoreKey string) error {
	if (sas == "") == (restoreKey == "") {
		return fmt.Errorf("give either --sas (a new device) or --restore KEY_ID (a restored share)")
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	if restoreKey == "" {
		r, withRoster, err := rosterInUse(ctx, c, o.dir)
		if err != nil {
			return err
		}
		if withRoster {
			return approveOnRoster(cmd, g, ctx, c, o, r, ref, sas)
		}
	}
	resp, err := c.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: ref, Sas: sas, RestoreKeyId: restoreKey})
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
	d, err := pendingDevice(ctx, c, st, ref)
	if err != nil {
		return err
	}
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
			if all, err := adminview.Devices(ctx, c); err == nil {
				for _, x := range all {
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

// pendingDevice finds the one pending device named (or with the id) ref
// among the coordinator's devices; an active one already on st, or one
// approved before the roster existed, is refused with what to do instead.
func pendingDevice(ctx context.Context, c mpcv1.AdminServiceClient, st *roster.State, ref string) (*mpcv1.Device, error) {
	devs, err := adminview.Devices(ctx, c)
	if err != nil {
		return nil, err
	}
	var pending []*mpcv1.Device
	var other *mpcv1.Device
	for _, d := range devs {
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
		return nil, fmt.Errorf("%d pending devices are named %q: approve one by its id ('mpcctl devices list')", len(pending), ref)
	case len(pending) == 0 && other == nil:
		return nil, fmt.Errorf("unknown device %q ('mpcctl devices list' shows them)", ref)
	case len(pending) == 0 && other.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE && st.Active(other.GetId()):
		return nil, fmt.Errorf("device %q is approved already (it is on the roster)", other.GetName())
	case len(pending) == 0 && other.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE:
		return nil, fmt.Errorf("device %q was approved before the roster existed: put it on the roster with 'mpcctl roster add-device %s --device-id ID' (the id 'party status' shows on the device)", other.GetName(), other.GetName())
	case len(pending) == 0:
		return nil, fmt.Errorf("device %q is %s and cannot be approved", other.GetName(), statusName(other.GetStatus()))
	}
	return pending[0], nil
}
