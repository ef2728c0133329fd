//go:build malicious

package party

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/preparams"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A party built with -tags malicious plays a dishonest device, for the e2e
// suite's malicious-party tests only: it runs the protocols as the honest
// build does, with the same keystore, shares and signed envelopes, but
// changes some of its outgoing tss-lib messages first (through the agent's
// tamper hook, as the package's in-process tests do). MPCSIGN_MALICIOUS
// lists what it does (comma-separated):
//
//	announce-other-ntilde
//	                 in an ECDSA keygen, announces (KGRound1Message) the
//	                 NTilde, h1 and h2 of another pre-parameter set, with
//	                 valid DLN proofs for them: the last set of the TEST-ONLY
//	                 fixture file named by MPCSIGN_MALICIOUS_PREPARAMS. Its
//	                 own tss-lib keeps using its real set, so that library
//	                 blames the honest members in round 3 (their factor
//	                 proofs are for the announced NTilde)
//	announce-other-paillier
//	                 in an ECDSA keygen, announces the Paillier modulus of
//	                 that other set while its library keeps its own: its
//	                 own proofs about its modulus then fail at the honest
//	                 members, which prove it with their evidence
//	replay-mta       in ECDSA signing, remembers the first SignRound1Message1
//	                 (MtA ciphertext and range proof) it sends to each
//	                 recipient, and in every later session sends that one
//	                 to the recipient again instead of the fresh one: the
//	                 content of an earlier session in a fresh, validly
//	                 signed envelope
//	wrong-si         in ECDSA signing, adds 1 to its signature share s_i
//	                 (SignRound9Message)
//	wrong-proofbob   in ECDSA signing, adds 1 to the first element of its
//	                 Bob proof (SignRound2Message.ProofBob[0])
//	accuse-first     in every keygen and signing, once it has every other
//	                 member's messages, reports a protocol error blaming
//	                 the first other member (by device id), with its real
//	                 evidence: a false accusation
//	accuse-all       the same, blaming every other member
//	garble-p2p       in every keygen and signing, seals its first
//	                 point-to-point envelope to the first other member (by
//	                 device id) under a stray X25519 key, so that neither
//	                 the recipient nor anyone holding its revealed pair key
//	                 can open it, signs it as usual, and at once (the next
//	                 thing on its stream, before the recipient could
//	                 complain) reports a protocol error blaming that
//	                 member, with its real evidence: a frame-up
//
// An unknown name is logged at Error level and ignored. The default build
// has none of this (malicious_off.go).
const (
	maliciousEnv          = "MPCSIGN_MALICIOUS"
	maliciousPreparamsEnv = "MPCSIGN_MALICIOUS_PREPARAMS"
)

// The behaviours, and the message each one changes.
const (
	behaveOtherNTilde   = "announce-other-ntilde"
	behaveOtherPaillier = "announce-other-paillier"
	behaveReplayMtA     = "replay-mta"
	behaveWrongSi       = "wrong-si"
	behaveWrongProofBob = "wrong-proofbob"
	behaveAccuseFirst   = "accuse-first"
	behaveAccuseAll     = "accuse-all"
	behaveGarbleP2P     = "garble-p2p"

	typeKGRound1   = "binance.tsslib.ecdsa.keygen.KGRound1Message"
	typeSignRound1 = "binance.tsslib.ecdsa.signing.SignRound1Message1"
	typeSignRound2 = "binance.tsslib.ecdsa.signing.SignRound2Message"
	typeSignRound9 = "binance.tsslib.ecdsa.signing.SignRound9Message"
)

// malicious is the state of a malicious build's tamper function. It is
// called from every running session at once.
type malicious struct {
	log *slog.Logger
	on  map[string]bool
	// other is what announce-other-ntilde announces.
	other *announcedNTilde

	mu sync.Mutex
	// firstMtA is the first SignRound1Message1 payload sent to each
	// recipient (replay-mta).
	firstMtA map[string][]byte
}

// announcedNTilde is another pre-parameter set's NTilde, h1, h2 and DLN
// proofs, serialized as tss-lib's keygen round 1 does.
type announcedNTilde struct {
	nTilde, h1, h2 []byte
	dln1, dln2     [][]byte
	paillierN      []byte
}

