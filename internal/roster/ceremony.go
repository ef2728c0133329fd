package roster

import (
	"fmt"
	"slices"
	"time"
)

// CeremonyKind is what an operator authorization allows.
type CeremonyKind string

// The ceremony kinds.
const (
	CeremonyKeygen  CeremonyKind = "keygen"
	CeremonyReshare CeremonyKind = "reshare"
	CeremonyDrill   CeremonyKind = "drill"
)

// The curves a ceremony may name.
const (
	CurveSecp256k1 = "secp256k1"
	CurveEd25519   = "ed25519"
)

// MaxCeremonyWindow bounds NotAfter-NotBefore.
const MaxCeremonyWindow = 400 * 24 * time.Hour

const maxKeyIDLen = 128

// Ceremony is the signed content of an authorization.
type Ceremony struct {
	Version      int          `json:"v"`
	Genesis      string       `json:"genesis"`
	RosterHeight uint64       `json:"roster_height"`
	Kind         CeremonyKind `json:"kind"`
	KeyID        string       `json:"key_id,omitempty"`
	Curve        string       `json:"curve"`
	Threshold    int          `json:"threshold"`
	Committee    []string     `json:"committee"`
	Epoch        uint64       `json:"epoch,omitempty"`
	NewThreshold int          `json:"new_threshold,omitempty"`
	NewCommittee []string     `json:"new_committee,omitempty"`
	NotBefore    int64        `json:"not_before"`
	NotAfter     int64        `json:"not_after"`
	Nonce        string       `json:"nonce"`
	Reason       string       `json:"reason,omitempty"`
	// Standing (drills only): the authorization holds for any epoch of the
	// key within its window, so that a scheduler can drill it again and
	// again (each drill keeps the committee and threshold it names).
	Standing bool `json:"standing,omitempty"`
}

// Authorization is an encoded ceremony and its operator signatures.
type Authorization struct {
	Body       []byte
	Signatures []Signature
}

// EncodeCeremony is the canonical encoding of a ceremony: encoding/json of
// the struct. Like EncodeBody it refuses only a version other than 1, text
// that is not UTF-8 and an encoding over MaxCeremonySize.
func EncodeCeremony(c Ceremony) ([]byte, error) {
	if c.Version != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, c.Version, Version)
	}
	texts := []string{c.Genesis, string(c.Kind), c.KeyID, c.Curve, c.Nonce, c.Reason}
	texts = append(texts, c.Committee...)
	texts = append(texts, c.NewCommittee...)
	return encodeCanonical(c, MaxCeremonySize, texts)
}

// DecodeCeremony decodes a ceremony under the same canonical rules as
// DecodeBody.
func DecodeCeremony(raw []byte) (Ceremony, error) {
	var c Ceremony
	if err := decodeCanonical(raw, MaxCeremonySize, &c, EncodeCeremony); err != nil {
		return Ceremony{}, err
	}
	return c, nil
}

// Hash is SHA-256("mpcsign/v1/ceremony\x00" || Body).
func (a Authorization) Hash() Hash { return domainHash(ceremonyDomain, a.Body) }

// CeremonySigningMessage is what an authorization's operators sign:
// "mpcsign/v1/ceremony-sign\x00" || hash.
func CeremonySigningMessage(h Hash) []byte { return append([]byte(ceremonySignDomain), h[:]...) }

// Sign adds s's signature, replacing an earlier one by the same key, and
// keeps Signatures sorted by key.
func (a *Authorization) Sign(s Signer) {
	a.Signatures = addSignature(a.Signatures, s, CeremonySigningMessage(a.Hash()))
}

// NewCeremony is a ceremony for this roster with the fields it knows filled
// in: version, genesis, roster height, kind, a window from a minute before
// now (for clock skew) to now+validFor, and a fresh nonce.
func (s *State) NewCeremony(kind CeremonyKind, validFor time.Duration, now time.Time) Ceremony {
	return Ceremony{
		Version:      Version,
		Genesis:      s.GenesisHash().String(),
		RosterHeight: s.Height(),
		Kind:         kind,
		NotBefore:    now.Unix() - 60,
		NotAfter:     now.Add(validFor).Unix(),
		Nonce:        newNonce(),
	}
}

// VerifyCeremony verifies an authorization against this roster at time now
// and returns its ceremony. See the package documentation for the checks.
func (s *State) VerifyCeremony(a Authorization, now time.Time) (Ceremony, error) {
	c, err := DecodeCeremony(a.Body)
	if err != nil {
		return Ceremony{}, err
	}
	if c.Genesis != s.GenesisHash().String() {
		return Ceremony{}, fmt.Errorf("%w: genesis %.64q", ErrWrongGenesis, c.Genesis)
	}
	if c.RosterHeight > s.Height() {
		return Ceremony{}, fmt.Errorf("%w: signed at a roster height this device has not seen (%d, this device has %d)", ErrChain, c.RosterHeight, s.Height())
	}
	if err := checkCeremonyShape(c); err != nil {
		return Ceremony{}, err
	}
	if t := now.Unix(); t < c.NotBefore || t > c.NotAfter {
		return Ceremony{}, fmt.Errorf("%w: valid from %d to %d, now is %d", ErrExpired, c.NotBefore, c.NotAfter, t)
	}
	t, err := verifySignatures(a.Signatures, CeremonySigningMessage(a.Hash()), s.operators, nil)
	if err != nil {
		return Ceremony{}, err
	}
	if len(t.operators) < s.quorum {
		return Ceremony{}, quorumError(len(t.operators), s.quorum)
	}
	for _, list := range [][]string{c.Committee, c.NewCommittee} {
		for _, id := range list {
			if !s.Active(id) {
				return Ceremony{}, fmt.Errorf("%w: %.64q", ErrNotActive, id)
			}
		}
	}
	return c, nil
}

