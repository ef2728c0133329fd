package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// devicesPairFlags are the flags of 'devices pair'.
type devicesPairFlags struct {
	name      string
	ttl       time.Duration
	noQR      bool
	wait      bool
	operators operatorFlags
}

func newDevicesPairCmd(g *globals) *cobra.Command {
	var f devicesPairFlags
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
			return runDevicesPair(cmd, g, &f)
		},
	}
	pair.Flags().BoolVar(&f.wait, "wait", false, "wait for the device to enrol and show its short authentication string")
	pair.Flags().StringVar(&f.name, "name", "", "device name (required)")
	pair.Flags().DurationVar(&f.ttl, "ttl", 0, "validity (default 5m, at most 1h)")
	pair.Flags().BoolVar(&f.noQR, "no-qr", false, "do not draw the QR code")
	f.operators.registerDir(pair.Flags())
	_ = pair.MarkFlagRequired("name")
	return pair
}

func runDevicesPair(cmd *cobra.Command, g *globals, f *devicesPairFlags) error {
	name, ttl := f.name, f.ttl
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
	pin, pinErr := loadPin(f.operators.dir)
	switch {
	case pinErr == nil:
		if code, resp, err = g.operatorCode(ctx, c, f.operators.dir, name, ttl, pin); err != nil {
			return err
		}
		genesis = pin.genesis.String()
		secret, _, _ = loadPairing(f.operators.dir, name, time.Now())
	case errors.Is(pinErr, errNoPin):
		if resp, err = c.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name, TtlSeconds: uint32(ttl / time.Second)}); err != nil {
			return err
		}
		code = resp.GetCode()
		if genesis, err = checkPairingGenesis(cmd.ErrOrStderr(), code, f.operators.dir); err != nil {
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
	if !f.noQR {
		qrterminal.GenerateHalfBlock(code, qrterminal.L, w)
	}
	fmt.Fprintf(w, "\non the device: party enroll --code %s\n", code)
	if secret != nil {
		fmt.Fprintln(w, "(the code's secret stays on this machine and the device: approve it here)")
	}
	if !f.wait {
		return nil
	}
	return waitForEnrolment(ctx, c, w, name, secret)
}

// waitForEnrolment polls the devices until the one named name enrolled,
// and shows its short authentication string: computed here from secret
// when this machine made the code, else as the coordinator reports it.
func waitForEnrolment(ctx context.Context, c mpcv1.AdminServiceClient, w io.Writer, name string, secret []byte) error {
	fmt.Fprintln(w, "waiting for the device to enrol...")
	for {
		devs, err := adminview.Devices(ctx, c)
		if err != nil {
			return err
		}
		for _, d := range devs {
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
