package roster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/mpcsign/mpcsign/internal/hd"
)

// Requester key algorithms.
const (
	// AlgEd25519: a 32-byte Ed25519 public key.
	AlgEd25519 = "ed25519"
	// AlgP256: an ECDSA P-256 public key, 65-byte uncompressed SEC1
	// (0x04 || X || Y), as ecdsa.PublicKey.Bytes writes it.
	AlgP256 = "ecdsa-p256"
)

// AllKeysGrant in a requester's keys lets it use every key.
const AllKeysGrant = "*"

// Limits on a requester's grants.
const (
	MaxRequesterKeys  = 64
	MaxRequesterPaths = 64
)

// Requester is a wallet backend's key, registered by the operators: who may
// ask the devices to sign, with which keys and derivation paths.
type Requester struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	PublicKey []byte `json:"public_key"`
	// Keys it may sign with: key ids, or the single grant "*" for all.
	Keys []string `json:"keys"`
	// Paths, when set, are the only derivation paths it may sign with: a
	// listed path or any path below one ("m" is the root key and so allows
	// every path). Unset: any path, and the root key.
	Paths []string `json:"paths,omitempty"`
	// MaxPerHour caps the signatures each device approves for this
	// requester in any hour, over all keys (0: no cap).
	MaxPerHour int `json:"max_per_hour,omitempty"`
}

// RequesterState is a requester and where it stands.
type RequesterState struct {
	Requester
	Active    bool
	AddedAt   uint64 // height of its latest add_requester entry
	RevokedAt uint64 // height of its revoke_requester entry; 0 while active
}

// RequesterID is the id of a requester key: the first 16 bytes, in hex, of
// SHA-256("mpcsign/v1/requester-id\x00" || algorithm || "\x00" || key).
func RequesterID(algorithm string, key []byte) string {
	h := sha256.New()
	h.Write([]byte("mpcsign/v1/requester-id\x00" + algorithm + "\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ParseRequesterKey checks a requester public key of the algorithm.
func ParseRequesterKey(algorithm string, key []byte) error {
	switch algorithm {
	case AlgEd25519:
		if len(key) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: an Ed25519 requester key is %d bytes, got %d", ErrRule, ed25519.PublicKeySize, len(key))
		}
	case AlgP256:
		if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), key); err != nil {
			return fmt.Errorf("%w: a P-256 requester key is a 65-byte uncompressed point on the curve: %v", ErrRule, err)
		}
	default:
		return fmt.Errorf("%w: requester algorithm %.32q is not %s or %s", ErrRule, algorithm, AlgEd25519, AlgP256)
	}
	return nil
}

func checkRequester(r Requester) error {
	if err := ParseRequesterKey(r.Algorithm, r.PublicKey); err != nil {
		return err
	}
	if want := RequesterID(r.Algorithm, r.PublicKey); r.ID != want {
		return fmt.Errorf("%w: requester id %.64q does not match its key (%s)", ErrRule, r.ID, want)
	}
	if !operatorName.MatchString(r.Name) {
		return fmt.Errorf("%w: requester name %.64q is not allowed", ErrRule, r.Name)
	}
	if len(r.Keys) == 0 || len(r.Keys) > MaxRequesterKeys {
		return fmt.Errorf("%w: a requester has 1 to %d keys (or \"*\"), got %d", ErrRule, MaxRequesterKeys, len(r.Keys))
	}
	for i, k := range r.Keys {
		if k == AllKeysGrant {
			if len(r.Keys) != 1 {
				return fmt.Errorf("%w: \"*\" (all keys) is the only grant when given", ErrRule)
			}
			continue
		}
		if !validKeyID(k) {
			return fmt.Errorf("%w: key id %.64q is not allowed", ErrRule, k)
		}
		if slices.Contains(r.Keys[:i], k) {
			return fmt.Errorf("%w: key %s listed twice", ErrRule, k)
		}
	}
	if len(r.Paths) > MaxRequesterPaths {
		return fmt.Errorf("%w: a requester has at most %d paths, got %d", ErrRule, MaxRequesterPaths, len(r.Paths))
	}
	for i, p := range r.Paths {
		steps, err := hd.ParsePath(p)
		if err != nil || hd.FormatPath(steps) != p {
			return fmt.Errorf("%w: path %.64q is not a non-hardened path in the form m/44/60/0/0", ErrRule, p)
		}
		if slices.Contains(r.Paths[:i], p) {
			return fmt.Errorf("%w: path %s listed twice", ErrRule, p)
		}
	}
	if r.MaxPerHour < 0 {
		return fmt.Errorf("%w: max_per_hour must not be negative", ErrRule)
	}
	return nil
}

// AllowsKey reports whether the requester may sign with the key.
func (r Requester) AllowsKey(keyID string) bool {
	return slices.Equal(r.Keys, []string{AllKeysGrant}) || slices.Contains(r.Keys, keyID)
}

// AllowsPath reports whether the requester may sign with the derivation
// path (canonical form, or "" for the root key).
func (r Requester) AllowsPath(path string) bool {
	if len(r.Paths) == 0 {
		return true
	}
	if path == "" {
		path = "m"
	}
	for _, p := range r.Paths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// Requester is a requester that was ever added, active or revoked.
func (s *State) Requester(id string) (RequesterState, bool) {
	r, ok := s.requesters[id]
	if !ok {
		return RequesterState{}, false
	}
	return copyRequester(r), true
}

// Requesters is every requester ever added, in the order they were added.
func (s *State) Requesters() []RequesterState {
	out := make([]RequesterState, 0, len(s.reqOrder))
	for _, id := range s.reqOrder {
		out = append(out, copyRequester(s.requesters[id]))
	}
	return out
}

// ActiveRequesterByName is the active requester of that name.
func (s *State) ActiveRequesterByName(name string) (RequesterState, bool) {
	for _, id := range s.reqOrder {
		if r := s.requesters[id]; r.Active && r.Name == name {
			return copyRequester(r), true
		}
	}
	return RequesterState{}, false
}

// checkAddRequester: a new id, or an active one whose grants are replaced;
// a revoked requester never comes back; names are unique among the active.
func (s *State) checkAddRequester(r *Requester) error {
	if old, ok := s.requesters[r.ID]; ok && !old.Active {
		return fmt.Errorf("%w: requester %s was revoked; a revoked key never comes back (make a new one)", ErrRule, r.ID)
	}
	if other, ok := s.ActiveRequesterByName(r.Name); ok && other.ID != r.ID {
		return fmt.Errorf("%w: name %q is used by active requester %s", ErrRule, r.Name, other.ID)
	}
	return nil
}

func (s *State) applyRequester(b Body) {
	if s.requesters == nil {
		s.requesters = map[string]*RequesterState{}
	}
	switch b.Kind {
	case KindAddRequester:
		r := &RequesterState{Requester: cloneRequester(*b.Requester), Active: true, AddedAt: b.Height}
		if _, ok := s.requesters[r.ID]; !ok {
			s.reqOrder = append(s.reqOrder, r.ID)
		}
		s.requesters[r.ID] = r
	case KindRevokeRequester:
		r := s.requesters[b.RequesterID]
		r.Active, r.RevokedAt = false, b.Height
	}
}

func cloneRequester(r Requester) Requester {
	r.PublicKey = bytes.Clone(r.PublicKey)
	r.Keys = slices.Clone(r.Keys)
	r.Paths = slices.Clone(r.Paths)
	return r
}

func copyRequester(r *RequesterState) RequesterState {
	c := *r
	c.Requester = cloneRequester(r.Requester)
	return c
}
