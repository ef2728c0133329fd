package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create and inspect threshold keys"}

	var threshold uint32
	var devices []string
	var curve string
	var derivationOnly bool
	var createCer ceremonyFlags
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
sign it (mpcctl ceremony sign) and run again with --authorization FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cv, err := parseCurve(curve)
			if err != nil {
				return err
			}
			if err := createCer.check(); err != nil {
				return err
			}
			c, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			req := &mpcv1.CreateKeyRequest{Curve: cv, Threshold: threshold, Devices: devices, DerivationOnly: derivationOnly}
			signer, err := createCer.open(ctx, c)
			if err != nil {
				return err
			}
			if signer.withRoster() {
				cer, ids, err := keygenCeremony(signer.st, cv, threshold, devices)
				if err != nil {
					return err
				}
				auth, written, err := signer.authorize(infoWriter(cmd, g), cer)
				if err != nil || written {
					return err
				}
				// Ids, not names: the coordinator runs the committee signed.
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
			return printKey(cmd, g, resp.GetKey())
		},
	}
	create.Flags().Uint32Var(&threshold, "threshold", 1, "tss-lib threshold t: t+1 devices are needed to sign")
	create.Flags().StringSliceVar(&devices, "devices", nil, "device names or ids, comma separated (required)")
	create.Flags().StringVar(&curve, "curve", "secp256k1", "curve: secp256k1 (ECDSA) or ed25519 (EdDSA)")
	create.Flags().BoolVar(&derivationOnly, "derivation-only", false, "secp256k1: the root key never signs, only derived keys (--path)")
	createCer.register(create.Flags(), "keygen")
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
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %d-of-%d  %x  %s\n", k.GetId(), k.GetThreshold()+1, len(k.GetHolders()), k.GetPublicKey(), strings.Join(adminview.HolderNames(k), ","))
			}
			return nil
		},
	}

	var getPath string
	var getOps operatorFlags
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
			check, pinned, err := keyCheckFor(ctx, c, getOps.dir, resp.GetKey())
			if err != nil {
				return err
			}
			if check.Verified {
				// What is shown comes from the attested key, computed here.
				resp.GetKey().Addresses = localAddresses(resp.GetKey())
				if err := checkDerived(resp.GetKey(), resp.GetDerived()); err != nil {
					return err
				}
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
			w := cmd.OutOrStdout()
			switch {
			case !pinned:
				fmt.Fprintln(w, "attested:   not checked (this machine pins no roster: mpcctl roster pin --genesis HASH)")
			case check.Verified:
				fmt.Fprintf(w, "attested:   by %s, checked against your roster: the public key and addresses above are the holders' own word\n", strings.Join(check.By, ", "))
			default:
				fmt.Fprintf(w, "attested:   NOT VERIFIED (%s): do not use these addresses on the coordinator's word alone\n", check.Error)
			}
			if resp.GetDerived() == nil {
				return nil
			}
			return printDerived(cmd, g, resp.GetDerived())
		},
	}
	get.Flags().StringVar(&getPath, "path", "", "also show the derived key at this BIP32 path")
	getOps.registerDir(get.Flags())

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

// Operator-signed ceremonies. With a roster, the coordinator runs a keygen,
// reshare or drill only under an authorization a quorum of operators signed
// over its exact parameters (roster.Ceremony). mpcctl builds the ceremony
// from the roster this operator verified (names resolve to device ids there,
// never through the coordinator), signs it with the operator key and sends
// it with the request. With a quorum above one, --authorization-out writes
// the partly signed authorization to a file, the other operators add theirs
// with 'mpcctl ceremony sign', and --authorization sends it.

// defaultCeremonyValidity is how long a keygen, reshare or drill
// authorization is valid unless --valid-for says otherwise.
const defaultCeremonyValidity = time.Hour

// maxAuthorizationFile bounds an authorization file read from disk.
const maxAuthorizationFile = 1 << 20

// ceremonyFlags are the flags of a command that runs a ceremony.
type ceremonyFlags struct {
	ops      operatorFlags
	validFor time.Duration
	out      string // --authorization-out
	in       string // --authorization
}

