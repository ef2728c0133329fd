package blame

import (
	"crypto/sha256"
	"math/big"
	"sort"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/commitments"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	edsigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/guard"
)

// SignEdDSA describes an EdDSA (Ed25519) signing session.
type SignEdDSA struct {
	// Key is the key's public data as every holder stores it after keygen
	// or reshare (EdKeyPublic.SaveData builds it): only the public fields
	// are read (Ks, BigXj); the secret ones (Xi, ShareID) are ignored and
	// may be unset.
	Key eddsakeygen.LocalPartySaveData
	// Signers are the signing members' tss-lib party ids as they build them
	// (sorted; Id is the device id).
	Signers   tss.SortedPartyIDs
	Threshold int
	// Message is the message signed: the members pass
	// new(big.Int).SetBytes(Message) and len(Message) to
	// edsigning.NewLocalParty. Only the library's final signature check
	// reads it, and that check names nobody: no verdict depends on it.
	Message []byte
}

// MaxSignEdDSAMessages bounds the messages one EdDSA signing judgement
// reads: the 3 broadcasts of each of guard.MaxParties signers, with room
// for copies (EdDSA signing has no point-to-point message).
const MaxSignEdDSAMessages = 2 * 3 * guard.MaxParties

// The EdDSA signing message types, as protobuf full names.
var (
	edSgR1 = typeName(&edsigning.SignRound1Message{})
	edSgR2 = typeName(&edsigning.SignRound2Message{})
	edSgR3 = typeName(&edsigning.SignRound3Message{})
)

// edSignRounds orders the messages as the accuser's guard Session needs
// them: a sender's decommitment after its commitment (the device holds a
// decommitment that arrives first and checks it again later). Unknown
// types come first: the guard rejects them.
var edSignRounds = map[string]int{edSgR1: 1, edSgR2: 2, edSgR3: 3}

// JudgeSignEdDSA re-runs, on the messages msgs (every broadcast of every
// signer), every check that the accuser's tss-lib v2.0.2 eddsa/signing and
// its guard (guard.CheckWire, tss.ParseWireMessage, guard.Check, a
// guard.Session after LearnKeyEdDSA) make on the accused's messages, using
// the key's public data and the announced values only. accuser and accused
// are device ids (PartyID.Id); msgs may hold the point-to-point messages
// between the two as well (EdDSA signing has none: the guard refuses one
// from the accused). The checks, in the library's order:
//
//   - the guard on every message of the accused, with the Session's
//     LearnKeyEdDSA fed the whole key (not the signers' subset) as
//     party/session.go feeds it: it reads only Ks, the holders that may
//     send. The Session also checks that the accused's SignRound2Message
//     opens its SignRound1Message commitment to exactly one point of the
//     prime-order subgroup, with a Schnorr commitment of that subgroup;
//     then tss-lib's ValidateBasic, and no two different messages of one
//     type;
//   - round 3: the accused's SignRound2Message decommitment opens its
//     SignRound1Message commitment to two coordinates (the library fails
//     without naming anyone; the guard already refused such a message, so
//     the judge, like the guard, blames the accused), R_j is a curve
//     point, then EightInvEight, the Schnorr proof's commitment is a curve
//     point and the proof verifies for R_j with context ssid || j. The
//     ssid is round 1's getSSID: the curve (P, N, Gx, Gy), the signers'
//     party keys, their BigXj from the signers' subset of the key data,
//     round number 1 and nonce 0.
//
// Not re-run, because they name nobody: the finalization adds every s_j
// of the SignRound3Messages and verifies the signature; a wrong s_i fails
// that verification without a culprit in v2.0.2, so a SignRound3Message
// that passes the guard never makes a verdict Guilty (an accusation for
// it does not come from the library). Nor are the device's checks outside
// tss-lib and the guard (the envelope's type, the cross-session replay
// fingerprints). v2.0.2's ssid holds nothing unique to one session: an
// R_j and its proof replayed from an earlier signing by the same signers
// with the same key pass every library check here, and are Clean.
//
// The accused's round 3 check does not depend on any other signer's
// messages: it runs even when the accuser's library would have stopped
// at another signer first. A missing message of the accused is a check
// not run (see the package doc). Other messages in msgs (point-to-point
// messages between other members, messages of non-signers) are ignored.
func JudgeSignEdDSA(s SignEdDSA, msgs []Msg, accuser, accused string) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = undecided("internal error while judging")
		}
	}()
	if len(msgs) > MaxSignEdDSAMessages {
		return undecided("too many messages")
	}
	j, v := newJudge(Keygen{EdDSA: true, Threshold: s.Threshold, Parties: s.Signers}, accuser, accused, 0)
	if j == nil {
		return v
	}
	j.params.Protocol = guard.SignEdDSA
	ssid, v := j.edSignSSID(s.Key)
	if ssid == nil {
		return v
	}
	if v, done := j.screenEdSign(msgs, publicEdKeyData(s.Key)); done {
		return v
	}
	return j.edSign(ssid)
}

