// Package envelope secures the protocol messages that the coordinator relays
// between parties: a session id every participant contributes to, a signed
// per-session ephemeral X25519 key per participant, point-to-point payloads
// encrypted to their recipient, every envelope signed by its sender's
// identity key, and a broadcast echo that exposes split views.
package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// Errors of the envelope layer. A *Blame names the participant at fault.
var (
	ErrBadJoin      = errors.New("envelope: invalid session join")
	ErrWrongSession = errors.New("envelope: message for another session")
)

// Blame is a check that failed because of one participant.
type Blame struct {
	Device string
	Reason string
}

func (b *Blame) Error() string { return fmt.Sprintf("envelope: %s: %s", b.Device, b.Reason) }

// Member is a participant as the session announces it.
type Member struct {
	DeviceID    string
	IdentityKey []byte // Ed25519
}

// Params is what a session is about; every participant signs its hash, so a
// coordinator cannot show different participants different sessions.
type Params struct {
	Ref       []byte // the coordinator's handle for the session
	Kind      uint32
	Curve     uint32
	KeyID     string
	Epoch     uint64
	Threshold uint32
	Digest    []byte
	Members   []Member
	// Reshare only: the new epoch and threshold, and both committees' device
	// ids in the order given.
	NewEpoch     uint64
	NewThreshold uint32
	OldCommittee []string
	NewCommittee []string
	// Ed25519 signing: the message. secp256k1 signing: an optional BIP32
	// derivation path. Reshare of a secp256k1 key: its chain code.
	Message        []byte
	DerivationPath string
	ChainCode      []byte
}

// Hash is a canonical hash of the parameters (members in device-id order).
func (p Params) Hash() []byte {
	ms := append([]Member(nil), p.Members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].DeviceID < ms[j].DeviceID })
	w := newWriter("mpcsign/v1/session-params")
	w.bytes(p.Ref)
	w.u64(uint64(p.Kind))
	w.u64(uint64(p.Curve))
	w.str(p.KeyID)
	w.u64(p.Epoch)
	w.u64(uint64(p.Threshold))
	w.bytes(p.Digest)
	w.u64(uint64(len(ms)))
	for _, m := range ms {
		w.str(m.DeviceID)
		w.bytes(m.IdentityKey)
	}
	w.u64(p.NewEpoch)
	w.u64(uint64(p.NewThreshold))
	for _, c := range [][]string{p.OldCommittee, p.NewCommittee} {
		w.u64(uint64(len(c)))
		for _, id := range c {
			w.str(id)
		}
	}
	// Added later: hashed only when set, so that sessions without them hash
	// as before (a device not yet upgraded still joins those, and cannot
	// join the others).
	if len(p.Message) > 0 || p.DerivationPath != "" || len(p.ChainCode) > 0 {
		w.bytes(p.Message)
		w.str(p.DerivationPath)
		w.bytes(p.ChainCode)
	}
	return w.sum()
}

// Join is one participant's contribution to a session: fresh randomness for
// the session id and an ephemeral X25519 key, signed by its identity key.
type Join struct {
	DeviceID     string
	Contribution []byte // 32 random bytes
	EphemeralKey []byte // X25519 public key
	Signature    []byte // Ed25519 by the identity key over joinTranscript
}

func joinTranscript(paramsHash []byte, j Join) []byte {
	w := newWriter("mpcsign/v1/session-join")
	w.bytes(paramsHash)
	w.str(j.DeviceID)
	w.bytes(j.Contribution)
	w.bytes(j.EphemeralKey)
	return w.buf.Bytes()
}

// Ephemeral is a participant's private per-session key. It prints as REDACTED.
type Ephemeral struct {
	key *ecdh.PrivateKey
}

func (e *Ephemeral) String() string       { return "envelope.Ephemeral(REDACTED)" }
func (e *Ephemeral) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// NewJoin makes this device's join for a session.
func NewJoin(id *identity.Identity, deviceID string, p Params) (Join, *Ephemeral, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Join{}, nil, err
	}
	j := Join{DeviceID: deviceID, Contribution: make([]byte, 32), EphemeralKey: k.PublicKey().Bytes()}
	if _, err := rand.Read(j.Contribution); err != nil {
		return Join{}, nil, err
	}
	j.Signature = id.Sign(joinTranscript(p.Hash(), j))
	return j, &Ephemeral{key: k}, nil
}

// Session is a participant's agreed view of a session, after every join was
// checked.
type Session struct {
	ID      []byte
	self    string
	eph     *Ephemeral
	members map[string]sessionMember
}

type sessionMember struct {
	identityKey  []byte
	ephemeralKey *ecdh.PublicKey
}

// ID computes the session id from the parameters and every join: each
// participant's randomness goes into it, so no one chooses it alone.
func ID(p Params, joins []Join) []byte {
	js := append([]Join(nil), joins...)
	sort.Slice(js, func(i, j int) bool { return js[i].DeviceID < js[j].DeviceID })
	w := newWriter("mpcsign/v1/session-id")
	w.bytes(p.Hash())
	for _, j := range js {
		w.str(j.DeviceID)
		w.bytes(j.Contribution)
		w.bytes(j.EphemeralKey)
	}
	return w.sum()
}

// Agree checks the joins the coordinator collected (exactly one valid join
// per member, this device's own one unchanged) and returns the session.
func Agree(p Params, self Join, eph *Ephemeral, joins []Join) (*Session, error) {
	byID := map[string]Member{}
	for _, m := range p.Members {
		byID[m.DeviceID] = m
	}
	ph := p.Hash()
	s := &Session{self: self.DeviceID, eph: eph, members: map[string]sessionMember{}}
	for _, j := range joins {
		m, ok := byID[j.DeviceID]
		if !ok {
			return nil, fmt.Errorf("%w: join from a non-member", ErrBadJoin)
		}
		if _, dup := s.members[j.DeviceID]; dup {
			return nil, &Blame{j.DeviceID, "joined twice"}
		}
		if len(j.Contribution) != 32 {
			return nil, &Blame{j.DeviceID, "contribution is not 32 bytes"}
		}
		if !identity.Verify(m.IdentityKey, joinTranscript(ph, j), j.Signature) {
			return nil, &Blame{j.DeviceID, "join signature does not verify"}
		}
		pub, err := ecdh.X25519().NewPublicKey(j.EphemeralKey)
		if err != nil {
			return nil, &Blame{j.DeviceID, "invalid ephemeral key"}
		}
		if j.DeviceID == self.DeviceID && (!bytes.Equal(j.Contribution, self.Contribution) || !bytes.Equal(j.EphemeralKey, self.EphemeralKey)) {
			return nil, fmt.Errorf("%w: this device's own join was altered", ErrBadJoin)
		}
		s.members[j.DeviceID] = sessionMember{identityKey: m.IdentityKey, ephemeralKey: pub}
	}
	if len(s.members) != len(byID) {
		return nil, fmt.Errorf("%w: %d joins for %d members", ErrBadJoin, len(s.members), len(byID))
	}
	s.ID = ID(p, joins)
	return s, nil
}

// writer builds length-prefixed canonical encodings.
type writer struct{ buf bytes.Buffer }

func newWriter(label string) *writer {
	w := &writer{}
	w.str(label)
	return w
}

func (w *writer) bytes(b []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(b)))
	w.buf.Write(l[:])
	w.buf.Write(b)
}
func (w *writer) str(s string) { w.bytes([]byte(s)) }
func (w *writer) u64(v uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	w.buf.Write(b[:])
}
func (w *writer) sum() []byte {
	h := sha256.Sum256(w.buf.Bytes())
	return h[:]
}
