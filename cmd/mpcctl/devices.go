package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newDevicesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Pair, list and revoke devices"}

	var name string
	var ttl time.Duration
	var noQR, wait bool
	pair := &cobra.Command{
		Use:   "pair --name NAME",
		Short: "Make a one-time pairing code for a new device",
		Long: `Prints a one-time pairing code (as text and as a QR code) for a device to
use with 'party enroll --code CODE'. The code expires (default 5 minutes),
works once, and carries the coordinator's address and certificate fingerprint.`,
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
			resp, err := c.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name, TtlSeconds: uint32(ttl / time.Second)})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.asJSON {
				return printJSON(w, map[string]any{"code": resp.GetCode(), "name": resp.GetName(), "expires_at": resp.GetExpiresAt().AsTime()})
			}
			fmt.Fprintf(w, "pairing code for %q (expires %s, single use):\n\n  %s\n\n", resp.GetName(), resp.GetExpiresAt().AsTime().Local().Format(time.Kitchen), resp.GetCode())
			if !noQR {
				qrterminal.GenerateHalfBlock(resp.GetCode(), qrterminal.L, w)
			}
			fmt.Fprintf(w, "\non the device: party enroll --code %s\n", resp.GetCode())
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
						fmt.Fprintf(w, "%q enrolled. Its short authentication string is %s.\n", name, d.GetSas())
						fmt.Fprintf(w, "Check that the device shows the same, then: mpcctl devices approve %s --sas %s\n", name, d.GetSas())
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

	var replaceWith string
	var follow time.Duration
	revoke := &cobra.Command{
		Use:   "revoke DEVICE [--replace-with DEVICE]",
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
with the reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: args[0], ReplaceWith: replaceWith})
			if err != nil {
				return err
			}
			var keys []string
			for _, j := range resp.GetJobs() {
				keys = append(keys, j.GetKeyId())
			}
			w := cmd.OutOrStdout()
			if !g.asJSON {
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
					return printJSON(w, out)
				}
				for _, j := range resp.GetJobs() {
					fmt.Fprintln(w, "  "+jobLine(j))
				}
				return nil
			}
			fctx, cancel := context.WithTimeout(cmd.Context(), follow)
			defer cancel()
			var progress io.Writer = w
			if g.asJSON {
				progress = nil
			}
			finished, jobs, err := followJobs(fctx, c, progress, keys)
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
				if err := printJSON(w, out); err != nil {
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
	var sas, restoreKey string
	approve := &cobra.Command{
		Use:   "approve DEVICE (--sas SAS | --restore KEY_ID)",
		Short: "Approve a pending device, or bind a share it restored from a backup",
		Long: `A device enrolled with a pairing code stays pending until the operator
compares the short authentication string the device shows (party enroll
prints it) with the one the coordinator shows (devices list, devices pair
--wait), and approves it here by typing the string the device shows. A
mismatch is refused: the device may not be the one you paired.

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
