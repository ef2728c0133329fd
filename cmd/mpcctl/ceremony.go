package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/internal/rostertext"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

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
		return roster.DeviceState{}, fmt.Errorf("device %q (%s) is revoked on the roster this operator verified (height %d)", d.Name, rostertext.ShortID(d.ID), d.RevokedAt)
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