// maliciousTamper returns the tamper function MPCSIGN_MALICIOUS asks for,
// or nil when it asks for nothing usable.
func maliciousTamper(log *slog.Logger) *tamperFunc {
	raw := os.Getenv(maliciousEnv)
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	m := &malicious{log: log, on: map[string]bool{}, firstMtA: map[string][]byte{}}
	var names []string
	for _, w := range strings.Split(raw, ",") {
		w = strings.TrimSpace(w)
		if w == "" || m.on[w] {
			continue
		}
		switch w {
		case behaveOtherNTilde, behaveOtherPaillier:
			other, err := loadAnnouncedNTilde(os.Getenv(maliciousPreparamsEnv))
			if err != nil {
				log.Error("TEST ONLY: malicious behaviour ignored", "env", maliciousEnv, "behaviour", w, "err", err)
				continue
			}
			m.other = other
		case behaveReplayMtA, behaveWrongSi, behaveWrongProofBob, behaveAccuseFirst, behaveAccuseAll, behaveGarbleP2P:
		default:
			log.Error("TEST ONLY: unknown malicious behaviour ignored", "env", maliciousEnv, "behaviour", w,
				"known", strings.Join([]string{behaveOtherNTilde, behaveOtherPaillier, behaveReplayMtA, behaveWrongSi, behaveWrongProofBob, behaveAccuseFirst, behaveAccuseAll, behaveGarbleP2P}, ","))
			continue
		}
		m.on[w] = true
		names = append(names, w)
	}
	if len(names) == 0 {
		return nil
	}
	log.Warn("TEST ONLY: malicious build: this device misbehaves on purpose", "env", maliciousEnv, "behaviours", strings.Join(names, ","))
	f := tamperFunc(m.tamper)
	return &f
}

