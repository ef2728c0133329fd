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
	var derivationOnly bool
	create := &cobra.Command{
		Use:   "create --threshold T --devices A,B,C [--curve secp256k1|ed25519]",
		Short: "Create a threshold key shared by devices (t+1 of them sign)",
		Long: `Runs a distributed key generation between the devices. The private key never
exists in one place: each device keeps a share.

--threshold is tss-lib's t: any t+1 of the devices sign together, t or fewer
learn nothing. For a 2-of-3 key: --threshold 1 --devices phone,laptop,server.

--curve secp256k1 (ECDSA, the default) or ed25519 (EdDSA). A secp256k1 key
gets a BIP32 chain code, derived from the keygen session that every device
contributed randomness to, so that wallets can sign with derived keys
(mpcctl sign --path). --derivation-only makes the root key refuse to sign
directly: only derived keys sign (see mpcctl keys derivation-only). Ed25519
keys have no derivation: --derivation-only is refused with --curve ed25519.

A secp256k1 keygen takes one pre-parameter set from each device's pool; if a
device is still preparing, the command waits (up to --timeout) and says which.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cv, err := parseCurve(curve)
			if err != nil {
				return err
			}
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			stopProgress := func() {}
			if cv == mpcv1.Curve_CURVE_SECP256K1 {
				stopProgress = showPreparing(ctx, c, devices, cmd.ErrOrStderr())
			}
			resp, err := c.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: cv, Threshold: threshold, Devices: devices, DerivationOnly: derivationOnly})
			stopProgress()
			if err != nil {
				return err
			}
			return printKey(cmd, g, resp.GetKey())
		},
	}
	create.Flags().Uint32Var(&threshold, "threshold", 1, "tss-lib threshold t: t+1 devices are needed to sign")
	create.Flags().StringSliceVar(&devices, "devices", nil, "device names or ids, comma separated (required)")
	create.Flags().StringVar(&curve, "curve", "secp256k1", "curve: secp256k1 (ECDSA) or ed25519 (EdDSA)")
	create.Flags().BoolVar(&derivationOnly, "derivation-only", false, "secp256k1: the root key never signs, only derived keys (--path)")
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

	var getPath string
	get := &cobra.Command{
		Use:   "get KEY_ID [--path m/44/60/0/0/7]",
		Short: "Show one key: public key, addresses, chain code, committee",
		Long: `Shows a key: its public key and addresses (Ethereum EIP-55 and Bitcoin
P2WPKH for secp256k1, the plain public key for Ed25519), threshold,
committee, epoch, chain code, last reshare and last drill. --path also shows the
derived key at that BIP32 path (non-hardened steps only).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: args[0], Path: getPath})
			if err != nil {
				return err
			}
			if d := resp.GetDerived(); d != nil && g.asJSON {
				out := keyJSON(resp.GetKey())
				out["derived"] = derivedJSON(d)
				return printJSON(cmd.OutOrStdout(), out)
			}
			if err := printKey(cmd, g, resp.GetKey()); err != nil || resp.GetDerived() == nil {
				return err
			}
			return printDerived(cmd, g, resp.GetDerived())
		},
	}
	get.Flags().StringVar(&getPath, "path", "", "also show the derived key at this BIP32 path")

	var derivePath string
	derive := &cobra.Command{
		Use:   "derive KEY_ID --path m/44/60/0/0/7",
		Short: "Show the public key and addresses of a derived key (no signing)",
		Long: `Derives the public key at a BIP32 path of non-hardened steps from the key's
public key and chain code (hardened steps need the private key, which no one
holds). Nothing is signed and no device is asked.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: args[0], Path: derivePath})
			if err != nil {
				return err
			}
			return printDerived(cmd, g, resp.GetDerived())
		},
	}
	derive.Flags().StringVar(&derivePath, "path", "", "BIP32 path, e.g. m/44/60/0/0/7 (required)")
	_ = derive.MarkFlagRequired("path")

	derivOnly := &cobra.Command{
		Use:   "derivation-only KEY_ID on|off",
		Short: "Let a secp256k1 key sign only with derived keys (or lift that)",
		Long: `With derivation-only on, the coordinator refuses to sign with the key's root
key: every signature needs --path. Additive (BIP32) derivation relates every
child key to the root: a signature under a child key is, with the public
tweak, a signature under the root key on a related value. Marking a key
derivation-only keeps the root key from ever signing directly, so no
signature made by the root can be confused with one of its children's.
Drills of such a key sign their test digest with the child m/2147483647.
The mark applies at once, also to the items of a running batch that have not
started their session yet. Ed25519 keys cannot be marked.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[1] {
			case "on":
				on = true
			case "off":
			default:
				return fmt.Errorf("say on or off, not %q", args[1])
			}
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.SetDerivationOnly(ctx, &mpcv1.SetDerivationOnlyRequest{KeyId: args[0], DerivationOnly: on})
			if err != nil {
				return err
			}
			return printKey(cmd, g, resp.GetKey())
		},
	}
	cmd.AddCommand(create, list, get, derive, derivOnly, newReshareCmd(g), newJobsCmd(g))
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

