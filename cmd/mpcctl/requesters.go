package main

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore/seal"
	"github.com/mpcsign/mpcsign/signreq"
)

const (
	// requesterPassphraseEnv holds a requester key file's passphrase when no
	// --requester-passphrase-file is given (not MPC_OPERATOR_PASSPHRASE: the
	// requester key belongs to a wallet backend, not to an operator).
	requesterPassphraseEnv = "MPC_REQUESTER_PASSPHRASE"
	// requesterFileSuffix names a new requester key file: NAME + suffix.
	requesterFileSuffix = ".requester.json"
	// maxPublicKeyPEM bounds a --public-key file.
	maxPublicKeyPEM = 16 << 10
)

// requesterKDF are the Argon2id parameters of a new requester key file.
// Only tests change it.
var requesterKDF = seal.DefaultKDF()

// requesterPassFlag is --requester-passphrase-file: where a requester key
// file's passphrase comes from (else $MPC_REQUESTER_PASSPHRASE).
type requesterPassFlag struct{ file string }

func (p *requesterPassFlag) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.file, "requester-passphrase-file", "",
		"file holding the requester key's passphrase (default: the "+requesterPassphraseEnv+" environment variable)")
}

// passphrase reads the requester key's passphrase like an operator's: from
// the file, else from the environment; it refuses an empty one. The caller
// wipes it.
func (p *requesterPassFlag) passphrase() (seal.Passphrase, error) {
	if p.file != "" {
		pass, err := seal.LoadPassphrase(p.file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return seal.Passphrase{}, fmt.Errorf("--requester-passphrase-file %s does not exist", p.file)
		case errors.Is(err, seal.ErrNoPassphrase):
			return seal.Passphrase{}, fmt.Errorf("--requester-passphrase-file %s is empty: put the requester key's passphrase in it", p.file)
		case err != nil:
			return seal.Passphrase{}, err
		}
		return pass, nil
	}
	v := os.Getenv(requesterPassphraseEnv)
	if v == "" {
		return seal.Passphrase{}, fmt.Errorf("no passphrase for the requester key: pass --requester-passphrase-file FILE (a file only you can read) or set %s", requesterPassphraseEnv)
	}
	return seal.NewPassphrase([]byte(v)), nil
}

func (p *requesterPassFlag) source() string {
	if p.file != "" {
		return "--requester-passphrase-file " + p.file
	}
	return requesterPassphraseEnv
}

// grantFlags are a requester's grants as flags.
type grantFlags struct {
	keys       []string
	paths      []string
	maxPerHour int
}

func (gf *grantFlags) register(fs *pflag.FlagSet, keysHelp string) {
	fs.StringSliceVar(&gf.keys, "keys", nil, keysHelp)
	fs.StringSliceVar(&gf.paths, "paths", nil, "the only BIP32 paths it may sign with, comma separated: each path and those below it (default: any path, and the key itself)")
	fs.IntVar(&gf.maxPerHour, "max-per-hour", 0, "at most this many signatures per device per hour, over all its keys (0: no cap)")
}

// parseKeys checks --keys: key ids, or '*' alone for every key.
func parseKeys(keys []string) ([]string, error) {
	var out []string
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if slices.Contains(out, k) {
			return nil, fmt.Errorf("--keys lists %s twice", k)
		}
		out = append(out, k)
	}
	switch {
	case len(out) == 0:
		return nil, fmt.Errorf("--keys: give the key ids it may sign with, comma separated, or '*' for every key")
	case slices.Contains(out, roster.AllKeysGrant) && len(out) > 1:
		return nil, fmt.Errorf("--keys: '*' (every key) is given alone")
	case len(out) > roster.MaxRequesterKeys:
		return nil, fmt.Errorf("--keys: at most %d keys (or '*')", roster.MaxRequesterKeys)
	}
	return out, nil
}

// parsePaths checks --paths and puts each in canonical form.
func parsePaths(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		steps, err := hd.ParsePath(p)
		if err != nil {
			return nil, fmt.Errorf("--paths %q: %v", p, err)
		}
		for _, s := range steps {
			if s >= hd.HardenedStart {
				return nil, fmt.Errorf("--paths %q: a hardened step cannot be signed with (no one holds the private key it needs)", p)
			}
		}
		c := hd.FormatPath(steps)
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("--paths lists %s twice", c)
		}
		out = append(out, c)
	}
	if len(out) > roster.MaxRequesterPaths {
		return nil, fmt.Errorf("--paths: at most %d paths", roster.MaxRequesterPaths)
	}
	return out, nil
}