// loadAnnouncedNTilde reads the last set of a TEST-ONLY fixture file and
// makes its DLN proofs, exactly as tss-lib v2.0.2's ecdsa/keygen round 1.
func loadAnnouncedNTilde(path string) (*announcedNTilde, error) {
	if path == "" {
		return nil, fmt.Errorf("%s names no pre-parameter file", maliciousPreparamsEnv)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sets, err := preparams.ReadTestFixtures(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%s holds no pre-parameter set", path)
	}
	pp := sets[len(sets)-1].Local()
	if !pp.ValidateWithProof() {
		return nil, fmt.Errorf("%s: its last set cannot make DLN proofs", path)
	}
	dln1, err := dlnproof.NewDLNProof(pp.H1i, pp.H2i, pp.Alpha, pp.P, pp.Q, pp.NTildei, rand.Reader).Serialize()
	if err != nil {
		return nil, err
	}
	dln2, err := dlnproof.NewDLNProof(pp.H2i, pp.H1i, pp.Beta, pp.P, pp.Q, pp.NTildei, rand.Reader).Serialize()
	if err != nil {
		return nil, err
	}
	return &announcedNTilde{nTilde: pp.NTildei.Bytes(), h1: pp.H1i.Bytes(), h2: pp.H2i.Bytes(), dln1: dln1, dln2: dln2, paillierN: pp.PaillierSK.N.Bytes()}, nil
}

// tamper is the tamperFunc: it returns the payload to send in place of one
// outgoing message (the message itself when no behaviour changes it).
func (m *malicious) tamper(msgType, to string, payload []byte) [][]byte {
	var behaviour string
	var out []byte
	var err error
	switch {
	case msgType == typeKGRound1 && m.on[behaveOtherNTilde]:
		behaviour = behaveOtherNTilde
		out, err = editPayload(payload, func(msg *keygen.KGRound1Message) error {
			o := m.other
			msg.NTilde, msg.H1, msg.H2 = o.nTilde, o.h1, o.h2
			msg.Dlnproof_1, msg.Dlnproof_2 = o.dln1, o.dln2
			return nil
		})
	case msgType == typeKGRound1 && m.on[behaveOtherPaillier]:
		behaviour = behaveOtherPaillier
		out, err = editPayload(payload, func(msg *keygen.KGRound1Message) error {
			msg.PaillierN = m.other.paillierN
			return nil
		})
	case msgType == typeSignRound1 && m.on[behaveReplayMtA]:
		m.mu.Lock()
		first, seen := m.firstMtA[to]
		if !seen {
			m.firstMtA[to] = slices.Clone(payload)
		}
		m.mu.Unlock()
		if !seen {
			return [][]byte{payload} // remembered for the later sessions
		}
		behaviour, out = behaveReplayMtA, first
	case msgType == typeSignRound2 && m.on[behaveWrongProofBob]:
		behaviour = behaveWrongProofBob
		out, err = editPayload(payload, func(msg *signing.SignRound2Message) error {
			if len(msg.ProofBob) == 0 {
				return fmt.Errorf("no Bob proof")
			}
			msg.ProofBob[0] = plusOneBytes(msg.ProofBob[0])
			return nil
		})
	case msgType == typeSignRound9 && m.on[behaveWrongSi]:
		behaviour = behaveWrongSi
		out, err = editPayload(payload, func(msg *signing.SignRound9Message) error {
			msg.S = plusOneBytes(msg.S)
			return nil
		})
	default:
		return [][]byte{payload}
	}
	if err != nil {
		m.log.Error("TEST ONLY: malicious behaviour failed; the message is sent unchanged", "behaviour", behaviour, "type", msgType, "to", to, "err", err)
		return [][]byte{payload}
	}
	m.log.Info("TEST ONLY: malicious: tampered with an outgoing message", "behaviour", behaviour, "type", msgType, "to", to)
	return [][]byte{out}
}

// editPayload decodes a tss-lib wire payload (an anypb.Any wrapping the
// content) as T, lets f change it and encodes it again.
func editPayload[T proto.Message](payload []byte, f func(T) error) ([]byte, error) {
	var a anypb.Any
	if err := proto.Unmarshal(payload, &a); err != nil {
		return nil, err
	}
	msg, err := a.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	content, ok := msg.(T)
	if !ok {
		return nil, fmt.Errorf("payload holds %s", msg.ProtoReflect().Descriptor().FullName())
	}
	if err := f(content); err != nil {
		return nil, err
	}
	out, err := anypb.New(content)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(out)
}

func plusOneBytes(b []byte) []byte {
	return new(big.Int).Add(new(big.Int).SetBytes(b), big.NewInt(1)).Bytes()
}

// maliciousAccuses is whom a malicious build accuses falsely once its
// protocol finished (accuse-first, accuse-all): nil for none.
func maliciousAccuses(self string, members []string) []string {
	on := behaviours()
	others := otherMembers(self, members)
	switch {
	case on[behaveAccuseAll]:
		return others
	case on[behaveAccuseFirst] && len(others) > 0:
		return others[:1]
	}
	return nil
}

// behaviours are the names MPCSIGN_MALICIOUS lists.
func behaviours() map[string]bool {
	on := map[string]bool{}
	for _, w := range strings.Split(os.Getenv(maliciousEnv), ",") {
		on[strings.TrimSpace(w)] = true
	}
	return on
}

// otherMembers are members other than self, sorted by device id.
func otherMembers(self string, members []string) []string {
	var others []string
	for _, m := range members {
		if m != self {
			others = append(others, m)
		}
	}
	slices.Sort(others)
	return others
}

// maliciousSeal is garble-p2p. For a keygen's or signing's point-to-point
// envelope to the first other member it sends, in place of the honest one,
// one sealed under a stray key and, right behind it on the same stream, a
// report blaming that member with this device's genuine evidence (both made
// before either is sent, so nothing comes between them: the coordinator
// takes the report before the recipient could have complained). It returns
// the failure that ends the session (which reports it once more, after the
// coordinator ended the session). nil for any other envelope: the caller
// seals it honestly.
func maliciousSeal(s *session, h envelope.Header, payload []byte) *Failure {
	if h.Broadcast || s.agreed == nil || !behaviours()[behaveGarbleP2P] {
		return nil
	}
	if k := s.start.GetKind(); k != mpcv1.SessionKind_SESSION_KIND_KEYGEN && k != mpcv1.SessionKind_SESSION_KIND_SIGN {
		return nil
	}
	if others := otherMembers(s.self, s.members); len(others) == 0 || h.To != others[0] {
		return nil
	}
	env, err := sealStray(s.deps.identity, s.self, s.agreed.ID, h, payload)
	if err != nil {
		s.log.Error("TEST ONLY: malicious behaviour failed; the envelope is sealed honestly", "behaviour", behaveGarbleP2P, "type", h.Type, "to", h.To, "err", err)
		return nil
	}
	f := &Failure{Reason: "protocol error (a false accusation by a test-only malicious build, of the recipient of an envelope it garbled)", Culprits: []string{h.To}}
	report := &mpcv1.SessionFailure{Ref: s.ref, Reason: f.Reason, Culprits: f.Culprits}
	s.backAccusation(report)
	s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Message{Message: env.Proto()}})
	s.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Failure{Failure: report}})
	s.log.Info("TEST ONLY: malicious: sealed a point-to-point envelope under a stray key and accused its recipient", "behaviour", behaveGarbleP2P, "type", h.Type, "to", h.To)
	return f
}

// sealStray seals payload from self to h.To in the session sid, signed by
// id, under a stray pair key: a throwaway session of self's fresh ephemeral
// key and a made-up recipient's, given sid. The envelope verifies as self's
// (the relay passes it on and keeps it), but neither the recipient nor
// anyone with self's revealed key of sid can open it.
func sealStray(id *identity.Identity, self string, sid []byte, h envelope.Header, payload []byte) (envelope.Envelope, error) {
	peer, err := identity.New()
	if err != nil {
		return envelope.Envelope{}, err
	}
	p := envelope.Params{Members: []envelope.Member{{DeviceID: self, IdentityKey: id.PublicKey()}, {DeviceID: h.To, IdentityKey: peer.PublicKey()}}}
	mine, eph, err := envelope.NewJoin(id, self, p)
	if err != nil {
		return envelope.Envelope{}, err
	}
	theirs, _, err := envelope.NewJoin(peer, h.To, p)
	if err != nil {
		return envelope.Envelope{}, err
	}
	stray, err := envelope.Agree(p, mine, eph, []envelope.Join{mine, theirs})
	if err != nil {
		return envelope.Envelope{}, err
	}
	stray.ID = sid
	return stray.Seal(id, h, payload)
}
