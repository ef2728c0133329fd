package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create and inspect threshold keys"}

	var threshold uint32
	var devices []string
	var curve string
	create := &cobra.Command{
		Use:   "create --threshold T --devices A,B,C",
		Short: "Create a threshold key shared by devices (t+1 of them sign)",
		Long: `Runs a distributed key generation between the devices. The private key never
exists in one place: each device keeps a share.

--threshold is tss-lib's t: any t+1 of the devices sign together, t or fewer
learn nothing. For a 2-of-3 key: --threshold 1 --devices phone,laptop,server.

Each device needs one pre-parameter set from its pool; if a device is still
preparing, the command waits (up to --timeout) and says which.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if curve != "secp256k1" {
				return fmt.Errorf("unsupported --curve %q (secp256k1)", curve)
			}
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			stopProgress := showPreparing(ctx, c, devices, cmd.ErrOrStderr())
			resp, err := c.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: threshold, Devices: devices})
			stopProgress()
			if err != nil {
				return err
			}
			return printKey(cmd, g, resp.GetKey())
		},
	}
	create.Flags().Uint32Var(&threshold, "threshold", 1, "tss-lib threshold t: t+1 devices are needed to sign")
	create.Flags().StringSliceVar(&devices, "devices", nil, "device names or ids, comma separated (required)")
	create.Flags().StringVar(&curve, "curve", "secp256k1", "curve (secp256k1)")
	_ = create.MarkFlagRequired("devices")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.ListKeys(ctx, &mpcv1.ListKeysRequest{})
			if err != nil {
				return err
			}
			if g.asJSON {
				out := []map[string]any{}
				for _, k := range resp.GetKeys() {
					out = append(out, keyJSON(k))
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			for _, k := range resp.GetKeys() {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %d-of-%d  %x  %s\n", k.GetId(), k.GetThreshold()+1, len(k.GetHolders()), k.GetPublicKey(), strings.Join(holderNames(k), ","))
			}
			return nil
		},
	}

	get := &cobra.Command{
		Use:   "get KEY_ID",
		Short: "Show one key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: args[0]})
			if err != nil {
				return err
			}
			return printKey(cmd, g, resp.GetKey())
		},
	}
	cmd.AddCommand(create, list, get, newReshareCmd(g), newJobsCmd(g))
	return cmd
}

// showPreparing prints, while CreateKey waits, which devices are still
// making pre-parameters.
func showPreparing(ctx context.Context, c mpcv1.AdminServiceClient, devices []string, w io.Writer) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	want, ready := map[string]bool{}, map[string]bool{}
	for _, d := range devices {
		want[d] = true
	}
	go func() {
		defer close(done)
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			resp, err := c.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
			if err != nil {
				continue
			}
			var waiting []string
			for _, d := range resp.GetDevices() {
				if d.GetPreparamsReady() > 0 {
					// Ready once is ready: the keygen itself takes the set again.
					ready[d.GetName()] = true
				}
				if (want[d.GetName()] || want[d.GetId()]) && d.GetOnline() && !ready[d.GetName()] {
					waiting = append(waiting, fmt.Sprintf("%s (%d/%d)", d.GetName(), d.GetPreparamsReady(), d.GetPreparamsTarget()))
				}
			}
			if line := strings.Join(waiting, ", "); line != "" && line != last && ctx.Err() == nil {
				fmt.Fprintf(w, "waiting for devices to prepare pre-parameters: %s\n", line)
				last = line
			}
		}
	}()
	return func() { cancel(); <-done }
}

func holderNames(k *mpcv1.Key) []string {
	var out []string
	for _, h := range k.GetHolders() {
		out = append(out, h.GetDeviceName())
	}
	return out
}

func keyJSON(k *mpcv1.Key) map[string]any {
	return map[string]any{
		"id": k.GetId(), "curve": "secp256k1", "threshold": k.GetThreshold(), "signers_needed": k.GetThreshold() + 1,
		"public_key": hex.EncodeToString(k.GetPublicKey()), "holders": holderNames(k), "epoch": k.GetEpoch(),
		"created_at": k.GetCreatedAt().AsTime(), "last_reshare": reportJSON(k.GetLastReshare()),
	}
}

func printKey(cmd *cobra.Command, g *globals, k *mpcv1.Key) error {
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), keyJSON(k))
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "key id:     %s\n", k.GetId())
	fmt.Fprintf(w, "curve:      secp256k1\n")
	fmt.Fprintf(w, "public key: %x\n", k.GetPublicKey())
	fmt.Fprintf(w, "threshold:  %d (any %d of %d devices sign)\n", k.GetThreshold(), k.GetThreshold()+1, len(k.GetHolders()))
	fmt.Fprintf(w, "devices:    %s\n", strings.Join(holderNames(k), ", "))
	fmt.Fprintf(w, "epoch:      %d\n", k.GetEpoch())
	if r := k.GetLastReshare(); r != nil {
		result := "ok"
		if !r.GetOk() {
			result = "failed: " + r.GetError()
		}
		fmt.Fprintf(w, "last reshare: epoch %d -> %d, %s\n", r.GetFromEpoch(), r.GetToEpoch(), result)
	}
	return nil
}
