package guard

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// ErrOutOfOrder reports a message that depends on an earlier message of the
// same sender that this Session has not accepted yet (in keygen: a round 2 or
// round 3 message before the sender's round 1 message; in EdDSA: a
// decommitment before the sender's commitment). It is not a
// *Violation: hold the message and check it again after the sender's earlier
// messages (the envelope's seq gives their order).
var ErrOutOfOrder = errors.New("guard: message arrived before the sender's earlier message it depends on")

// Session checks the messages one local party receives in one protocol run:
// create one per LocalParty and pass every message through Check before
// Update. On top of the package-level Check it
//
//   - checks the keygen modulus proof (round 2) and Paillier proof (round 3)
//     against the Paillier modulus N that the same sender announced in round 1:
//     gcd(W, N) = 1, Jacobi(W, N) = -1, every value a unit below N;
//   - in signing, after LearnKey, refuses senders that do not hold the key,
//     checks Alice's ciphertext and range proof against her modulus, and
//     checks the MtA values made under the local party's own N and NTilde
//     (Bob's ciphertexts, the S2/T2 bounds of every range proof);
//   - in EdDSA, checks that a decommitment (keygen round 2, signing round 2,
//     resharing round 3) opens the commitment the same sender sent in round
//     1; EdDSA signing, after LearnKeyEdDSA, refuses senders that do not hold
//     the key;
//   - rejects a sender that sends two different messages of one type (an
//     identical copy is accepted again, so retransmissions are harmless).
//
// It is safe for concurrent use.
type Session struct {
	p Params

	mu      sync.Mutex
	peers   map[string]*peerState // by party key (tss.PartyID.KeyInt)
	holders bool                  // LearnKey was called: only its holders may send
	local   *localRing            // signing, after LearnKey: the local party's N and NTilde
}

type peerState struct {
	paillierN  *big.Int
	commitment *big.Int                     // EdDSA: the sender's round 1 hash commitment
	seen       map[string][sha256.Size]byte // message type -> digest of its content
}

// NewSession returns a Session for one protocol run, or ErrBadParams.
func NewSession(p Params) (*Session, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &Session{p: p, peers: make(map[string]*peerState)}, nil
}

func (s *Session) peer(key string) *peerState {
	peer := s.peers[key]
	if peer == nil {
		peer = &peerState{seen: make(map[string][sha256.Size]byte)}
		s.peers[key] = peer
	}
	return peer
}

// LearnKey gives a signing Session the public Paillier modulus of every
// holder of the key, from the local party's key data (Ks and PaillierPKs).
// Then only holders may send, and Alice's MtA ciphertext must be a unit
// modulo her N^2: v2.0.2's RangeProofAlice.Verify computes c^-e mod N^2
// without checking that, and a non-invertible c makes it panic in a
// goroutine of signing round 2 that no caller can recover. It also learns
// the local party's own N and NTilde (the Ks entry equal to ShareID, with
// NTildej): the MtA values peers compute under them are checked as tss-lib
// v4 checks them (see upstream.go).
func (s *Session) LearnKey(key keygen.LocalPartySaveData) error {
	if s.p.Protocol != SignECDSA {
		return fmt.Errorf("%w: LearnKey is for signing sessions", ErrBadParams)
	}
	if len(key.Ks) == 0 || len(key.Ks) != len(key.PaillierPKs) {
		return fmt.Errorf("%w: key data without matching Ks and PaillierPKs", ErrBadParams)
	}
	moduli := make(map[string]*big.Int, len(key.Ks))
	for j, k := range key.Ks {
		pk := key.PaillierPKs[j]
		if k == nil || pk == nil || pk.N == nil || pk.N.BitLen() != modulusBits || pk.N.Bit(0) == 0 {
			return fmt.Errorf("%w: key data entry %d has no valid Paillier modulus", ErrBadParams, j)
		}
		moduli[k.String()] = new(big.Int).Set(pk.N)
	}
	local, err := localRingOf(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, n := range moduli {
		s.peer(k).paillierN = n
	}
	s.holders = true
	s.local = local
	return nil
}

// LearnKeyEdDSA gives an EdDSA signing Session the holders of the key, from
// the local party's key data (Ks): then only holders may send. It is
// optional.
func (s *Session) LearnKeyEdDSA(key eddsakeygen.LocalPartySaveData) error {
	if s.p.Protocol != SignEdDSA {
		return fmt.Errorf("%w: LearnKeyEdDSA is for EdDSA signing sessions", ErrBadParams)
	}
	if len(key.Ks) == 0 {
		return fmt.Errorf("%w: key data without Ks", ErrBadParams)
	}
	keys := make([]string, len(key.Ks))
	for j, k := range key.Ks {
		if k == nil || k.Sign() <= 0 {
			return fmt.Errorf("%w: key data entry %d has no party key", ErrBadParams, j)
		}
		keys[j] = k.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.peer(k)
	}
	s.holders = true
	return nil
}

// Check validates msg with Check and then against what the session knows
// about the sender. It returns nil, a *Violation, ErrOutOfOrder or
// ErrBadParams, and never panics.
func (s *Session) Check(msg tss.ParsedMessage) (err error) {
	if err := Check(s.p, msg); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = &Violation{Field: "message", Reason: "malformed message (checker recovered from a panic)"}
		}
	}()
	return s.check(msg)
}