// publicEdKeyData copies the public fields of k: the judge never reads a
// secret field, even by accident.
func publicEdKeyData(k eddsakeygen.LocalPartySaveData) eddsakeygen.LocalPartySaveData {
	return eddsakeygen.LocalPartySaveData{
		Ks:       append([]*big.Int(nil), k.Ks...),
		BigXj:    append([]*crypto.ECPoint(nil), k.BigXj...),
		EDDSAPub: k.EDDSAPub,
	}
}

// edSignSSID is what the accuser's library computes before round 1
// (NewLocalParty's BuildLocalSaveDataSubset, round 1's getSSID): the ssid
// of the proof contexts. It returns nil and an Undecided verdict when the
// key data does not fit the signers.
func (j *judge) edSignSSID(k eddsakeygen.LocalPartySaveData) (ssid []byte, v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			ssid, v = nil, undecided("the key data does not fit the signers")
		}
	}()
	// BuildLocalSaveDataSubset panics when a signer does not hold the key.
	data := eddsakeygen.BuildLocalSaveDataSubset(publicEdKeyData(k), j.ids)
	for i := range data.Ks {
		if data.Ks[i] == nil || data.BigXj[i] == nil {
			return nil, undecided("incomplete key data")
		}
	}
	cp := j.ec.Params()
	list := []*big.Int{cp.P, cp.N, cp.Gx, cp.Gy}
	list = append(list, j.ids.Keys()...)
	xs, err := crypto.FlattenECPoints(data.BigXj)
	if err != nil {
		return nil, undecided("incomplete key data")
	}
	list = append(list, xs...)
	list = append(list, big.NewInt(1), new(big.Int).SetUint64(0))
	return common.SHA512_256i(list...).Bytes(), Verdict{}
}

// screenEdSign is screen for an EdDSA signing session: the same pipeline
// on every broadcast and the accused's point-to-point messages to the
// accuser, with one guard Session that learnt the key's holders
// as the accuser's device does, messages in round order.
func (j *judge) screenEdSign(msgs []Msg, key eddsakeygen.LocalPartySaveData) (Verdict, bool) {
	j.accepted = make(map[msgKey]tss.ParsedMessage)
	j.bad = make(map[msgKey]bool)
	j.badFrom = make(map[int]bool)
	var list []parsedMsg
	for _, m := range msgs {
		from, ok := j.byID[m.From]
		if !ok || (!m.Broadcast && (from != j.accused || m.To != j.ids[j.accuser].Id)) {
			// Not a message the accuser received, or unreadable to the
			// coordinator. (EdDSA signing has no point-to-point message:
			// the guard refuses one from the accused.)
			continue
		}
		p, reason := j.parse(from, m)
		if reason != "" {
			if from == j.accused {
				return guilty(reason), true
			}
			j.badFrom[from] = true
			continue
		}
		list = append(list, p)
	}
	sort.SliceStable(list, func(a, b int) bool { return edSignRounds[list[a].typ] < edSignRounds[list[b].typ] })

	sess, err := guard.NewSession(j.params)
	if err != nil {
		return undecided("unsupported session parameters"), true
	}
	if err := sess.LearnKeyEdDSA(key); err != nil {
		return undecided("the key data does not fit the guard"), true
	}
	first := make(map[msgKey][sha256.Size]byte)
	for _, p := range list {
		key := msgKey{p.from, p.typ}
		if d, seen := first[key]; seen {
			if d != p.digest {
				if p.from == j.accused {
					return guilty(short(p.typ) + ": two different messages of this type (equivocation)"), true
				}
				j.bad[key] = true
				delete(j.accepted, key)
			}
			continue
		}
		first[key] = p.digest
		if v, done := j.admit(sess, key, p.msg); done {
			return v, true
		}
	}
	return Verdict{}, false
}

// edSign is round 3's check of the accused's SignRound2Message against its
// SignRound1Message (see JudgeSignEdDSA).
func (j *judge) edSign(ssid []byte) Verdict {
	a := j.accused
	c, _ := j.content(a, edSgR1).(*edsigning.SignRound1Message)
	d, _ := j.content(a, edSgR2).(*edsigning.SignRound2Message)
	if c == nil || d == nil {
		return clean() // a check not run
	}
	return checkAccused(short(edSgR2), func() Verdict {
		ok, coords := (&commitments.HashCommitDecommit{C: c.UnmarshalCommitment(), D: d.UnmarshalDeCommitment()}).DeCommit()
		if !ok || len(coords) != 2 {
			return guilty("SignRound2Message: decommitment does not open the SignRound1Message commitment to one point")
		}
		rj, err := crypto.NewECPoint(j.ec, coords[0], coords[1])
		if err != nil {
			return guilty("SignRound2Message: decommitted R_j is not a curve point")
		}
		rj = rj.EightInvEight()
		pf, err := d.UnmarshalZKProof(j.ec)
		if err != nil {
			return guilty("SignRound2Message: Schnorr proof commitment is not a curve point")
		}
		if !pf.Verify(common.AppendBigIntToBytesSlice(ssid, big.NewInt(int64(a))), rj) {
			return guilty("SignRound2Message: Schnorr proof of R_j does not verify")
		}
		return clean()
	})
}