func checkMaxPerHour(n int) error {
	if n < 0 {
		return fmt.Errorf("--max-per-hour %d: give 0 (no cap) or more", n)
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

// resolveRequester finds a requester on st: an active one by name, any
// by id, else the latest revoked one of that name.
func resolveRequester(st *roster.State, ref string) (roster.RequesterState, error) {
	if r, ok := st.ActiveRequesterByName(ref); ok {
		return r, nil
	}
	if r, ok := st.Requester(strings.ToLower(strings.TrimSpace(ref))); ok {
		return r, nil
	}
	// A revoked requester, by name: the latest of that name.
	rs := st.Requesters()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Name == ref {
			return rs[i], nil
		}
	}
	return roster.RequesterState{}, fmt.Errorf("no requester %q on the roster: 'mpcctl requesters list' shows them by name and id", ref)
}

func grantKeysText(r roster.Requester) string {
	if slices.Equal(r.Keys, []string{roster.AllKeysGrant}) {
		return "every key (*)"
	}
	return strings.Join(r.Keys, ", ")
}

func grantPathsText(r roster.Requester) string {
	if len(r.Paths) == 0 {
		return "any (and the key itself)"
	}
	return strings.Join(r.Paths, ", ") + " (and below)"
}

func grantRateText(r roster.Requester) string {
	if r.MaxPerHour == 0 {
		return "no cap"
	}
	return fmt.Sprintf("%d per device", r.MaxPerHour)
}

// grantsText is a requester's grants in one line.
func grantsText(r roster.Requester) string {
	s := "keys " + grantKeysText(r)
	if len(r.Paths) > 0 {
		s += "; paths " + strings.Join(r.Paths, ", ")
	}
	if r.MaxPerHour > 0 {
		s += fmt.Sprintf("; at most %d signatures per device per hour", r.MaxPerHour)
	}
	return s
}

// describeRequester is an add_requester entry's requester in one line.
func describeRequester(r roster.Requester) string {
	return fmt.Sprintf("requester %s (%s, %s key %s): %s", r.Name, shortID(r.ID), r.Algorithm, keyfile.Fingerprint(r.PublicKey), grantsText(r))
}

func requesterJSON(r roster.Requester) map[string]any {
	m := map[string]any{
		"id": r.ID, "name": r.Name, "algorithm": r.Algorithm, "public_key": hex.EncodeToString(r.PublicKey),
		"fingerprint": keyfile.Fingerprint(r.PublicKey), "keys": append([]string{}, r.Keys...), "paths": append([]string{}, r.Paths...),
		"max_per_hour": r.MaxPerHour,
	}
	return m
}

func printRequester(w io.Writer, r roster.Requester) {
	fmt.Fprintf(w, "requester:    %s\n", r.Name)
	fmt.Fprintf(w, "id:           %s\n", r.ID)
	fmt.Fprintf(w, "key:          %s, fingerprint %s\n", r.Algorithm, keyfile.Fingerprint(r.PublicKey))
	fmt.Fprintf(w, "keys:         %s\n", grantKeysText(r))
	fmt.Fprintf(w, "paths:        %s\n", grantPathsText(r))
	fmt.Fprintf(w, "max per hour: %s\n", grantRateText(r))
}

func newRequestersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "requesters",
		Short: "Register, change and revoke the wallet backends' keys that may ask for signatures",
		Long: `A requester is a wallet backend's key (Ed25519 or ECDSA P-256), registered on
the roster by the operators together with what it may do: the keys it may
sign with, optionally the derivation paths, and optionally how many
signatures each device approves for it per hour. Once the institution has
a roster, every Sign call must be signed by an active requester's key
('mpcctl sign --requester-key', or the Go package signclient), and every
signing device checks that signature and those grants against its own
roster before it signs: the coordinator cannot ask for a signature on its
own.

Each change is a roster entry signed with this operator's key
(--operator-dir); with a quorum above one it waits for the other operators
('mpcctl roster sign ID').`,
	}

	// create
	var createOps operatorFlags
	var createGrants grantFlags
	var createPass requesterPassFlag
	var out, pubFile, createReason string
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
			return runRequestersCreate(cmd, g, &createOps, &createPass, args[0], &createGrants, out, pubFile, createReason)
		},
	}
	createGrants.register(create.Flags(), "key ids it may sign with, comma separated, or '*' for every key (required)")
	_ = create.MarkFlagRequired("keys")
	create.Flags().StringVar(&out, "out", "", "where to write the new key file (default ./NAME"+requesterFileSuffix+")")
	create.Flags().StringVar(&pubFile, "public-key", "", "register this public key (PEM, PKIX, Ed25519 or P-256: a KMS or HSM key) instead of generating one")
	create.Flags().StringVar(&createReason, "reason", "", "why, recorded in the roster entry")
	createOps.register(create.Flags())
	createPass.register(create.Flags())
	create.MarkFlagsMutuallyExclusive("out", "public-key")
	create.MarkFlagsMutuallyExclusive("requester-passphrase-file", "public-key")

	// grant
	var grantOps operatorFlags
	var grantGrants grantFlags
	var grantReason string
	grant := &cobra.Command{
		Use:   "grant NAME|ID [--keys ID,...|'*'] [--paths P,...] [--max-per-hour N]",
		Short: "Change an active requester's grants (same key)",
		Long: `Signs an add_requester entry for an active requester with the same key and
new grants, which replace the old ones once it is appended. A flag that is
not given keeps its current value: --paths '' lifts the path restriction,
--max-per-hour 0 the cap.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRequestersGrant(cmd, g, &grantOps, args[0], &grantGrants, grantReason)
		},
	}
	grantGrants.register(grant.Flags(), "key ids it may sign with, comma separated, or '*' for every key")
	grant.Flags().StringVar(&grantReason, "reason", "", "why, recorded in the roster entry")
	grantOps.register(grant.Flags())

	// list
	var listOps operatorFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the requesters on the verified roster, active and revoked, with their grants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRequestersList(cmd, g, &listOps)
		},
	}
	listOps.registerDir(list.Flags())

	// revoke
	var revokeOps operatorFlags
	var revokeReason string
	revoke := &cobra.Command{
		Use:   "revoke NAME|ID [--reason TEXT]",
		Short: "Revoke a requester: devices refuse its requests once the entry is appended",
		Long: `Signs a revoke_requester roster entry. Once it is appended every device
refuses the requester's requests, even those signed before. A revoked key
never comes back: register a new one with 'mpcctl requesters create'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRequestersRevoke(cmd, g, &revokeOps, args[0], revokeReason)
		},
	}
	revoke.Flags().StringVar(&revokeReason, "reason", "", "why, recorded in the roster entry")
	revokeOps.register(revoke.Flags())

	cmd.AddCommand(create, grant, list, revoke)
	return cmd
}