// VerifySigned checks that a quorum of the operators in office signed a,
// for this roster, whenever that was: not its window, nor whether its
// members are still active. A device uses it to check that a reshare it is
// told was committed is one the operators authorized, possibly long after
// the authorization expired (a device offline at the commit).
func (s *State) VerifySigned(a Authorization) (Ceremony, error) {
	c, err := DecodeCeremony(a.Body)
	if err != nil {
		return Ceremony{}, err
	}
	if c.Genesis != s.GenesisHash().String() {
		return Ceremony{}, fmt.Errorf("%w: genesis %.64q", ErrWrongGenesis, c.Genesis)
	}
	if c.RosterHeight > s.Height() {
		return Ceremony{}, fmt.Errorf("%w: signed at a roster height this device has not seen (%d, this device has %d)", ErrChain, c.RosterHeight, s.Height())
	}
	if err := checkCeremonyShape(c); err != nil {
		return Ceremony{}, err
	}
	t, err := verifySignatures(a.Signatures, CeremonySigningMessage(a.Hash()), s.operators, nil)
	if err != nil {
		return Ceremony{}, err
	}
	if len(t.operators) < s.quorum {
		return Ceremony{}, quorumError(len(t.operators), s.quorum)
	}
	return c, nil
}

// checkCeremonyShape checks what does not depend on the roster.
func checkCeremonyShape(c Ceremony) error {
	if c.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, c.Version, Version)
	}
	if !validNonce(c.Nonce) {
		return fmt.Errorf("%w: nonce is not %d lowercase hex digits", ErrMalformed, nonceHexLen)
	}
	if c.NotAfter <= c.NotBefore || c.NotAfter-c.NotBefore > int64(MaxCeremonyWindow/time.Second) {
		return fmt.Errorf("%w: window from %d to %d is empty or longer than %v", ErrRule, c.NotBefore, c.NotAfter, MaxCeremonyWindow)
	}
	if c.Curve != CurveSecp256k1 && c.Curve != CurveEd25519 {
		return fmt.Errorf("%w: unknown curve %.32q", ErrRule, c.Curve)
	}
	if err := checkReason(c.Reason); err != nil {
		return err
	}
	if c.KeyID != "" && !validKeyID(c.KeyID) {
		return fmt.Errorf("%w: key id %.64q is not allowed", ErrRule, c.KeyID)
	}
	if err := checkCommittee("committee", c.Committee, c.Threshold); err != nil {
		return err
	}
	if c.Standing && (c.Kind != CeremonyDrill || c.Epoch != 0) {
		return fmt.Errorf("%w: only a drill stands, and for no one epoch", ErrMalformed)
	}
	switch c.Kind {
	case CeremonyKeygen:
		if c.Epoch != 0 || c.NewThreshold != 0 || len(c.NewCommittee) != 0 {
			return fmt.Errorf("%w: a keygen has no epoch or new committee", ErrMalformed)
		}
		return nil
	case CeremonyReshare, CeremonyDrill:
		if c.KeyID == "" {
			return fmt.Errorf("%w: a %s needs a key id", ErrRule, c.Kind)
		}
		if err := checkCommittee("new committee", c.NewCommittee, c.NewThreshold); err != nil {
			return err
		}
		if c.Kind == CeremonyDrill && (c.NewThreshold != c.Threshold || !slices.Equal(c.NewCommittee, c.Committee)) {
			return fmt.Errorf("%w: a drill reshares to the same threshold and committee", ErrRule)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown ceremony kind %.32q", ErrMalformed, c.Kind)
}

// checkCommittee checks a committee of distinct device ids and a threshold
// t with 0 <= t < len(ids) (t+1 devices sign).
func checkCommittee(what string, ids []string, t int) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: empty %s", ErrRule, what)
	}
	if t < 0 || t >= len(ids) {
		return fmt.Errorf("%w: threshold %d for a %s of %d", ErrRule, t, what, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("%w: %s lists %.64q twice", ErrRule, what, id)
		}
		seen[id] = true
	}
	return nil
}

// validKeyID is the key id rule of the rest of the project: 1 to 128 of
// A-Z a-z 0-9 . _ : -.
func validKeyID(s string) bool {
	if len(s) == 0 || len(s) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