func parseCurve(s string) (mpcv1.Curve, error) {
	switch strings.ToLower(s) {
	case "secp256k1", "":
		return mpcv1.Curve_CURVE_SECP256K1, nil
	case "ed25519":
		return mpcv1.Curve_CURVE_ED25519, nil
	}
	return 0, fmt.Errorf("unsupported --curve %q (secp256k1 or ed25519)", s)
}

func curveName(c mpcv1.Curve) string {
	if c == mpcv1.Curve_CURVE_ED25519 {
		return "ed25519"
	}
	return "secp256k1"
}

func addressesJSON(a *mpcv1.Addresses) map[string]any {
	out := map[string]any{}
	if a.GetEthereum() != "" {
		out["ethereum"] = a.GetEthereum()
	}
	if a.GetBitcoinP2Wpkh() != "" {
		out["bitcoin_p2wpkh"] = a.GetBitcoinP2Wpkh()
	}
	if a.GetEd25519PublicKey() != "" {
		out["ed25519_public_key"] = a.GetEd25519PublicKey()
	}
	return out
}

func keyJSON(k *mpcv1.Key) map[string]any {
	out := map[string]any{
		"id": k.GetId(), "curve": curveName(k.GetCurve()), "threshold": k.GetThreshold(), "signers_needed": k.GetThreshold() + 1,
		"public_key": hex.EncodeToString(k.GetPublicKey()), "holders": holderNames(k), "epoch": k.GetEpoch(),
		"created_at": k.GetCreatedAt().AsTime(), "last_reshare": reportJSON(k.GetLastReshare()), "last_drill": reportJSON(k.GetLastDrill()),
		"addresses": addressesJSON(k.GetAddresses()), "derivation_only": k.GetDerivationOnly(),
	}
	if len(k.GetChainCode()) > 0 {
		out["chain_code"] = hex.EncodeToString(k.GetChainCode())
	}
	return out
}

func printAddresses(w io.Writer, a *mpcv1.Addresses) {
	if a.GetEthereum() != "" {
		fmt.Fprintf(w, "ethereum:   %s\n", a.GetEthereum())
	}
	if a.GetBitcoinP2Wpkh() != "" {
		fmt.Fprintf(w, "bitcoin:    %s (P2WPKH)\n", a.GetBitcoinP2Wpkh())
	}
}

func derivedJSON(d *mpcv1.DerivedKey) map[string]any {
	return map[string]any{"path": d.GetPath(), "public_key": hex.EncodeToString(d.GetPublicKey()), "addresses": addressesJSON(d.GetAddresses())}
}

func printDerived(cmd *cobra.Command, g *globals, d *mpcv1.DerivedKey) error {
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), derivedJSON(d))
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "path:       %s\n", d.GetPath())
	fmt.Fprintf(w, "public key: %x\n", d.GetPublicKey())
	printAddresses(w, d.GetAddresses())
	return nil
}

func printKey(cmd *cobra.Command, g *globals, k *mpcv1.Key) error {
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), keyJSON(k))
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "key id:     %s\n", k.GetId())
	fmt.Fprintf(w, "curve:      %s\n", curveName(k.GetCurve()))
	fmt.Fprintf(w, "public key: %x\n", k.GetPublicKey())
	printAddresses(w, k.GetAddresses())
	if len(k.GetChainCode()) > 0 {
		fmt.Fprintf(w, "chain code: %x\n", k.GetChainCode())
	}
	if k.GetDerivationOnly() {
		fmt.Fprintf(w, "derivation-only: the root key never signs; sign with --path\n")
	}
	fmt.Fprintf(w, "threshold:  %d (any %d of %d devices sign)\n", k.GetThreshold(), k.GetThreshold()+1, len(k.GetHolders()))
	fmt.Fprintf(w, "devices:    %s\n", strings.Join(holderNames(k), ", "))
	fmt.Fprintf(w, "epoch:      %d\n", k.GetEpoch())
	if r := k.GetLastReshare(); r != nil && r.GetKind() != "" {
		printReportLine(w, "last reshare ("+r.GetKind()+")", r)
	} else {
		printReportLine(w, "last reshare", r)
	}
	printReportLine(w, "last drill", k.GetLastDrill())
	return nil
}

// printReportLine writes one line about a reshare or drill report, if any.
func printReportLine(w io.Writer, label string, r *mpcv1.ReshareReport) {
	if r == nil {
		return
	}
	when := ""
	if r.GetStartedAt() != nil {
		when = r.GetStartedAt().AsTime().UTC().Format(time.RFC3339) + ", "
	}
	fmt.Fprintf(w, "%s: %sepoch %d -> %d, %s\n", label, when, r.GetFromEpoch(), r.GetToEpoch(), reportResult(r))
}