func runRequestersCreate(cmd *cobra.Command, g *globals, o *operatorFlags, rp *requesterPassFlag, name string, gf *grantFlags, out, pubFile, reason string) error {
	keys, err := parseKeys(gf.keys)
	if err != nil {
		return err
	}
	paths, err := parsePaths(gf.paths)
	if err != nil {
		return err
	}
	if err := checkMaxPerHour(gf.maxPerHour); err != nil {
		return err
	}
	req := roster.Requester{Name: name, Keys: keys, Paths: paths, MaxPerHour: gf.maxPerHour}

	// The key: a KMS's public key, or a new key file (checked before
	// anything is signed; written only once the entry is).
	var newKey *keyfile.Key
	var pass seal.Passphrase
	defer pass.Wipe()
	if pubFile != "" {
		if req.Algorithm, req.PublicKey, req.ID, err = readPublicKeyPEM(pubFile); err != nil {
			return err
		}
	} else {
		if out == "" {
			out = name + requesterFileSuffix
		}
		if _, err := os.Lstat(out); err == nil {
			return fmt.Errorf("%s already exists: pass another --out, or remove it if you mean to replace that key (a key on the roster is revoked with 'mpcctl requesters revoke')", out)
		}
		if newKey, err = keyfile.Generate(keyfile.KindRequester, name); err != nil {
			return fmt.Errorf("requester name %q: %w", name, err)
		}
		if pass, err = rp.passphrase(); err != nil {
			return err
		}
		b := pass.Bytes()
		n := utf8.RuneCount(b)
		clear(b)
		if n < minOperatorPassphrase {
			return fmt.Errorf("the passphrase from %s is %d characters: use at least %d (a few random words are easy to type and hard to guess)",
				rp.source(), n, minOperatorPassphrase)
		}
		if req.Algorithm, req.PublicKey, req.ID, err = signreq.KeyOf(newKey.PublicKey()); err != nil {
			return err
		}
	}

	k, err := o.load()
	if err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	if old, ok := st.Requester(req.ID); ok {
		if !old.Active {
			return fmt.Errorf("this key was requester %s, revoked at roster height %d: a revoked key never comes back; register a new key", old.Name, old.RevokedAt)
		}
		return fmt.Errorf("this key is requester %s already: change its grants with 'mpcctl requesters grant %s'", old.Name, old.Name)
	}
	if other, ok := st.ActiveRequesterByName(name); ok {
		return fmt.Errorf("requester %q exists already (%s): change its grants with 'mpcctl requesters grant %s', or revoke it first to give the name to a new key", name, other.ID, name)
	}
	b := st.Next(roster.KindAddRequester, time.Now())
	b.Requester, b.Reason = &req, reason
	e, err := signEntry(st, b, k)
	if err != nil {
		return err
	}
	if newKey != nil {
		if err := keyfile.Write(out, newKey, pass, requesterKDF); err != nil {
			if errors.Is(err, keyfile.ErrExists) {
				return fmt.Errorf("%s already exists: pass another --out, or remove it if you mean to replace that key", out)
			}
			return fmt.Errorf("write the requester key (nothing was submitted): %w", err)
		}
	}
	sub, err := submitEntry(ctx, c, o.dir, st, e, b)
	if err != nil {
		if newKey != nil {
			if rmErr := os.Remove(out); rmErr == nil {
				return fmt.Errorf("submit the add_requester entry: %w (the new key file %s was removed; if 'mpcctl requesters list' shows the requester anyway, revoke it)", err, out)
			}
			return fmt.Errorf("submit the add_requester entry: %w (remove the new key file %s before trying again)", err, out)
		}
		return err
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		res := outcomeJSON(e, sub)
		res["requester"] = requesterJSON(req)
		res["entry"] = bodyJSON(b, st)
		if newKey != nil {
			res["key_file"] = out
		}
		return printJSON(w, res)
	}
	printRequester(w, req)
	if newKey != nil {
		fmt.Fprintf(w, "key file:     %s (encrypted under the passphrase from %s; give both to the wallet backend, apart)\n", out, rp.source())
	} else {
		fmt.Fprintf(w, "public key:   from %s (the private key stays in its KMS or HSM)\n", pubFile)
	}
	fmt.Fprintf(w, "\nadd_requester entry %s signed as %s\n", entryID(e.Hash()), k.Name())
	printOutcome(w, e, sub)
	if sub.GetAppended() {
		fmt.Fprintln(w, "the wallet backend signs its requests with this key: mpcctl sign --requester-key FILE, or the Go package signclient")
	}
	return nil
}

