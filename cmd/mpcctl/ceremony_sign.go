package main

import (
	"bytes"
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

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/internal/rostertext"
)

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
			parts = append(parts, fmt.Sprintf("%s (%s)", deviceNames(st, []string{id})[0], rostertext.ShortID(id)))
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
	cmd.AddCommand(newCeremonySignCmd(g))
	return cmd
}

func newCeremonySignCmd(g *globals) *cobra.Command {
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
			return runCeremonySign(cmd, g, &ops, in, out)
		},
	}
	sign.Flags().StringVar(&in, "in", "", "the authorization file to sign (required)")
	sign.Flags().StringVar(&out, "out", "", "where to write the signed authorization (default: replace --in)")
	_ = sign.MarkFlagRequired("in")
	ops.register(sign.Flags())
	return sign
}

func runCeremonySign(cmd *cobra.Command, g *globals, ops *operatorFlags, in, out string) error {
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
}