// check runs after Check has accepted msg.
func (s *Session) check(msg tss.ParsedMessage) error {
	content := msg.Content()
	c := fields{typ: name(content)}
	digest, err := contentDigest(content)
	if err != nil {
		return c.fail("content", "cannot be re-encoded")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	key := msg.GetFrom().KeyInt().String()
	if s.holders && s.peers[key] == nil {
		return c.fail("From", "sender does not hold this key")
	}
	peer := s.peer(key)
	if prev, ok := peer.seen[c.typ]; ok {
		if prev != digest {
			return c.fail("message", "a different message of this type was already received from this sender")
		}
		return nil
	}

	if err := s.checkContent(c, peer, content); err != nil {
		return err
	}
	peer.seen[c.typ] = digest
	return nil
}

// checkContent runs the checks of one message type that need what the
// sender (peer) or this device sent before (caller holds s.mu).
func (s *Session) checkContent(c fields, peer *peerState, content any) error {
	switch m := content.(type) {
	case *keygen.KGRound1Message:
		peer.paillierN = new(big.Int).SetBytes(m.GetPaillierN())
	case *keygen.KGRound2Message2:
		if peer.paillierN == nil {
			return ErrOutOfOrder
		}
		pf, bad := c.decodeModProof("ModProof", m.GetModProof())
		if bad != nil {
			return bad
		}
		if bad := pf.against(c, "ModProof", peer.paillierN); bad != nil {
			return bad
		}
	case *keygen.KGRound3Message:
		if peer.paillierN == nil {
			return ErrOutOfOrder
		}
		vs, bad := c.paillierProof("PaillierProof", m.GetPaillierProof())
		if bad != nil {
			return bad
		}
		for i, v := range vs {
			if bad := c.unitBelow(part("PaillierProof", i, ""), v, peer.paillierN, "N"); bad != nil {
				return bad
			}
		}
	case *signing.SignRound1Message1:
		if peer.paillierN != nil {
			if bad := checkAliceAgainst(c, m, peer.paillierN); bad != nil {
				return bad
			}
		}
		if s.local != nil {
			if bad := s.local.checkAlice(c, m); bad != nil {
				return bad
			}
		}
	case *signing.SignRound2Message:
		if s.local != nil {
			if bad := s.local.checkBob(c, m); bad != nil {
				return bad
			}
		}
	case *eddsakeygen.KGRound1Message:
		peer.commitment = new(big.Int).SetBytes(m.GetCommitment())
	case *eddsakeygen.KGRound2Message2:
		if err := peer.opens(c, "DeCommitment", m.GetDeCommitment()); err != nil {
			return err
		}
	case *eddsasigning.SignRound1Message:
		peer.commitment = new(big.Int).SetBytes(m.GetCommitment())
	case *eddsasigning.SignRound2Message:
		if err := peer.opens(c, "DeCommitment", m.GetDeCommitment()); err != nil {
			return err
		}
	case *eddsaresharing.DGRound1Message:
		peer.commitment = new(big.Int).SetBytes(m.GetVCommitment())
	case *eddsaresharing.DGRound3Message2:
		if err := peer.opens(c, "VDecommitment", m.GetVDecommitment()); err != nil {
			return err
		}
	}
	return nil
}

// opens checks that decommitment d opens the commitment the sender sent in
// round 1: SHA-512/256 over its values, as commitments.HashCommitDecommit
// computes it. It returns ErrOutOfOrder before the commitment. v2.0.2's
// EdDSA signing round 3 fails on a wrong opening without naming the sender.
func (peer *peerState) opens(c fields, field string, d [][]byte) error {
	if peer.commitment == nil {
		return ErrOutOfOrder
	}
	if common.SHA512_256i(common.MultiBytesToBigInts(d)...).Cmp(peer.commitment) != 0 {
		return c.fail(field, "does not open the sender's round 1 commitment")
	}
	return nil
}

// checkAliceAgainst checks Alice's ciphertext and the values of her range
// proof that live modulo her own N or N^2.
func checkAliceAgainst(c fields, m *signing.SignRound1Message1, n *big.Int) *Violation {
	n2 := new(big.Int).Mul(n, n)
	parts := m.GetRangeProofAlice() // counts checked by Check
	for _, e := range []struct {
		field, modName string
		b              []byte
		mod            *big.Int
	}{
		{"C", "N^2", m.GetC(), n2},
		{part("RangeProofAlice", 1, "U"), "N^2", parts[1], n2},
		{part("RangeProofAlice", 3, "S"), "N", parts[3], n},
	} {
		if bad := c.unitBelow(e.field, new(big.Int).SetBytes(e.b), e.mod, e.modName); bad != nil {
			return bad
		}
	}
	return nil
}

// unitBelow checks v < mod and gcd(v, mod) = 1.
func (c fields) unitBelow(field string, v, mod *big.Int, modName string) *Violation {
	if v.Cmp(mod) >= 0 {
		return c.fail(field, "not below "+modName)
	}
	if new(big.Int).GCD(nil, nil, v, mod).Cmp(one) != 0 {
		return c.fail(field, "gcd with "+modName+" != 1")
	}
	return nil
}

func contentDigest(m proto.Message) ([sha256.Size]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}
