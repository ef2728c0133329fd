package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore/seal"
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

// newRequestersCmd is 'mpcctl requesters'; each subcommand has its own
// file: requesters_create.go, requesters_grant.go, requesters_list.go,
// requesters_revoke.go.
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
	cmd.AddCommand(newRequestersCreateCmd(g), newRequestersGrantCmd(g), newRequestersListCmd(g), newRequestersRevokeCmd(g))
	return cmd
}

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
	return readPassphrase("--requester-passphrase-file", p.file, requesterPassphraseEnv, "requester")
}

func (p *requesterPassFlag) source() string {
	return passphraseSourceOf("--requester-passphrase-file", p.file, requesterPassphraseEnv)
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