// register adds the operator flags, --valid-for, --authorization-out and
// --authorization to fs; what names the ceremony ("keygen", ...).
func (f *ceremonyFlags) register(fs *pflag.FlagSet, what string) {
	f.ops.register(fs)
	fs.DurationVar(&f.validFor, "valid-for", defaultCeremonyValidity,
		"with a roster: how long the operators' signed "+what+" authorization stays valid")
	fs.StringVar(&f.out, "authorization-out", "",
		"with a roster: sign the "+what+" authorization and write it to FILE for the other operators to sign (mpcctl ceremony sign) instead of running it")
	fs.StringVar(&f.in, "authorization", "",
		"with a roster: run under the authorization in FILE, signed by enough operators (made with --authorization-out)")
}

// check refuses contradicting flags before anything is contacted.
func (f *ceremonyFlags) check() error {
	if f.in != "" && f.out != "" {
		return errors.New("give --authorization (run under a signed authorization) or --authorization-out (write one for signing), not both")
	}
	return checkValidity("--valid-for", f.validFor)
}

func checkValidity(flag string, d time.Duration) error {
	if d <= 0 || d+time.Minute > roster.MaxCeremonyWindow {
		return fmt.Errorf("%s %s: give a duration above 0 and below %s", flag, d, roster.MaxCeremonyWindow-time.Minute)
	}
	return nil
}

// ceremonySigner signs the ceremonies of one command run.
type ceremonySigner struct {
	f   *ceremonyFlags
	st  *roster.State // the verified roster; nil: the coordinator has none
	key *keyfile.Key  // loaded on first use
}

// open fetches and verifies the roster. Without one (and without a pin of
// one) no ceremony is signed, and the --authorization flags are refused.
func (f *ceremonyFlags) open(ctx context.Context, c mpcv1.AdminServiceClient) (*ceremonySigner, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	r, withRoster, err := rosterInUse(ctx, c, f.ops.dir)
	if err != nil {
		return nil, err
	}
	if !withRoster {
		if f.in != "" || f.out != "" {
			return nil, errors.New("--authorization and --authorization-out are for a coordinator with a roster, and this one has none: leave them out")
		}
		return &ceremonySigner{f: f}, nil
	}
	v, err := verifyResponse(f.ops.dir, r)
	if err != nil {
		return nil, err
	}
	return &ceremonySigner{f: f, st: v.state}, nil
}

// withRoster reports whether ceremonies are signed.
func (s *ceremonySigner) withRoster() bool { return s.st != nil }

// signer is the operator key, loaded once and checked to be an operator's.
func (s *ceremonySigner) signer() (*keyfile.Key, error) {
	if s.key != nil {
		return s.key, nil
	}
	k, err := s.f.ops.load()
	if err != nil {
		return nil, err
	}
	if !isOperator(s.st.Operators(), k.PublicKey()) {
		return nil, fmt.Errorf("this operator's key (%s, fingerprint %s) is not one of the roster's operators: only they can sign ceremonies", k.Name(), keyfile.Fingerprint(k.PublicKey()))
	}
	s.key = k
	return k, nil
}

