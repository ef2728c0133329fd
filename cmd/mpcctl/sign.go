package main

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newSignCmd(g *globals) *cobra.Command {
	var keyID, digestHex, requestID string
	cmd := &cobra.Command{
		Use:   "sign --key ID --digest HEX32",
		Short: "Sign a 32-byte digest with a threshold key",
		Long: `Asks the coordinator to sign a 32-byte digest (64 hex digits) with a key.
The coordinator picks t+1 online holders, runs the signing protocol between
them, verifies the signature against the key's public key and returns r, s
(low-S), the recovery id v, the 65-byte r||s||v form and DER.

--request-id makes the call idempotent: repeating it returns the first
signature instead of signing again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			digest, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(digestHex), "0x"))
			if err != nil {
				return fmt.Errorf("--digest is not hex: %v", err)
			}
			c, done, ctx, err := g.signer(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.Sign(ctx, &mpcv1.SignRequest{KeyId: keyID, Digest: digest, RequestId: requestID})
			if err != nil {
				return err
			}
			return printSignature(cmd, g, resp)
		},
	}
	cmd.Flags().StringVar(&keyID, "key", "", "key id (required)")
	cmd.Flags().StringVar(&digestHex, "digest", "", "32-byte digest as hex (required)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "idempotency key: a retry returns the same signature")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("digest")
	return cmd
}

func printSignature(cmd *cobra.Command, g *globals, r *mpcv1.SignResponse) error {
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{
			"key_id": r.GetKeyId(), "r": hex.EncodeToString(r.GetR()), "s": hex.EncodeToString(r.GetS()), "v": r.GetV(),
			"signature_rsv": hex.EncodeToString(r.GetSignatureRsv()), "signature_der": hex.EncodeToString(r.GetSignatureDer()),
			"public_key": hex.EncodeToString(r.GetPublicKey()), "signers": r.GetSigners(), "replayed": r.GetReplayed(),
		})
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "r:          %x\n", r.GetR())
	fmt.Fprintf(w, "s:          %x\n", r.GetS())
	fmt.Fprintf(w, "v:          %d\n", r.GetV())
	fmt.Fprintf(w, "r||s||v:    %x\n", r.GetSignatureRsv())
	fmt.Fprintf(w, "der:        %x\n", r.GetSignatureDer())
	fmt.Fprintf(w, "public key: %x\n", r.GetPublicKey())
	fmt.Fprintf(w, "signers:    %s\n", strings.Join(r.GetSigners(), ", "))
	if r.GetReplayed() {
		fmt.Fprintln(w, "(stored result for this request id)")
	}
	return nil
}
