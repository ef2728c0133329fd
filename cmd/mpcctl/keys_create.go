package main

import (
	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// keysCreateFlags are the flags of 'keys create'.
type keysCreateFlags struct {
	threshold      uint32
	devices        []string
	curve          string
	derivationOnly bool
	cer            ceremonyFlags
}

func newKeysCreateCmd(g *globals) *cobra.Command {
	var f keysCreateFlags
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
device is still preparing, the command waits (up to --timeout) and says which.

Once the coordinator has a roster, the keygen runs only under the operators'
signed authorization of exactly this curve, threshold and committee. mpcctl
verifies the roster from this operator's pin (--operator-dir), resolves the
device names on it (each must be active there), signs the keygen ceremony
with the operator key (valid for --valid-for) and sends it. With a quorum
above one, write it with --authorization-out FILE, have the other operators
sign it (mpcctl ceremony sign) and run again with --authorization FILE.

With a roster, the key the coordinator reports is checked like 'keys get'
checks one: every member's signed attestation of epoch 0 against the
verified roster, and that it is the curve, threshold and committee asked
for. Then its addresses are computed here and the output says by whom it is
attested; else it says NOT VERIFIED: do not use those addresses.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeysCreate(cmd, g, &f)
		},
	}
	create.Flags().Uint32Var(&f.threshold, "threshold", 1, "tss-lib threshold t: t+1 devices are needed to sign")
	create.Flags().StringSliceVar(&f.devices, "devices", nil, "device names or ids, comma separated (required)")
	create.Flags().StringVar(&f.curve, "curve", "secp256k1", "curve: secp256k1 (ECDSA) or ed25519 (EdDSA)")
	create.Flags().BoolVar(&f.derivationOnly, "derivation-only", false, "secp256k1: the root key never signs, only derived keys (--path)")
	f.cer.register(create.Flags(), "keygen")
	_ = create.MarkFlagRequired("devices")
	return create
}

func runKeysCreate(cmd *cobra.Command, g *globals, f *keysCreateFlags) error {
	cv, err := parseCurve(f.curve)
	if err != nil {
		return err
	}
	if err := f.cer.check(); err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	req := &mpcv1.CreateKeyRequest{Curve: cv, Threshold: f.threshold, Devices: f.devices, DerivationOnly: f.derivationOnly}
	signer, err := f.cer.open(ctx, c)
	if err != nil {
		return err
	}
	var ids []string
	if signer.withRoster() {
		cer, committee, err := keygenCeremony(signer.st, cv, f.threshold, f.devices)
		if err != nil {
			return err
		}
		auth, written, err := signer.authorize(infoWriter(cmd, g), cer)
		if err != nil || written {
			return err
		}
		// Ids, not names: the coordinator runs the committee signed.
		ids = committee
		req.Devices, req.Authorization = ids, auth
	}
	stopProgress := func() {}
	if cv == mpcv1.Curve_CURVE_SECP256K1 {
		stopProgress = adminview.ShowPreparing(ctx, c, req.Devices, cmd.ErrOrStderr())
	}
	resp, err := c.CreateKey(ctx, req)
	stopProgress()
	if err != nil {
		return err
	}
	// The key made is the one its members attest, checked against the
	// roster the keygen was signed on; without a roster nothing is checked.
	k, pinned, check := resp.GetKey(), signer.withRoster(), keyCheck{}
	if pinned {
		check = checkCreated(k, signer.st, cv, f.threshold, ids)
	}
	if g.asJSON {
		out := keyJSON(k)
		if pinned {
			out["attestations"] = check
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	if err := printKey(cmd, g, k); err != nil {
		return err
	}
	printAttested(cmd.OutOrStdout(), pinned, check, "the public key and addresses above are the new holders' own word")
	return nil
}