func runRequestersGrant(cmd *cobra.Command, g *globals, o *operatorFlags, ref string, gf *grantFlags, reason string) error {
	fl := cmd.Flags()
	if !fl.Changed("keys") && !fl.Changed("paths") && !fl.Changed("max-per-hour") {
		return errors.New("nothing to change: give --keys, --paths or --max-per-hour")
	}
	var keys, paths []string
	var err error
	if fl.Changed("keys") {
		if keys, err = parseKeys(gf.keys); err != nil {
			return err
		}
	}
	if fl.Changed("paths") {
		if paths, err = parsePaths(gf.paths); err != nil {
			return err
		}
	}
	if err := checkMaxPerHour(gf.maxPerHour); err != nil {
		return err
	}
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	cur, err := resolveRequester(st, ref)
	if err != nil {
		return err
	}
	if !cur.Active {
		return fmt.Errorf("requester %s (%s) was revoked at roster height %d: a revoked key never comes back; register a new one with 'mpcctl requesters create'", cur.Name, cur.ID, cur.RevokedAt)
	}
	next := cur.Requester
	if fl.Changed("keys") {
		next.Keys = keys
	}
	if fl.Changed("paths") {
		next.Paths = paths
	}
	if fl.Changed("max-per-hour") {
		next.MaxPerHour = gf.maxPerHour
	}
	if slices.Equal(next.Keys, cur.Keys) && slices.Equal(next.Paths, cur.Paths) && next.MaxPerHour == cur.MaxPerHour {
		return fmt.Errorf("requester %s has these grants already (%s)", cur.Name, grantsText(cur.Requester))
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	b := st.Next(roster.KindAddRequester, time.Now())
	b.Requester, b.Reason = &next, reason
	e, sub, err := signSubmit(ctx, c, o.dir, st, b, k)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		res := outcomeJSON(e, sub)
		res["requester"] = requesterJSON(next)
		res["previous"] = requesterJSON(cur.Requester)
		res["entry"] = bodyJSON(b, st)
		return printJSON(w, res)
	}
	fmt.Fprintf(w, "requester %s (%s)\n  was: %s\n  now: %s\n", cur.Name, cur.ID, grantsText(cur.Requester), grantsText(next))
	fmt.Fprintf(w, "add_requester entry %s signed as %s\n", entryID(e.Hash()), k.Name())
	printOutcome(w, e, sub)
	return nil
}

