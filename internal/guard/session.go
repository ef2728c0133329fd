package guard

import (
	"crypto/sha256"
	"errors"
	"math/big"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// ErrOutOfOrder reports a message that depends on an earlier message of the
// same sender that this Session has not accepted yet (in keygen: a round 2 or
// round 3 message before the sender's round 1 message). It is not a
// *Violation: hold the message and check it again after the sender's earlier
// messages (the envelope's seq gives their order).
var ErrOutOfOrder = errors.New("guard: message arrived before the sender's earlier message it depends on")

// Session checks the messages one local party receives in one protocol run.
// On top of Check it
//
//   - checks the keygen modulus proof (round 2) and Paillier proof (round 3)
//     against the Paillier modulus N the same sender announced in round 1:
//     gcd(W, N) = 1, Jacobi(W, N) = -1, every value a unit below N;
//   - rejects a sender that sends two different messages of one type
//     (an identical copy is accepted again, so retransmissions are harmless).
//
// It is safe for concurrent use.
type Session struct {
	p Params

	mu    sync.Mutex
	peers map[string]*peerState
}

type peerState struct {
	paillierN *big.Int
	seen      map[string][sha256.Size]byte // message type -> digest of its content
}

// NewSession returns a Session for one protocol run, or ErrBadParams.
func NewSession(p Params) (*Session, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &Session{p: p, peers: make(map[string]*peerState)}, nil
}

// Check validates msg with Check and then against what the session has
// accepted from the same sender. It returns nil, a *Violation, ErrOutOfOrder
// or ErrBadParams, and never panics.
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

func (s *Session) check(msg tss.ParsedMessage) error {
	content := msg.Content()
	c := fields{typ: string(proto.MessageName(content))}
	digest, err := contentDigest(content)
	if err != nil {
		return c.fail("content", "cannot be re-encoded")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	from := msg.GetFrom()
	key := from.Id + "\x00" + string(from.Key)
	peer := s.peers[key]
	if peer == nil {
		peer = &peerState{seen: make(map[string][sha256.Size]byte)}
		s.peers[key] = peer
	}
	if prev, ok := peer.seen[c.typ]; ok {
		if prev != digest {
			return c.fail("message", "a different message of this type was already received from this sender")
		}
		return nil
	}

	switch m := content.(type) {
	case *keygen.KGRound1Message:
		peer.paillierN = new(big.Int).SetBytes(m.GetPaillierN())
	case *resharing.DGRound2Message1:
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
		gcd := new(big.Int)
		for i, v := range vs {
			if v.Cmp(peer.paillierN) >= 0 {
				return c.fail(part("PaillierProof", i, ""), "not below N")
			}
			if gcd.GCD(nil, nil, v, peer.paillierN).Cmp(one) != 0 {
				return c.fail(part("PaillierProof", i, ""), "gcd with N != 1")
			}
		}
	}
	peer.seen[c.typ] = digest
	return nil
}

func contentDigest(m proto.Message) ([sha256.Size]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}
