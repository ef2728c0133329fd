package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// Evidence: a member that accuses others of an aborted session backs its
// accusation by revealing its ephemeral X25519 key of that session. Anyone
// holding the session's signed joins (the coordinator, an auditor) checks
// the key against the accuser's signed join, derives the pair keys of the
// accuser with each accused, opens the accused's point-to-point envelopes
// to the accuser, and re-runs the checks on their plaintext, which the
// accused signed (its envelope signature covers the ciphertext, and the
// ciphertext authenticates the plaintext under the pair key).
//
// What the key opens: every point-to-point envelope the accuser sent or
// received in that one session, and nothing else (each session has fresh
// ephemeral keys, and the pair keys are bound to the session id). That is
// only what the accuser already knew. It is revealed for keygen and signing
// only:
//   - keygen: the Shamir shares of a key that is never used. A keygen that
//     fails at one member never completes anywhere: every member keeps its
//     share only after every other member's echo, and a member reveals only
//     before it sent its own echo (party/evidence.go);
//   - signing (ECDSA): Paillier ciphertexts under their owners' Paillier keys
//     and zero-knowledge proofs (MtA); no secret of a key share is readable
//     from them, and an aborted session's nonce k is never used again
//     (EdDSA signing has no point-to-point messages);
//   - never a reshare: its point-to-point messages carry shares of the live
//     key. A reshare's accusations stay unverified (see RevealAllowed).

// RevealAllowed reports whether a member may reveal its ephemeral key of an
// aborted session of this kind (1: keygen, 2: sign, as mpcv1.SessionKind).
func RevealAllowed(kind uint32) bool { return kind == 1 || kind == 2 }

// Reveal returns this device's ephemeral private key of the session, for a
// complaint about an aborted session (never for a reshare, see RevealAllowed).
func (s *Session) Reveal() []byte { return s.eph.key.Bytes() }

// ComplaintTranscript is what an accuser signs with its identity key: the
// session, the accused device ids in the order given, the revealed key.
func ComplaintTranscript(sessionID []byte, accused []string, revealed []byte) []byte {
	w := newWriter("mpcsign/v1/complaint")
	w.bytes(sessionID)
	w.u64(uint64(len(accused)))
	for _, a := range accused {
		w.str(a)
	}
	w.bytes(revealed)
	return w.buf.Bytes()
}

// ErrBadReveal reports a revealed key that does not match its owner's join.
var ErrBadReveal = errors.New("envelope: revealed key does not match the member's signed join")

// Revealed is a session opened with one member's revealed ephemeral key: it
// opens the point-to-point envelopes between that member and the others.
type Revealed struct {
	sid    []byte
	member string
	key    *ecdh.PrivateKey
	peers  map[string]*ecdh.PublicKey
}

// OpenReveal checks a revealed key against member's join among joins (the
// signed joins of the session, whose id is sid) and returns what it opens.
func OpenReveal(sid []byte, member string, revealed []byte, joins []Join) (*Revealed, error) {
	k, err := ecdh.X25519().NewPrivateKey(revealed)
	if err != nil {
		return nil, ErrBadReveal
	}
	r := &Revealed{sid: sid, member: member, key: k, peers: map[string]*ecdh.PublicKey{}}
	found := false
	for _, j := range joins {
		pub, err := ecdh.X25519().NewPublicKey(j.EphemeralKey)
		if err != nil {
			continue
		}
		if j.DeviceID == member {
			found = bytes.Equal(k.PublicKey().Bytes(), j.EphemeralKey)
			continue
		}
		r.peers[j.DeviceID] = pub
	}
	if !found {
		return nil, ErrBadReveal
	}
	return r, nil
}

// Open returns the plaintext of a point-to-point envelope between the
// revealing member and another member, whose signature the caller checked.
// An error means the sender's ciphertext does not open under the pair key.
func (r *Revealed) Open(e Envelope) ([]byte, error) {
	if e.Broadcast {
		return e.Payload, nil
	}
	if !bytes.Equal(e.SessionID, r.sid) || (e.From != r.member && e.To != r.member) {
		return nil, fmt.Errorf("envelope: not between %s and another member of this session", r.member)
	}
	peer := e.From
	if peer == r.member {
		peer = e.To
	}
	pub, ok := r.peers[peer]
	if !ok {
		return nil, fmt.Errorf("envelope: %s is not a member", peer)
	}
	shared, err := r.key.ECDH(pub)
	if err != nil {
		return nil, &Blame{peer, "ephemeral key agreement failed"}
	}
	defer clear(shared)
	info := newWriter("mpcsign/v1/p2p")
	info.str(e.From)
	info.str(e.To)
	key, err := hkdf.Key(sha256.New, shared, r.sid, info.buf.String(), chacha20poly1305.KeySize)
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

// VerifyComplaint checks an accuser's signature over its complaint.
func VerifyComplaint(identityKey, sessionID []byte, accused []string, revealed, sig []byte) bool {
	return identity.Verify(identityKey, ComplaintTranscript(sessionID, accused, revealed), sig)
}

// SignComplaint signs a complaint with this device's identity.
func SignComplaint(id *identity.Identity, sessionID []byte, accused []string, revealed []byte) []byte {
	return id.Sign(ComplaintTranscript(sessionID, accused, revealed))
}