func runRequestersList(cmd *cobra.Command, g *globals, o *operatorFlags) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, pending, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	waiting := 0
	for _, p := range checkPending(st, pending) {
		if p.err == nil && (p.body.Kind == roster.KindAddRequester || p.body.Kind == roster.KindRevokeRequester) {
			waiting++
		}
	}
	rs := st.Requesters()
	w := cmd.OutOrStdout()
	if g.asJSON {
		list := []map[string]any{}
		for _, r := range rs {
			m := requesterJSON(r.Requester)
			m["active"], m["added_at"] = r.Active, r.AddedAt
			if !r.Active {
				m["revoked_at"] = r.RevokedAt
			}
			list = append(list, m)
		}
		return printJSON(w, map[string]any{"requesters": list, "pending_entries": waiting})
	}
	if len(rs) == 0 {
		fmt.Fprintln(w, "no requesters on the roster: register one with 'mpcctl requesters create NAME --keys ...'")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tKEY\tSTATUS\tKEYS\tPATHS\tMAX/HOUR")
		for _, r := range rs {
			status := fmt.Sprintf("active (height %d)", r.AddedAt)
			if !r.Active {
				status = fmt.Sprintf("revoked (height %d)", r.RevokedAt)
			}
			paths, rate := "any", "-"
			if len(r.Paths) > 0 {
				paths = strings.Join(r.Paths, ",")
			}
			if r.MaxPerHour > 0 {
				rate = fmt.Sprint(r.MaxPerHour)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", r.Name, r.ID, r.Algorithm, keyfile.Fingerprint(r.PublicKey), status, strings.Join(r.Keys, ","), paths, rate)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if waiting > 0 {
		fmt.Fprintf(w, "%d requester entries wait for operator signatures: mpcctl roster pending\n", waiting)
	}
	return nil
}

func runRequestersRevoke(cmd *cobra.Command, g *globals, o *operatorFlags, ref, reason string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := verifiedRoster(ctx, c, o.dir)
	if err != nil {
		return err
	}
	r, err := resolveRequester(st, ref)
	if err != nil {
		return err
	}
	if !r.Active {
		return fmt.Errorf("requester %s (%s) is revoked already (roster height %d)", r.Name, r.ID, r.RevokedAt)
	}
	k, err := o.load()
	if err != nil {
		return err
	}
	b := st.Next(roster.KindRevokeRequester, time.Now())
	b.RequesterID, b.Reason = r.ID, reason
	e, sub, err := signSubmit(ctx, c, o.dir, st, b, k)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.asJSON {
		res := outcomeJSON(e, sub)
		res["requester"] = requesterJSON(r.Requester)
		res["entry"] = bodyJSON(b, st)
		return printJSON(w, res)
	}
	fmt.Fprintf(w, "requester %s (%s): revoke_requester entry %s signed as %s\n", r.Name, r.ID, entryID(e.Hash()), k.Name())
	printOutcome(w, e, sub)
	if sub.GetAppended() {
		fmt.Fprintln(w, "devices refuse its requests from now on")
	}
	return nil
}