// authorize returns the authorization to send for the ceremony want (its
// kind and parameters; the chain fields, window and nonce are filled in
// here): the one in --authorization, checked to verify and to match want;
// or want signed by this operator. With --authorization-out it writes the
// signed authorization and reports written (the caller runs nothing).
func (s *ceremonySigner) authorize(w io.Writer, want roster.Ceremony) (auth *mpcv1.Authorization, written bool, err error) {
	st, f := s.st, s.f
	if f.in != "" {
		a, err := readAuthorization(f.in)
		if err != nil {
			return nil, false, err
		}
		c, err := st.VerifyCeremony(a, time.Now())
		switch {
		case errors.Is(err, roster.ErrQuorum):
			return nil, false, fmt.Errorf("the authorization in %s is not signed by enough operators (%v): the others add their signatures with 'mpcctl ceremony sign --in %s'", f.in, err, f.in)
		case err != nil:
			return nil, false, fmt.Errorf("the authorization in %s does not verify against the roster this operator verified: %w", f.in, err)
		}
		if c.Kind == roster.CeremonyKeygen && want.Kind != roster.CeremonyKeygen {
			return nil, false, fmt.Errorf("the authorization in %s is for a keygen, not a %s", f.in, want.Kind)
		}
		if err := c.Allows(ceremonySession(want)); err != nil {
			return nil, false, fmt.Errorf("the authorization in %s is not for what this command runs (%w): %s", f.in, err, describeCeremonyLine(st, c))
		}
		fmt.Fprintf(w, "running under the operators' authorization %s (%s; signed by %s)\n", entryID(a.Hash()), c.Kind, signedByText(ceremonySigners(st, a)))
		return roster.AuthorizationProto(a), false, nil
	}
	if f.out == "" && st.Quorum() > 1 {
		return nil, false, fmt.Errorf("the roster's quorum is %d operators: this operator's signature alone does not authorize the %s. Sign it with --authorization-out FILE, have %d other operator(s) add theirs (mpcctl ceremony sign --in FILE --out FILE), then run this command again with --authorization FILE",
			st.Quorum(), want.Kind, st.Quorum()-1)
	}
	k, err := s.signer()
	if err != nil {
		return nil, false, err
	}
	a, err := signCeremony(st, k, want, f.validFor)
	if err != nil && !(errors.Is(err, roster.ErrQuorum) && f.out != "") {
		return nil, false, err
	}
	if f.out != "" {
		if err := writeAuthorization(f.out, a); err != nil {
			return nil, false, err
		}
		c, _ := roster.DecodeCeremony(a.Body)
		fmt.Fprintf(w, "%s authorization %s signed as %s and written to %s (nothing was run)\n  %s\n", want.Kind, entryID(a.Hash()), k.Name(), f.out, describeCeremonyLine(st, c))
		if need := st.Quorum() - 1; need > 0 {
			fmt.Fprintf(w, "%d other operator(s) sign it: mpcctl ceremony sign --in %s --out %s\n", need, f.out, f.out)
		}
		fmt.Fprintf(w, "then run this command again with --authorization %s (before %s)\n", f.out, fmtTime(time.Unix(c.NotAfter, 0)))
		return nil, true, nil
	}
	fmt.Fprintf(w, "operators' authorization signed as %s: %s %s (valid for %s)\n", k.Name(), want.Kind, entryID(a.Hash()), f.validFor)
	return roster.AuthorizationProto(a), false, nil
}

// signCeremony completes want for st (chain fields, a window of validFor
// from now, a fresh nonce), signs it with k and verifies it against st. It
// returns the authorization with an ErrQuorum error when k's signature
// alone is not enough; any other error means it must not be sent.
func signCeremony(st *roster.State, k *keyfile.Key, want roster.Ceremony, validFor time.Duration) (roster.Authorization, error) {
	c := st.NewCeremony(want.Kind, validFor, time.Now())
	c.KeyID, c.Curve, c.Epoch, c.Reason = want.KeyID, want.Curve, want.Epoch, want.Reason
	c.Threshold, c.Committee = want.Threshold, want.Committee
	c.NewThreshold, c.NewCommittee = want.NewThreshold, want.NewCommittee
	c.Standing = want.Standing
	raw, err := roster.EncodeCeremony(c)
	if err != nil {
		return roster.Authorization{}, err
	}
	a := roster.Authorization{Body: raw}
	a.Sign(k)
	if _, err := st.VerifyCeremony(a, time.Now()); errors.Is(err, roster.ErrQuorum) {
		return a, err
	} else if err != nil {
		return roster.Authorization{}, fmt.Errorf("the roster would refuse this %s authorization: %w", want.Kind, err)
	}
	return a, nil
}

