package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// newDevicesCmd is 'mpcctl devices'; each subcommand has its own file:
// devices_pair.go, devices_approve.go, devices_revoke.go.
func newDevicesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Pair, list and revoke devices"}
	cmd.AddCommand(newDevicesPairCmd(g), newDevicesListCmd(g), newDevicesApproveCmd(g), newDevicesRevokeCmd(g))
	return cmd
}

func newDevicesListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listItems(cmd, g, adminview.Devices, deviceJSON, printDevices)
		},
	}
}

// printDevices is the text of 'devices list': a table, then how to bind
// each share a device restored from a backup.
func printDevices(w io.Writer, devs []*mpcv1.Device) error {
	tw := newTable(w, "NAME\tID\tSTATUS\tSAS\tONLINE\tPREPARAMS\tPAIRED\tLAST SEEN\tKEYS")
	for _, d := range devs {
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
	for _, d := range devs {
		for _, r := range d.GetPendingRestores() {
			fmt.Fprintf(w, "\n%s restored %s's share of key %s (epoch %d) from a backup; to bind it: mpcctl devices approve %s --restore %s\n",
				d.GetName(), r.GetOriginalDevice(), r.GetKeyId(), r.GetEpoch(), d.GetName(), r.GetKeyId())
		}
	}
	return nil
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
