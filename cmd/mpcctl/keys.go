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
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// newKeysCmd is 'mpcctl keys'; create is in keys_create.go, reshare and
// jobs in reshare.go.
func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create and inspect threshold keys"}
	cmd.AddCommand(newKeysCreateCmd(g), newKeysListCmd(g), newKeysGetCmd(g), newKeysDeriveCmd(g), newKeysDerivationOnlyCmd(g), newReshareCmd(g), newJobsCmd(g))
	return cmd
}

func newKeysListCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--limit N]",
		Short: "List keys",
		Long:  `Lists every key in id order (the coordinator sends them a page at a time), or with --limit the first N.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: give 0 for every key, or how many to list", limit)
			}
			return listItems(cmd, g, func(ctx context.Context, c mpcv1.AdminServiceClient) ([]*mpcv1.Key, error) {
				return adminview.Keys(ctx, c, limit)
			}, keyJSON, printKeys)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many keys (0: all)")
	return cmd
}

// printKeys is the text of 'keys list': a line per key.
func printKeys(w io.Writer, keys []*mpcv1.Key) error {
	for _, k := range keys {
		fmt.Fprintf(w, "%s  %d-of-%d  %x  %s\n", k.GetId(), k.GetThreshold()+1, len(k.GetHolders()), k.GetPublicKey(), strings.Join(adminview.HolderNames(k), ","))
	}
	return nil
}

func newKeysGetCmd(g *globals) *cobra.Command {
	var getPath string
	var getOps operatorFlags
	get := &cobra.Command{
		Use:   "get KEY_ID [--path m/44/60/0/0/7]",
		Short: "Show one key: public key, addresses, chain code, committee",
		Long: `Shows a key: its public key and addresses (Ethereum EIP-55 and Bitcoin
P2WPKH for secp256k1, the plain public key for Ed25519), threshold,
committee, epoch, chain code, last reshare and last drill. --path also shows the
derived key at that BIP32 path (non-hardened steps only).

With a pinned roster (--operator-dir) it checks every holder's signed
attestation of the key against the verified roster, every holder active on
it (a revoked device's attestation counts for nothing). When they verify,
the addresses and the derived key are computed here, at the path asked for,
and the output names the attesting devices (name and start of the id); when
they do not, it says NOT VERIFIED. An answer for another key or path is
refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeysGet(cmd, g, getOps.dir, args[0], getPath)
		},
	}
	get.Flags().StringVar(&getPath, "path", "", "also show the derived key at this BIP32 path")
	getOps.registerDir(get.Flags())
	return get
}

func runKeysGet(cmd *cobra.Command, g *globals, dir, keyID, path string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: keyID, Path: path})
	if err != nil {
		return err
	}
	check, pinned, err := checkGetKey(ctx, c, dir, keyID, path, resp)
	if err != nil {
		return err
	}
	if g.asJSON {
		out := keyJSON(resp.GetKey())
		if d := resp.GetDerived(); d != nil {
			out["derived"] = derivedJSON(d)
		}
		if pinned {
			out["attestations"] = check
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	if err := printKey(cmd, g, resp.GetKey()); err != nil {
		return err
	}
	printAttested(cmd.OutOrStdout(), pinned, check, "the public key and addresses above are the holders' own word")
	if resp.GetDerived() == nil {
		return nil
	}
	return printDerived(cmd, g, resp.GetDerived())
}

// printAttested is the line that says whether what was shown above is the
// holders' attested word (verified says what it makes of it).
func printAttested(w io.Writer, pinned bool, check keyCheck, verified string) {
	switch {
	case !pinned:
		fmt.Fprintln(w, "attested:   not checked (this machine pins no roster: mpcctl roster pin --genesis HASH)")
	case check.Verified:
		fmt.Fprintf(w, "attested:   by %s, checked against your roster: %s\n", strings.Join(check.By, ", "), verified)
	default:
		fmt.Fprintf(w, "attested:   NOT VERIFIED (%s): do not use these addresses on the coordinator's word alone\n", check.Error)
	}
}

func newKeysDeriveCmd(g *globals) *cobra.Command {
	var derivePath string
	var deriveOps operatorFlags
	derive := &cobra.Command{
		Use:   "derive KEY_ID --path m/44/60/0/0/7",
		Short: "Show the public key and addresses of a derived key (no signing)",
		Long: `Derives the public key at a BIP32 path of non-hardened steps from the key's
public key and chain code (hardened steps need the private key, which no one
holds). Nothing is signed and no device is asked.

With a pinned roster (--operator-dir) it checks the key as 'keys get' does:
when the holders' attestations verify, the derived key and its addresses
are recomputed here from the attested public key and chain code at the
path asked for (a coordinator answer for another key, path or child is
refused); when they do not, the output says NOT VERIFIED.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeysDerive(cmd, g, deriveOps.dir, args[0], derivePath)
		},
	}
	derive.Flags().StringVar(&derivePath, "path", "", "BIP32 path, e.g. m/44/60/0/0/7 (required)")
	deriveOps.registerDir(derive.Flags())
	_ = derive.MarkFlagRequired("path")
	return derive
}

func runKeysDerive(cmd *cobra.Command, g *globals, dir, keyID, path string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: keyID, Path: path})
	if err != nil {
		return err
	}
	check, pinned, err := checkGetKey(ctx, c, dir, keyID, path, resp)
	if err != nil {
		return err
	}
	if g.asJSON {
		out := derivedJSON(resp.GetDerived())
		if pinned {
			out["attestations"] = check
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	if err := printDerived(cmd, g, resp.GetDerived()); err != nil {
		return err
	}
	printAttested(cmd.OutOrStdout(), pinned, check, "the derived key and addresses above are computed here from the key the holders attested")
	return nil
}

func newKeysDerivationOnlyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
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
			return runKeysDerivationOnly(cmd, g, args[0], args[1])
		},
	}
}

func runKeysDerivationOnly(cmd *cobra.Command, g *globals, keyID, onOff string) error {
	var on bool
	switch onOff {
	case "on":
		on = true
	case "off":
	default:
		return fmt.Errorf("say on or off, not %q", onOff)
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.SetDerivationOnly(ctx, &mpcv1.SetDerivationOnlyRequest{KeyId: keyID, DerivationOnly: on})
	if err != nil {
		return err
	}
	return printKey(cmd, g, resp.GetKey())
}

// infoWriter is where a command says what it signed: stdout, or stderr
// with --json (stdout is the JSON document).
func infoWriter(cmd *cobra.Command, g *globals) io.Writer {
	if g.asJSON {
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
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
		"public_key": hex.EncodeToString(k.GetPublicKey()), "holders": adminview.HolderNames(k), "epoch": k.GetEpoch(),
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
	fmt.Fprintf(w, "devices:    %s\n", strings.Join(adminview.HolderNames(k), ", "))
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