// ceremonySession is the session a ceremony describes exactly.
func ceremonySession(c roster.Ceremony) roster.Session {
	if c.Kind == roster.CeremonyKeygen {
		return roster.Session{Keygen: true, Curve: c.Curve, Threshold: c.Threshold, Committee: c.Committee}
	}
	return roster.Session{KeyID: c.KeyID, Curve: c.Curve, Epoch: c.Epoch, Threshold: c.Threshold, Committee: c.Committee,
		NewThreshold: c.NewThreshold, NewCommittee: c.NewCommittee}
}

// rosterCurve is a curve as ceremonies name it.
func rosterCurve(c mpcv1.Curve) string {
	if c == mpcv1.Curve_CURVE_ED25519 {
		return roster.CurveEd25519
	}
	return roster.CurveSecp256k1
}

// resolveActive finds a device (by id, or by the name of an active
// device) on the verified roster; it must be active there.
func resolveActive(st *roster.State, ref string) (roster.DeviceState, error) {
	if d, ok := st.Device(ref); ok && d.Active {
		return d, nil
	}
	if d, ok := st.ActiveByName(ref); ok {
		return d, nil
	}
	if d, ok := st.Device(ref); ok {
		return roster.DeviceState{}, fmt.Errorf("device %q (%s) is revoked on the roster this operator verified (height %d)", d.Name, shortID(d.ID), d.RevokedAt)
	}
	for _, d := range st.Devices() {
		if d.Name == ref {
			return roster.DeviceState{}, fmt.Errorf("device %q is revoked on the roster this operator verified (height %d)", ref, d.RevokedAt)
		}
	}
	return roster.DeviceState{}, fmt.Errorf("device %q is not active on the roster this operator verified ('mpcctl roster show' lists its devices; a new device is approved onto it with 'mpcctl devices approve')", ref)
}

// resolveCommittee resolves refs to the ids of distinct active devices.
func resolveCommittee(st *roster.State, refs []string) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		d, err := resolveActive(st, ref)
		if err != nil {
			return nil, err
		}
		if slices.Contains(ids, d.ID) {
			return nil, fmt.Errorf("device %q is listed twice", ref)
		}
		ids = append(ids, d.ID)
	}
	return ids, nil
}

// keygenCeremony is the keygen of a key of curve cv with threshold t by
// the devices refs; it returns their ids too.
func keygenCeremony(st *roster.State, cv mpcv1.Curve, t uint32, refs []string) (roster.Ceremony, []string, error) {
	ids, err := resolveCommittee(st, refs)
	if err != nil {
		return roster.Ceremony{}, nil, err
	}
	return roster.Ceremony{Kind: roster.CeremonyKeygen, Curve: rosterCurve(cv), Threshold: int(t), Committee: ids}, ids, nil
}

// activeHolders splits a key's holders into those active on st (ids) and
// the others (names).
func activeHolders(st *roster.State, k *mpcv1.Key) (active, gone []string) {
	for _, h := range k.GetHolders() {
		if st.Active(h.GetDeviceId()) {
			active = append(active, h.GetDeviceId())
		} else {
			gone = append(gone, h.GetDeviceName())
		}
	}
	return active, gone
}

// reshareCeremony is the reshare of key k from its holders active on st to
// the devices refs (default: its holders) with threshold newT (default: the
// key's); it returns the new committee's ids too.
func reshareCeremony(st *roster.State, k *mpcv1.Key, refs []string, newT *uint32) (roster.Ceremony, []string, error) {
	// The new committee is the operator's own --devices list; without one
	// it is the key's holders, which must be the devices' attested word.
	if len(refs) == 0 {
		if err := attestedHolders(st, k); err != nil {
			return roster.Ceremony{}, nil, err
		}
	}
	t := int(k.GetThreshold())
	old, gone := activeHolders(st, k)
	if len(old) < t+1 {
		return roster.Ceremony{}, nil, fmt.Errorf("key %s needs %d of its holders to reshare and only %d are active on the roster this operator verified (not: %s)",
			k.GetId(), t+1, len(old), strings.Join(gone, ", "))
	}
	var ids []string
	if len(refs) == 0 {
		for _, h := range k.GetHolders() {
			if !st.Active(h.GetDeviceId()) {
				return roster.Ceremony{}, nil, fmt.Errorf("device %q holds key %s but is not active on the roster this operator verified: give --devices without it", h.GetDeviceName(), k.GetId())
			}
			ids = append(ids, h.GetDeviceId())
		}
	} else {
		var err error
		if ids, err = resolveCommittee(st, refs); err != nil {
			return roster.Ceremony{}, nil, err
		}
	}
	nt := t
	if newT != nil {
		nt = int(*newT)
	}
	return roster.Ceremony{Kind: roster.CeremonyReshare, KeyID: k.GetId(), Curve: rosterCurve(k.GetCurve()), Epoch: k.GetEpoch(),
		Threshold: t, Committee: old, NewThreshold: nt, NewCommittee: ids}, ids, nil
}

