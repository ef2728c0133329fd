package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/mpcsign/mpcsign/internal/sigfmt"
	"github.com/mpcsign/mpcsign/keystore/seal"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signclient"
	"github.com/mpcsign/mpcsign/signreq"
)

func newSignCmd(g *globals) *cobra.Command {
	var f signFlags
	cmd := &cobra.Command{
		Use:   "sign --key ID (--digest HEX32 | --message HEX | --message-file FILE) [--path m/44/60/0/0/7] [--requester-key FILE]",
		Short: "Sign a digest (secp256k1) or a message (Ed25519) with a threshold key",
		Long: `Asks the coordinator to sign with a key. The coordinator picks t+1 online
holders, runs the signing protocol between them, verifies the signature and
returns it.

secp256k1 keys sign a 32-byte digest (--digest, 64 hex digits) and return r,
s (low-S), the recovery id v, the 65-byte r||s||v form and DER. --path signs
with the BIP32 child key at that path (non-hardened steps); each device
derives it itself, and the derived public key is printed.

Ed25519 keys sign the message itself (--message, hex, 1 to 65536 bytes) and
return the 64-byte signature (RFC 8032). --message-file reads a message's
raw bytes from a file instead (a command line cannot carry the hex of the
longest messages).

Give --digest or --message several times to sign a batch of up to 64 items:
the items run as concurrent sessions, 8 at a time, and every result (or its
error) is printed in order; a bad item fails alone (--message items come
first, then --message-file items). A batch of 64 messages of 65536 bytes
(4 MiB) is the largest request.

--request-id makes the call idempotent: repeating it returns the first
signature instead of signing again.

Once the institution has a roster, every request must be signed by a
requester key registered on it ('mpcctl requesters create'): pass the key
file with --requester-key FILE (its passphrase from
--requester-passphrase-file or the ` + requesterPassphraseEnv + ` environment
variable). mpcctl then signs the request's exact content (key, each digest
or message, path, request id) with an expiry ` + fmt.Sprintf("%d minutes", int(signreq.DefaultLifetime/time.Minute)) + ` ahead, and
every signing device checks that signature and the requester's grants
against its own roster. Without --request-id a signed request gets a
random one (printed on stderr), to repeat the call idempotently. A wallet
backend written in Go uses the package signclient instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := f.request(time.Now())
			if err != nil {
				return err
			}
			if req.GetSigned() != nil && f.requestID == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "request id: %s (signed by requester key %s; repeat with --request-id to retry)\n", req.GetRequestId(), f.requesterKey)
			}
			c, done, ctx, err := g.signer(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.Sign(ctx, req, grpc.MaxCallSendMsgSize(sigfmt.MaxSignRequest))
			if err != nil {
				return err
			}
			if len(resp.GetResults()) > 0 {
				return printBatch(cmd, g, resp)
			}
			return printSignature(cmd, g, resp)
		},
	}
	cmd.Flags().StringVar(&f.keyID, "key", "", "key id (required)")
	cmd.Flags().StringArrayVar(&f.digests, "digest", nil, "secp256k1: 32-byte digest as hex (repeat for a batch)")
	cmd.Flags().StringArrayVar(&f.messages, "message", nil, "Ed25519: the message as hex (repeat for a batch)")
	cmd.Flags().StringArrayVar(&f.messageFiles, "message-file", nil, "Ed25519: read the message's raw bytes from this file (repeat for a batch)")
	cmd.Flags().StringVar(&f.path, "path", "", "secp256k1: sign with the derived key at this BIP32 path")
	cmd.Flags().StringVar(&f.requestID, "request-id", "", "idempotency key: a retry returns the same signature")
	cmd.Flags().StringVar(&f.requesterKey, "requester-key", "", "sign the request with this requester key file ('mpcctl requesters create' writes one); required once a roster exists")
	f.requesterPass.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

// signFlags are 'mpcctl sign”s flags.
type signFlags struct {
	keyID, requestID, path          string
	digests, messages, messageFiles []string
	requesterKey                    string
	requesterPass                   requesterPassFlag
}

// request builds the Sign call; with --requester-key it is signed with
// that key, its expiry counted from now.
func (f *signFlags) request(now time.Time) (*mpcv1.SignRequest, error) {
	if (len(f.digests) == 0) == (len(f.messages)+len(f.messageFiles) == 0) {
		return nil, fmt.Errorf("give --digest (secp256k1 keys) or --message/--message-file (Ed25519 keys)")
	}
	var digests, messages [][]byte
	for _, d := range f.digests {
		b, err := decodeHex(d)
		if err != nil {
			return nil, fmt.Errorf("--digest is not hex: %v", err)
		}
		digests = append(digests, b)
	}
	for _, m := range f.messages {
		b, err := decodeHex(m)
		if err != nil {
			return nil, fmt.Errorf("--message is not hex: %v", err)
		}
		messages = append(messages, b)
	}
	for _, name := range f.messageFiles {
		b, err := readMessageFile(name)
		if err != nil {
			return nil, err
		}
		messages = append(messages, b)
	}
	if f.requesterKey != "" {
		pass, err := f.requesterPass.passphrase()
		if err != nil {
			return nil, err
		}
		defer pass.Wipe()
		pb := pass.Bytes()
		key, err := signclient.LoadKeyFile(f.requesterKey, pb)
		clear(pb)
		if errors.Is(err, seal.ErrWrongPassphrase) {
			return nil, fmt.Errorf("--requester-key: %w: check the passphrase in %s", err, f.requesterPass.source())
		}
		if err != nil {
			return nil, fmt.Errorf("--requester-key: %w", err)
		}
		return signclient.NewSignRequest(key, signclient.Request{
			KeyID: f.keyID, Digests: digests, Messages: messages, Path: f.path, RequestID: f.requestID,
		}, now)
	}
	if f.requesterPass.file != "" {
		return nil, errors.New("--requester-passphrase-file without --requester-key: give the requester key file too")
	}
	req := &mpcv1.SignRequest{KeyId: f.keyID, RequestId: f.requestID, Path: f.path, Digests: digests, Messages: messages}
	if len(req.Digests) == 1 {
		req.Digest, req.Digests = req.Digests[0], nil
	}
	if len(req.Messages) == 1 {
		req.Message, req.Messages = req.Messages[0], nil
	}
	return req, nil
}

// readMessageFile reads a message file, refusing one longer than a message
// may be before reading it all.
func readMessageFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--message-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, sigfmt.MaxMessage+1))
	if err != nil {
		return nil, fmt.Errorf("--message-file %s: %w", name, err)
	}
	if len(b) == 0 || len(b) > sigfmt.MaxMessage {
		return nil, fmt.Errorf("--message-file %s: a message is 1 to %d bytes, this file has %s", name, sigfmt.MaxMessage, sizeText(len(b)))
	}
	return b, nil
}

func decodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
}

func signatureJSON(r *mpcv1.SignResponse) map[string]any {
	out := map[string]any{
		"key_id": r.GetKeyId(), "curve": curveName(r.GetCurve()), "public_key": hex.EncodeToString(r.GetPublicKey()),
		"signers": r.GetSigners(), "replayed": r.GetReplayed(),
	}
	if r.GetPath() != "" {
		out["path"] = r.GetPath()
	}
	if r.GetCurve() == mpcv1.Curve_CURVE_ED25519 {
		out["signature"] = hex.EncodeToString(r.GetSignature())
		return out
	}
	out["r"], out["s"], out["v"] = hex.EncodeToString(r.GetR()), hex.EncodeToString(r.GetS()), r.GetV()
	out["signature_rsv"], out["signature_der"] = hex.EncodeToString(r.GetSignatureRsv()), hex.EncodeToString(r.GetSignatureDer())
	return out
}

func printBatch(cmd *cobra.Command, g *globals, r *mpcv1.SignResponse) error {
	if g.asJSON {
		var out []map[string]any
		for _, it := range r.GetResults() {
			m := map[string]any{"index": it.GetIndex()}
			if it.GetSignature() != nil {
				m["result"] = signatureJSON(it.GetSignature())
			} else {
				m["error_code"], m["error"] = it.GetErrorCode(), it.GetErrorMessage()
			}
			out = append(out, m)
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	w := cmd.OutOrStdout()
	failed := 0
	for _, it := range r.GetResults() {
		fmt.Fprintf(w, "--- item %d\n", it.GetIndex())
		if it.GetSignature() == nil {
			failed++
			fmt.Fprintf(w, "error:      %s: %s\n", it.GetErrorCode(), it.GetErrorMessage())
			continue
		}
		if err := printSignature(cmd, g, it.GetSignature()); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d items failed", failed, len(r.GetResults()))
	}
	return nil
}

func printSignature(cmd *cobra.Command, g *globals, r *mpcv1.SignResponse) error {
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), signatureJSON(r))
	}
	w := cmd.OutOrStdout()
	if r.GetCurve() == mpcv1.Curve_CURVE_ED25519 {
		fmt.Fprintf(w, "signature:  %x\n", r.GetSignature())
	} else {
		if r.GetPath() != "" {
			fmt.Fprintf(w, "path:       %s (public key below is the derived key)\n", r.GetPath())
		}
		fmt.Fprintf(w, "r:          %x\n", r.GetR())
		fmt.Fprintf(w, "s:          %x\n", r.GetS())
		fmt.Fprintf(w, "v:          %d\n", r.GetV())
		fmt.Fprintf(w, "r||s||v:    %x\n", r.GetSignatureRsv())
		fmt.Fprintf(w, "der:        %x\n", r.GetSignatureDer())
	}
	fmt.Fprintf(w, "public key: %x\n", r.GetPublicKey())
	fmt.Fprintf(w, "signers:    %s\n", strings.Join(r.GetSigners(), ", "))
	if r.GetReplayed() {
		fmt.Fprintln(w, "(stored result for this request id)")
	}
	return nil
}

// sizeText is a file's size for an error: "no bytes", or "more than" the
// limit once reading stopped there.
func sizeText(n int) string {
	switch {
	case n == 0:
		return "no bytes"
	case n > sigfmt.MaxMessage:
		return fmt.Sprintf("more than %d", sigfmt.MaxMessage)
	}
	return fmt.Sprintf("%d", n)
}
