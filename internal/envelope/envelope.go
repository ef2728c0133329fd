package envelope

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// MaxPayload caps one envelope's payload before any work is done on it.
const MaxPayload = 1 << 20

// Header is the signed part of an envelope besides the payload.
type Header struct {
	SessionID []byte
	From      string
	To        string // empty for a broadcast
	Broadcast bool
	Round     uint32
	Type      string
	Seq       uint64
}

// Envelope is one protocol message as it travels through the coordinator.
type Envelope struct {
	Header
	Payload   []byte // plaintext for a broadcast, nonce||ciphertext point to point
	Signature []byte // Ed25519 by the sender's identity key
}

func (h Header) bytes() []byte {
	w := newWriter("mpcsign/v1/envelope")
	w.bytes(h.SessionID)
	w.str(h.From)
	w.str(h.To)
	if h.Broadcast {
		w.u64(1)
	} else {
		w.u64(0)
	}
	w.u64(uint64(h.Round))
	w.str(h.Type)
	w.u64(h.Seq)
	return w.buf.Bytes()
}

func signedBytes(h Header, payloadHash []byte) []byte {
	return append(h.bytes(), payloadHash...)
}

func hashPayload(p []byte) []byte {
	s := sha256.Sum256(p)
	return s[:]
}

// p2pKey derives the key for messages from -> to in this session.
func (s *Session) p2pKey(from, to string) ([]byte, error) {
	peer := to
	if to == s.self {
		peer = from
	}
	m, ok := s.members[peer]
	if !ok {
		return nil, fmt.Errorf("envelope: %s is not a member", peer)
	}
	shared, err := s.eph.key.ECDH(m.ephemeralKey)
	if err != nil {
		return nil, &Blame{peer, "ephemeral key agreement failed"}
	}
	defer clear(shared)
	info := newWriter("mpcsign/v1/p2p")
	info.str(from)
	info.str(to)
	return hkdf.Key(sha256.New, shared, s.ID, info.buf.String(), chacha20poly1305.KeySize)
}

// Seal wraps a payload from this device. Point-to-point payloads are
// encrypted to the recipient with the header as associated data.
func (s *Session) Seal(id *identity.Identity, h Header, payload []byte) (Envelope, error) {
	h.SessionID, h.From = s.ID, s.self
	if h.Broadcast {
		h.To = ""
	} else {
		if _, ok := s.members[h.To]; !ok || h.To == s.self {
			return Envelope{}, fmt.Errorf("envelope: recipient %q is not another member", h.To)
		}
		key, err := s.p2pKey(h.From, h.To)
		if err != nil {
			return Envelope{}, err
		}
		aead, err := chacha20poly1305.NewX(key)
		clear(key)
		if err != nil {
			return Envelope{}, err
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(payload)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return Envelope{}, err
		}
		payload = aead.Seal(nonce, nonce, payload, h.bytes())
	}
	return Envelope{Header: h, Payload: payload, Signature: id.Sign(signedBytes(h, hashPayload(payload)))}, nil
}

// Open checks an envelope addressed to this device and returns its
// plaintext. from, broadcast and the round come from the verified header.
func (s *Session) Open(e Envelope) ([]byte, error) {
	if !bytes.Equal(e.SessionID, s.ID) {
		return nil, ErrWrongSession
	}
	m, ok := s.members[e.From]
	if !ok || e.From == s.self {
		return nil, fmt.Errorf("envelope: sender %q is not another member", e.From)
	}
	if len(e.Payload) > MaxPayload {
		return nil, &Blame{e.From, "oversized payload"}
	}
	if e.Broadcast != (e.To == "") || (!e.Broadcast && e.To != s.self) {
		return nil, &Blame{e.From, "envelope addressed elsewhere"}
	}
	if !identity.Verify(m.identityKey, signedBytes(e.Header, hashPayload(e.Payload)), e.Signature) {
		return nil, &Blame{e.From, "envelope signature does not verify (forged or altered in transit)"}
	}
	if e.Broadcast {
		return e.Payload, nil
	}
	key, err := s.p2pKey(e.From, e.To)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	if len(e.Payload) < aead.NonceSize()+aead.Overhead() {
		return nil, &Blame{e.From, "ciphertext too short"}
	}
	nonce, ct := e.Payload[:aead.NonceSize()], e.Payload[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, e.Header.bytes())
	if err != nil {
		return nil, &Blame{e.From, "point-to-point payload does not decrypt"}
	}
	return pt, nil
}

// ErrDuplicate reports an envelope identical to one already accepted.
var ErrDuplicate = errors.New("envelope: duplicate")

// VerifySigned checks an envelope's signature against the sender's identity
// key without opening it. The coordinator uses it to reject, and blame, a
// sender at the moment it sends a bad envelope, so that parties can tell
// relay tampering from a misbehaving peer.
func VerifySigned(identityKey []byte, e Envelope) bool {
	return len(e.Payload) <= MaxPayload && identity.Verify(identityKey, signedBytes(e.Header, hashPayload(e.Payload)), e.Signature)
}

// VerifyJoin checks a join's signature for the given session parameters.
func VerifyJoin(identityKey []byte, p Params, j Join) bool {
	return len(j.Contribution) == 32 && len(j.EphemeralKey) == 32 && identity.Verify(identityKey, joinTranscript(p.Hash(), j), j.Signature)
}