// drillCeremony is a drill of key k: its holders, all active on st, to
// themselves with the same threshold.
func drillCeremony(st *roster.State, k *mpcv1.Key) (roster.Ceremony, error) {
	if err := attestedHolders(st, k); err != nil {
		return roster.Ceremony{}, err
	}
	var ids []string
	for _, h := range k.GetHolders() {
		if !st.Active(h.GetDeviceId()) {
			return roster.Ceremony{}, fmt.Errorf("device %q holds key %s but is not active on the roster this operator verified: a drill needs every holder; reshare the key without it (mpcctl keys reshare)", h.GetDeviceName(), k.GetId())
		}
		ids = append(ids, h.GetDeviceId())
	}
	t := int(k.GetThreshold())
	return roster.Ceremony{Kind: roster.CeremonyDrill, KeyID: k.GetId(), Curve: rosterCurve(k.GetCurve()), Epoch: k.GetEpoch(),
		Threshold: t, Committee: ids, NewThreshold: t, NewCommittee: slices.Clone(ids)}, nil
}

// authorizationFile is an authorization on disk: the ceremony's canonical
// body and the signatures, base64 (encoding/json of []byte).
type authorizationFile struct {
	Body       []byte             `json:"body"`
	Signatures []authorizationSig `json:"signatures"`
}

type authorizationSig struct {
	Key []byte `json:"key"`
	Sig []byte `json:"sig"`
}

func readAuthorization(path string) (roster.Authorization, error) {
	f, err := os.Open(path)
	if err != nil {
		return roster.Authorization{}, fmt.Errorf("read the authorization: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxAuthorizationFile+1))
	if err != nil {
		return roster.Authorization{}, fmt.Errorf("read the authorization: %w", err)
	}
	if len(raw) > maxAuthorizationFile {
		return roster.Authorization{}, fmt.Errorf("%s is over %d bytes: not an authorization file", path, maxAuthorizationFile)
	}
	var af authorizationFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&af); err != nil {
		return roster.Authorization{}, fmt.Errorf("%s is not an authorization file (%v): it is written by --authorization-out", path, err)
	}
	if len(af.Body) == 0 {
		return roster.Authorization{}, fmt.Errorf("%s is not an authorization file: it has no body", path)
	}
	a := roster.Authorization{Body: af.Body}
	for _, sg := range af.Signatures {
		a.Signatures = append(a.Signatures, roster.Signature{Key: sg.Key, Sig: sg.Sig})
	}
	return a, nil
}

// writeAuthorization writes a to path through a temporary file renamed
// over it (path may be the file it was read from).
func writeAuthorization(path string, a roster.Authorization) (err error) {
	af := authorizationFile{Body: a.Body, Signatures: []authorizationSig{}}
	for _, sg := range a.Signatures {
		af.Signatures = append(af.Signatures, authorizationSig{Key: sg.Key, Sig: sg.Sig})
	}
	raw, err := json.MarshalIndent(af, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write the authorization: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write the authorization: %w", err)
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("write the authorization: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the authorization: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write the authorization: %w", err)
	}
	return nil
}

// ceremonySigners names the roster operators whose keys signed a (call it
// on a verified authorization, or after VerifyCeremony's ErrQuorum).
func ceremonySigners(st *roster.State, a roster.Authorization) []string {
	var names []string
	for _, op := range st.Operators() {
		for _, sg := range a.Signatures {
			if bytes.Equal(sg.Key, op.Key) {
				names = append(names, op.Name)
			}
		}
	}
	return names
}

// deviceNames names device ids from the verified roster.
func deviceNames(st *roster.State, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if d, ok := st.Device(id); ok {
			out = append(out, d.Name)
		} else {
			out = append(out, id)
		}
	}
	return out
}

