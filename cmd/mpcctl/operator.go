package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/home"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/keystore/seal"
)

const (
	// operatorPassphraseEnv holds the operator key's passphrase when no
	// --passphrase-file is given. (Not MPC_PASSPHRASE: that one unlocks a
	// device's keystore, and an operator may run a device too.)
	operatorPassphraseEnv = "MPC_OPERATOR_PASSPHRASE"
	// minOperatorPassphrase is the shortest passphrase init accepts, in
	// characters.
	minOperatorPassphrase = 12
	operatorKeyName       = "operator.key"
)

// operatorKDF are the Argon2id parameters of a new operator key file. Only
// tests change it (to keep the suite fast); there is no flag or variable
// that weakens it.
var operatorKDF = seal.DefaultKDF()

// operatorFlags locate the operator's key file and its passphrase. Commands
// that sign as the operator register them and call load.
type operatorFlags struct {
	dir            string
	passphraseFile string
}

// register adds --operator-dir and --passphrase-file to fs.
func (o *operatorFlags) register(fs *pflag.FlagSet) {
	o.registerDir(fs)
	fs.StringVar(&o.passphraseFile, "passphrase-file", "",
		"file holding the operator key's passphrase (default: the "+operatorPassphraseEnv+" environment variable)")
}

// registerDir adds --operator-dir only, for commands that need no passphrase.
func (o *operatorFlags) registerDir(fs *pflag.FlagSet) {
	fs.StringVar(&o.dir, "operator-dir", filepath.Join(home.Dir(), "operator"),
		"directory that holds this operator's key file ("+operatorKeyName+")")
}

// path is the operator's key file.
func (o *operatorFlags) path() string { return filepath.Join(o.dir, operatorKeyName) }

// passphrase reads the passphrase from --passphrase-file, else from
// $MPC_OPERATOR_PASSPHRASE. It refuses an empty one. The caller wipes it.
func (o *operatorFlags) passphrase() (seal.Passphrase, error) {
	return readPassphrase("--passphrase-file", o.passphraseFile, operatorPassphraseEnv, "operator")
}

// passphraseSource names where the passphrase came from, for errors.
func (o *operatorFlags) passphraseSource() string {
	return passphraseSourceOf("--passphrase-file", o.passphraseFile, operatorPassphraseEnv)
}

// readPassphrase reads a key file's passphrase from file, the value of the
// flag, else from the environment variable env. It refuses an empty one.
// holder ("operator", "requester") names the key in errors. The caller
// wipes it.
func readPassphrase(flag, file, env, holder string) (seal.Passphrase, error) {
	if file != "" {
		p, err := seal.LoadPassphrase(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return seal.Passphrase{}, fmt.Errorf("%s %s does not exist", flag, file)
		case errors.Is(err, seal.ErrNoPassphrase):
			return seal.Passphrase{}, fmt.Errorf("%s %s is empty: put the %s key's passphrase in it", flag, file, holder)
		case err != nil:
			return seal.Passphrase{}, err
		}
		return p, nil
	}
	v := os.Getenv(env)
	if v == "" {
		return seal.Passphrase{}, fmt.Errorf("no passphrase for the %s key: pass %s FILE (a file only you can read) or set %s", holder, flag, env)
	}
	return seal.NewPassphrase([]byte(v)), nil
}

// passphraseSourceOf names where readPassphrase takes the passphrase from,
// for errors.
func passphraseSourceOf(flag, file, env string) string {
	if file != "" {
		return flag + " " + file
	}
	return env
}

// load reads and decrypts the operator's key.
func (o *operatorFlags) load() (*keyfile.Key, error) {
	path := o.path()
	// A missing or foreign file is reported before the passphrase is asked for.
	kind, _, _, err := keyfile.ReadPublic(path)
	if err != nil {
		return nil, err
	}
	if kind != keyfile.KindOperator {
		return nil, fmt.Errorf("%s holds a %s key, not an operator key: pass the --operator-dir of an operator key (mpcctl operator init makes one)", path, kind)
	}
	pass, err := o.passphrase()
	if err != nil {
		return nil, err
	}
	defer pass.Wipe()
	k, err := keyfile.Read(path, pass)
	if errors.Is(err, seal.ErrWrongPassphrase) {
		return nil, fmt.Errorf("%w: check the passphrase in %s", err, o.passphraseSource())
	}
	if err != nil {
		return nil, err
	}
	if k.Kind() != keyfile.KindOperator { // authenticated now
		return nil, fmt.Errorf("%s holds a %s key, not an operator key", path, k.Kind())
	}
	return k, nil
}

func newOperatorCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Create and show this operator's signing key (kept encrypted on this machine)",
		Long: `An operator approves changes to the roster (which devices hold shares) and
ceremonies (keygen, reshare) with an Ed25519 key that never leaves the
operator's machine: the coordinator only ever sees the public key and
signatures. The key is kept in --operator-dir/` + operatorKeyName + `, encrypted under a
passphrase (Argon2id, XChaCha20-Poly1305).`,
	}

	var initFlags operatorFlags
	var name string
	initCmd := &cobra.Command{
		Use:   "init --name NAME",
		Short: "Generate this operator's signing key and write it, encrypted, to --operator-dir",
		Long: `Generates an Ed25519 operator key and writes it to --operator-dir/` + operatorKeyName + `
(mode 0600), encrypted under a passphrase of at least 12 characters read from
--passphrase-file or the ` + operatorPassphraseEnv + ` environment variable (never from a
flag). It never replaces an existing key file, and never contacts the
coordinator.

It prints the name, the public key and its fingerprint. Give the public key to
whoever creates the roster (mpcctl roster init), and compare fingerprints with
them over another channel.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOperatorInit(cmd.OutOrStdout(), cmd.ErrOrStderr(), g.asJSON, &initFlags, name)
		},
	}
	initCmd.Flags().StringVar(&name, "name", "", "the operator's name, as the roster will show it (required)")
	_ = initCmd.MarkFlagRequired("name")
	initFlags.register(initCmd.Flags())

	var showFlags operatorFlags
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Show this operator's name, public key and fingerprint (no passphrase needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := showFlags.path()
			kind, name, pub, err := keyfile.ReadPublic(path)
			if err != nil {
				return err
			}
			return printOperatorKey(cmd.OutOrStdout(), g.asJSON, path, kind, name, pub)
		},
	}
	showFlags.registerDir(showCmd.Flags())

	cmd.AddCommand(initCmd, showCmd)
	return cmd
}

func runOperatorInit(w, errw io.Writer, asJSON bool, o *operatorFlags, name string) error {
	path := o.path()
	exists := func() error {
		return fmt.Errorf("%s already exists: this machine has an operator key already (mpcctl operator show); pass another --operator-dir, or remove the file if you mean to replace that key", path)
	}
	if _, err := os.Lstat(path); err == nil {
		return exists()
	}
	k, err := keyfile.Generate(keyfile.KindOperator, name)
	if err != nil {
		return fmt.Errorf("--name %q: %w", name, err)
	}
	pass, err := o.passphrase()
	if err != nil {
		return err
	}
	defer pass.Wipe()
	b := pass.Bytes()
	n := utf8.RuneCount(b)
	clear(b)
	if n < minOperatorPassphrase {
		return fmt.Errorf("the passphrase from %s is %d characters: use at least %d (a few random words are easy to type and hard to guess)",
			o.passphraseSource(), n, minOperatorPassphrase)
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("create --operator-dir: %w", err)
	}
	if err := keyfile.Write(path, k, pass, operatorKDF); err != nil {
		if errors.Is(err, keyfile.ErrExists) {
			return exists()
		}
		return err
	}
	if err := printOperatorKey(w, asJSON, path, k.Kind(), k.Name(), k.PublicKey()); err != nil {
		return err
	}
	hint := w
	if asJSON {
		hint = errw
	} else {
		fmt.Fprintf(w, "\nwritten to %s, encrypted under your passphrase (keep it: it cannot be recovered)\n", path)
	}
	fmt.Fprintln(hint, "Give the public key to whoever creates the roster: mpcctl roster init")
	return nil
}

func printOperatorKey(w io.Writer, asJSON bool, path, kind, name string, pub []byte) error {
	if asJSON {
		return printJSON(w, map[string]any{
			"kind":        kind,
			"name":        name,
			"public_key":  hex.EncodeToString(pub),
			"fingerprint": keyfile.Fingerprint(pub),
			"path":        path,
		})
	}
	fmt.Fprintf(w, "kind:        %s\n", kind)
	fmt.Fprintf(w, "name:        %s\n", name)
	fmt.Fprintf(w, "public key:  %s\n", hex.EncodeToString(pub))
	fmt.Fprintf(w, "fingerprint: %s\n", keyfile.Fingerprint(pub))
	fmt.Fprintf(w, "file:        %s\n", path)
	return nil
}
