package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore/seal"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// requestersCreateFlags are the flags of 'requesters create'.
type requestersCreateFlags struct {
	operators operatorFlags
	grants    grantFlags
	pass      requesterPassFlag
	out       string
	publicKey string
	reason    string
}

func newRequestersCreateCmd(g *globals) *cobra.Command {
	var f requestersCreateFlags
	create := &cobra.Command{
		Use:   "create NAME --keys ID[,ID...]|'*' [--paths m/44/60/0/0,...] [--max-per-hour N] [--out FILE | --public-key FILE.pem]",
		Short: "Register a wallet backend's key on the roster (a new key file, or a KMS/HSM public key)",
		Long: `Registers a requester: signs an add_requester roster entry with this
operator's key and submits it.

Without --public-key it generates an Ed25519 requester key and writes it to
--out (default ./NAME` + requesterFileSuffix + `, mode 0600, never replacing a file),
encrypted under a passphrase of at least 12 characters read from
--requester-passphrase-file or the ` + requesterPassphraseEnv + ` environment
variable (never from a flag). Hand the file to the wallet backend: it signs
with it ('mpcctl sign --requester-key FILE', or signclient.LoadKeyFile).

With --public-key FILE.pem (PEM "PUBLIC KEY", PKIX: Ed25519 or ECDSA P-256)
it registers a key held elsewhere, such as in a cloud KMS or an HSM; no
file is written.

--keys lists the key ids it may sign with ('*': every key, present and
future); --paths, when given, the only BIP32 paths (each path and those
below it); --max-per-hour caps the signatures each device approves for it
in any hour.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRequestersCreate(cmd, g, &f, args[0])
		},
	}
	f.grants.register(create.Flags(), "key ids it may sign with, comma separated, or '*' for every key (required)")
	_ = create.MarkFlagRequired("keys")
	create.Flags().StringVar(&f.out, "out", "", "where to write the new key file (default ./NAME"+requesterFileSuffix+")")
	create.Flags().StringVar(&f.publicKey, "public-key", "", "register this public key (PEM, PKIX, Ed25519 or P-256: a KMS or HSM key) instead of generating one")
	create.Flags().StringVar(&f.reason, "reason", "", "why, recorded in the roster entry")
	f.operators.register(create.Flags())
	f.pass.register(create.Flags())
	create.MarkFlagsMutuallyExclusive("out", "public-key")
	create.MarkFlagsMutuallyExclusive("requester-passphrase-file", "public-key")
	return create
}

// newRequester is the requester 'requesters create' registers and, unless
// it comes from --public-key, its new key file: checked before anything is
// signed, written only once the entry is.
type newRequester struct {
	req roster.Requester
	// key is the new key (nil with --public-key), to be written to out
	// under pass (from passSource); the caller wipes pass.
	key        *keyfile.Key
	pass       seal.Passphrase
	passSource string
	out        string
	// publicKey is the --public-key file the key comes from instead.
	publicKey string
}

func runRequestersCreate(cmd *cobra.Command, g *globals, f *requestersCreateFlags, name string) error {
	nr := &newRequester{}
	defer nr.pass.Wipe()
	if err := nr.prepare(f, name); err != nil {
		return err
	}
	k, err := f.operators.load()
	if err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, f.operators.dir)
	if err != nil {
		return err
	}
	if err := checkNewRequester(st, nr.req); err != nil {
		return err
	}
	b := st.Next(roster.KindAddRequester, time.Now())
	b.Requester, b.Reason = &nr.req, f.reason
	e, err := signEntry(st, b, k)
	if err != nil {
		return err
	}
	if err := nr.writeKey(); err != nil {
		return err
	}
	sub, err := submitEntry(ctx, c, f.operators.dir, st, e, b)
	if err != nil {
		return nr.submitFailed(err)
	}
	return nr.print(cmd.OutOrStdout(), g.asJSON, st, b, e, sub, k.Name())
}

// prepare checks the grants and makes the requester's key: the one in
// --public-key, else a new one.
func (nr *newRequester) prepare(f *requestersCreateFlags, name string) error {
	keys, err := parseKeys(f.grants.keys)
	if err != nil {
		return err
	}
	paths, err := parsePaths(f.grants.paths)
	if err != nil {
		return err
	}
	if err := checkMaxPerHour(f.grants.maxPerHour); err != nil {
		return err
	}
	nr.req = roster.Requester{Name: name, Keys: keys, Paths: paths, MaxPerHour: f.grants.maxPerHour}
	if f.publicKey != "" {
		nr.publicKey = f.publicKey
		nr.req.Algorithm, nr.req.PublicKey, nr.req.ID, err = readPublicKeyPEM(f.publicKey)
		return err
	}
	return nr.generate(name, f.out, &f.pass)
}

// generate makes a new requester key to be written to out (default
// ./NAME.requester.json, which must not exist) and reads its passphrase.
func (nr *newRequester) generate(name, out string, rp *requesterPassFlag) error {
	if out == "" {
		out = name + requesterFileSuffix
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s already exists: pass another --out, or remove it if you mean to replace that key (a key on the roster is revoked with 'mpcctl requesters revoke')", out)
	}
	nr.out = out
	var err error
	if nr.key, err = keyfile.Generate(keyfile.KindRequester, name); err != nil {
		return fmt.Errorf("requester name %q: %w", name, err)
	}
	if nr.pass, err = rp.passphrase(); err != nil {
		return err
	}
	nr.passSource = rp.source()
	b := nr.pass.Bytes()
	n := utf8.RuneCount(b)
	clear(b)
	if n < minOperatorPassphrase {
		return fmt.Errorf("the passphrase from %s is %d characters: use at least %d (a few random words are easy to type and hard to guess)",
			nr.passSource, n, minOperatorPassphrase)
	}
	nr.req.Algorithm, nr.req.PublicKey, nr.req.ID, err = signreq.KeyOf(nr.key.PublicKey())
	return err
}

// checkNewRequester refuses a requester whose key was on the roster
// already, or whose name an active requester has.
func checkNewRequester(st *roster.State, req roster.Requester) error {
	if old, ok := st.Requester(req.ID); ok {
		if !old.Active {
			return fmt.Errorf("this key was requester %s, revoked at roster height %d: a revoked key never comes back; register a new key", old.Name, old.RevokedAt)
		}
		return fmt.Errorf("this key is requester %s already: change its grants with 'mpcctl requesters grant %s'", old.Name, old.Name)
	}
	if other, ok := st.ActiveRequesterByName(req.Name); ok {
		return fmt.Errorf("requester %q exists already (%s): change its grants with 'mpcctl requesters grant %s', or revoke it first to give the name to a new key", req.Name, other.ID, req.Name)
	}
	return nil
}

// writeKey writes the new key file, if there is one (never replacing a
// file).
func (nr *newRequester) writeKey() error {
	if nr.key == nil {
		return nil
	}
	if err := keyfile.Write(nr.out, nr.key, nr.pass, requesterKDF); err != nil {
		if errors.Is(err, keyfile.ErrExists) {
			return fmt.Errorf("%s already exists: pass another --out, or remove it if you mean to replace that key", nr.out)
		}
		return fmt.Errorf("write the requester key (nothing was submitted): %w", err)
	}
	return nil
}

// submitFailed is the error when the entry could not be submitted: it
// removes the new key file, if there is one, and says what became of it.
func (nr *newRequester) submitFailed(err error) error {
	if nr.key == nil {
		return err
	}
	if rmErr := os.Remove(nr.out); rmErr == nil {
		return fmt.Errorf("submit the add_requester entry: %w (the new key file %s was removed; if 'mpcctl requesters list' shows the requester anyway, revoke it)", err, nr.out)
	}
	return fmt.Errorf("submit the add_requester entry: %w (remove the new key file %s before trying again)", err, nr.out)
}

// print is the output of 'requesters create' once its entry is submitted.
func (nr *newRequester) print(w io.Writer, asJSON bool, st *roster.State, b roster.Body, e roster.Entry, sub *mpcv1.SubmitRosterEntryResponse, signer string) error {
	if asJSON {
		res := outcomeJSON(e, sub)
		res["requester"] = requesterJSON(nr.req)
		res["entry"] = bodyJSON(b, st)
		if nr.key != nil {
			res["key_file"] = nr.out
		}
		return printJSON(w, res)
	}
	printRequester(w, nr.req)
	if nr.key != nil {
		fmt.Fprintf(w, "key file:     %s (encrypted under the passphrase from %s; give both to the wallet backend, apart)\n", nr.out, nr.passSource)
	} else {
		fmt.Fprintf(w, "public key:   from %s (the private key stays in its KMS or HSM)\n", nr.publicKey)
	}
	fmt.Fprintf(w, "\nadd_requester entry %s signed as %s\n", entryID(e.Hash()), signer)
	printOutcome(w, e, sub)
	if sub.GetAppended() {
		fmt.Fprintln(w, "the wallet backend signs its requests with this key: mpcctl sign --requester-key FILE, or the Go package signclient")
	}
	return nil
}

// readPublicKeyPEM reads a requester public key: PEM "PUBLIC KEY" (PKIX),
// Ed25519 or ECDSA P-256, as a KMS or an HSM exports it.
func readPublicKeyPEM(path string) (alg string, pub []byte, id string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, "", fmt.Errorf("--public-key: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxPublicKeyPEM+1))
	if err != nil {
		return "", nil, "", fmt.Errorf("--public-key %s: %w", path, err)
	}
	if len(raw) > maxPublicKeyPEM {
		return "", nil, "", fmt.Errorf("--public-key %s is larger than %d bytes: it is not a public key", path, maxPublicKeyPEM)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PUBLIC KEY" {
		return "", nil, "", fmt.Errorf("--public-key %s: want a PEM block \"PUBLIC KEY\" (PKIX; e.g. openssl pkey -pubout, or the KMS's public key export)", path)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return "", nil, "", fmt.Errorf("--public-key %s: %v", path, err)
	}
	alg, pub, id, err = signreq.KeyOf(crypto.PublicKey(key))
	if err != nil {
		return "", nil, "", fmt.Errorf("--public-key %s: %w", path, err)
	}
	return alg, pub, id, nil
}