// describeCeremonyLine says in one line what a ceremony allows.
func describeCeremonyLine(st *roster.State, c roster.Ceremony) string {
	s := fmt.Sprintf("%s (%s)", c.Kind, c.Curve)
	if c.KeyID != "" {
		s = fmt.Sprintf("%s of key %s (epoch %d)", c.Kind, c.KeyID, c.Epoch)
	}
	if c.Standing {
		s = fmt.Sprintf("STANDING %s of key %s (any epoch, until %s)", c.Kind, c.KeyID, fmtTime(time.Unix(c.NotAfter, 0)))
	}
	s += fmt.Sprintf(": %s (t=%d)", strings.Join(deviceNames(st, c.Committee), ", "), c.Threshold)
	if c.Kind != roster.CeremonyKeygen {
		s += fmt.Sprintf(" -> %s (t=%d)", strings.Join(deviceNames(st, c.NewCommittee), ", "), c.NewThreshold)
	}
	return s
}

// printCeremony shows an authorization about to be signed.
func printCeremony(w io.Writer, st *roster.State, a roster.Authorization, c roster.Ceremony) {
	fmt.Fprintf(w, "authorization %s: %s (%s)\n", entryID(a.Hash()), c.Kind, c.Curve)
	switch {
	case c.Standing:
		fmt.Fprintf(w, "  STANDING:      drills key %s again and again, at any epoch, until %s\n", c.KeyID, fmtTime(time.Unix(c.NotAfter, 0)))
	case c.KeyID != "":
		fmt.Fprintf(w, "  key:           %s (at epoch %d)\n", c.KeyID, c.Epoch)
	}
	committee := func(ids []string) string {
		var parts []string
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf("%s (%s)", deviceNames(st, []string{id})[0], shortID(id)))
		}
		return strings.Join(parts, ", ")
	}
	label := "committee:    "
	if c.Kind != roster.CeremonyKeygen {
		label = "old committee:"
	}
	fmt.Fprintf(w, "  %s %s; threshold %d (any %d sign)\n", label, committee(c.Committee), c.Threshold, c.Threshold+1)
	if c.Kind != roster.CeremonyKeygen {
		fmt.Fprintf(w, "  new committee: %s; threshold %d (any %d sign)\n", committee(c.NewCommittee), c.NewThreshold, c.NewThreshold+1)
	}
	if c.Reason != "" {
		fmt.Fprintf(w, "  reason:        %q\n", c.Reason)
	}
	fmt.Fprintf(w, "  valid:         %s to %s\n", fmtTime(time.Unix(c.NotBefore, 0)), fmtTime(time.Unix(c.NotAfter, 0)))
	fmt.Fprintf(w, "  signed by:     %s (quorum %d)\n", signedByText(ceremonySigners(st, a)), st.Quorum())
}

func ceremonyJSON(st *roster.State, a roster.Authorization, c roster.Ceremony) map[string]any {
	m := map[string]any{
		"id": entryID(a.Hash()), "hash": a.Hash().String(), "kind": string(c.Kind), "curve": c.Curve,
		"threshold": c.Threshold, "committee": deviceNames(st, c.Committee), "committee_ids": c.Committee,
		"not_before": time.Unix(c.NotBefore, 0).UTC(), "not_after": time.Unix(c.NotAfter, 0).UTC(),
		"signed_by": ceremonySigners(st, a), "quorum": st.Quorum(), "standing": c.Standing,
	}
	if c.KeyID != "" {
		m["key_id"], m["epoch"] = c.KeyID, c.Epoch
		m["new_threshold"], m["new_committee"], m["new_committee_ids"] = c.NewThreshold, deviceNames(st, c.NewCommittee), c.NewCommittee
	}
	if c.Reason != "" {
		m["reason"] = c.Reason
	}
	return m
}

// newCeremonyCmd is 'mpcctl ceremony': operator authorizations in files.
func newCeremonyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ceremony",
		Short: "Sign operator authorizations of keygens, reshares and drills kept in files",
		Long: `With a roster whose quorum is above one, a keygen, reshare or drill runs only
under an authorization signed by enough operators. The first operator writes
it with --authorization-out FILE (mpcctl keys create, keys reshare, drill);
each other operator adds a signature with 'mpcctl ceremony sign'; then the
command runs with --authorization FILE.`,
	}
	var ops operatorFlags
	var in, out string
	sign := &cobra.Command{
		Use:   "sign --in FILE [--out FILE]",
		Short: "Check an authorization against the verified roster, show it and add this operator's signature",
		Long: `Reads an authorization file (made with --authorization-out), verifies the
coordinator's roster from this operator's pin, checks the authorization is
for that roster, unexpired, names only active devices and carries only valid
operator signatures, shows what it allows (devices named from the verified
roster) and adds this operator's signature. It writes the result to --out
(default: --in, replaced).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				out = in
			}
			a, err := readAuthorization(in)
			if err != nil {
				return err
			}
			c, err := roster.DecodeCeremony(a.Body)
			if err != nil {
				return fmt.Errorf("the authorization in %s is malformed (%w): do not sign it", in, err)
			}
			cl, done, ctx, err := g.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			st, _, err := verifiedRoster(ctx, cl, ops.dir)
			if err != nil {
				return err
			}
			if _, err := st.VerifyCeremony(a, time.Now()); err != nil && !errors.Is(err, roster.ErrQuorum) {
				return fmt.Errorf("the authorization in %s does not verify against the roster this operator verified (%w): do not sign it", in, err)
			}
			for _, id := range append(slices.Clone(c.Committee), c.NewCommittee...) {
				if !st.Active(id) {
					return fmt.Errorf("the authorization in %s names device %s (%s), which is not active on the roster this operator verified: do not sign it", in, deviceNames(st, []string{id})[0], id)
				}
			}
			w := cmd.OutOrStdout()
			if !g.asJSON {
				printCeremony(w, st, a, c)
			}
			k, err := ops.load()
			if err != nil {
				return err
			}
			if !isOperator(st.Operators(), k.PublicKey()) {
				return fmt.Errorf("this operator's key (%s, fingerprint %s) is not one of the roster's operators: only they can sign ceremonies", k.Name(), keyfile.Fingerprint(k.PublicKey()))
			}
			a.Sign(k)
			_, verr := st.VerifyCeremony(a, time.Now())
			if verr != nil && !errors.Is(verr, roster.ErrQuorum) {
				return fmt.Errorf("the roster would refuse the signed authorization: %w", verr)
			}
			if err := writeAuthorization(out, a); err != nil {
				return err
			}
			signers := ceremonySigners(st, a)
			if g.asJSON {
				m := ceremonyJSON(st, a, c)
				m["complete"], m["file"] = verr == nil, out
				return printJSON(w, m)
			}
			fmt.Fprintf(w, "signed as %s; written to %s\n", k.Name(), out)
			if verr == nil {
				fmt.Fprintf(w, "signed by %s: the quorum (%d) is reached; run the command with --authorization %s\n", signedByText(signers), st.Quorum(), out)
			} else {
				fmt.Fprintf(w, "signed by %s of a quorum of %d: %d more operator(s) sign it (mpcctl ceremony sign --in %s)\n",
					signedByText(signers), st.Quorum(), st.Quorum()-len(signers), out)
			}
			return nil
		},
	}
	sign.Flags().StringVar(&in, "in", "", "the authorization file to sign (required)")
	sign.Flags().StringVar(&out, "out", "", "where to write the signed authorization (default: replace --in)")
	_ = sign.MarkFlagRequired("in")
	ops.register(sign.Flags())
	cmd.AddCommand(sign)
	return cmd
}
