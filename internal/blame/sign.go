package blame

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/guard"
)

// Sign describes an ECDSA signing session.
type Sign struct {
	// Key is the key's public data as every holder stores it after keygen
	// or reshare: only the public fields are read (Ks, NTildej, H1j, H2j,
	// PaillierPKs, BigXj, ECDSAPub); the secret ones (Xi, ShareID, the
	// pre-parameters) are ignored and may be unset.
	Key keygen.LocalPartySaveData
	// Signers are the signing members' tss-lib party ids as they build them
	// (sorted; Id is the device id).
	Signers tss.SortedPartyIDs
	// Delta is the BIP32 derivation delta of a signature with a path (nil
	// without one); the members apply it with
	// signing.UpdatePublicKeyAndAdjustBigXj(delta, keys, childPub,
	// tss.S256()) before signing, and ChildPub is the derived public key.
	Delta     *big.Int
	ChildPub  *ecdsa.PublicKey
	Threshold int
}

// MaxSignMessages bounds the messages one signing judgement reads: the 8
// broadcasts of each of guard.MaxParties signers and the 4 point-to-point
// messages between accuser and accused, with room for copies.
const MaxSignMessages = 2 * (8*guard.MaxParties + 4)

// The ECDSA signing message types, as protobuf full names.
var (
	sgR1M1 = typeName(&signing.SignRound1Message1{})
	sgR1M2 = typeName(&signing.SignRound1Message2{})
	sgR2   = typeName(&signing.SignRound2Message{})
	sgR3   = typeName(&signing.SignRound3Message{})
	sgR4   = typeName(&signing.SignRound4Message{})
	sgR5   = typeName(&signing.SignRound5Message{})
	sgR6   = typeName(&signing.SignRound6Message{})
	sgR7   = typeName(&signing.SignRound7Message{})
	sgR8   = typeName(&signing.SignRound8Message{})
)

// JudgeSign re-runs, on the messages msgs (every broadcast of every signer,
// plus the point-to-point messages between accuser and accused in both
// directions), every check that the accuser's tss-lib v2.0.2 ecdsa/signing
// and its guard (guard.CheckWire, tss.ParseWireMessage, guard.Check, a
// guard.Session after LearnKey) make on the accused's messages, using the
// key's public data and the announced values only. accuser and accused are
// device ids (PartyID.Id). The checks, in the library's order:
//
//   - the guard on every message of the accused, with the Session's LearnKey
//     fed the key data as party/session.go feeds it (the whole key, not the
//     signers' subset, not derived) with ShareID set to the accuser's party
//     key: LearnKey reads ShareID only to find the local party among Ks and
//     take its Paillier N and NTilde, the ring the peers' MtA values must
//     live in. A party key is public, so this needs no secret;
//   - round 2 (the accuser as Bob): the range proof of the accused's
//     SignRound1Message1 to the accuser, for the accused's Paillier key and
//     the accuser's NTilde, h1, h2 (BobMid and BobMidWC verify the same
//     proof with the same values: one verification stands for both; it
//     takes no session context in v2.0.2);
//   - round 3 (the accuser as Alice): ProofBob (C1) and ProofBobWC (C2,
//     with W of the accused) of the accused's SignRound2Message, for the
//     accuser's Paillier key and NTilde, h1, h2, against the ciphertext the
//     accuser SENT the accused (its SignRound1Message1 as relayed, not
//     what its library holds), context ssid || accused's index;
//   - round 5: the accused's SignRound4Message opens its SignRound1Message2
//     commitment to one curve point Gamma, with a valid Schnorr proof; the
//     library's sum R of every Gamma must not reach the point at infinity
//     at the accused (Undecided: the sum depends on the others' points);
//   - round 7: its SignRound6Message opens its SignRound5Message commitment
//     to two curve points V, A, with a valid Schnorr proof for A and a valid
//     V-proof for V against R = (sum of Gamma) * (sum of theta)^-1, rebuilt
//     from every signer's announced Gamma and theta;
//   - round 9: its SignRound8Message opens its SignRound7Message commitment
//     (v2.0.2 tests `!ok && len(values) != 4`; after DeCommit fails, values
//     is empty, so every failed opening is blamed).
//
// Not re-run, because they name no one else or need a secret:
//
//   - AliceEnd/AliceEndWC decrypt C1 and C2 with the accuser's Paillier
//     secret key. Decrypt fails only for a ciphertext that is not a unit
//     below the accuser's N^2, which the guard's Session refuses before
//     (C1, C2 against the local ring learnt from the key data): the one
//     part not re-run is the decryption itself, whose result is secret and
//     checked by nothing but the final signature;
//   - round 9's U = T check blames the accuser's own party, and the final
//     signature check (finalize) names nobody: a wrong s_i (SignRound9Message)
//     cannot be attributed from outside in v2.0.2 and never makes a verdict
//     Guilty; an accusation for it does not come from the library;
//   - the device's cross-session replay fingerprints (they depend on its
//     stored history). v2.0.2's ssid hashes only the curve, the signers, the
//     subset's key data, round number 1 and nonce 0, nothing unique to one
//     session, and the range proof has no context: a message replayed from
//     an earlier signing of the same signers with the same key passes every
//     library check here, and is Clean.
//
// The R of round 7 starts, in the library, from the accuser's own Gamma and
// theta; the judge uses the ones the accuser announced (its broadcasts of
// rounds 1, 3 and 4). Without them the V-proof is Undecided. A missing
// message of the accused or of another signer is a check not run (see the
// package doc), and so is a check that the accuser's library would not
// reach because it blames another signer first. Other messages in msgs
// (point-to-point messages between other members, messages of non-signers)
// are ignored.
func JudgeSign(s Sign, msgs []Msg, accuser, accused string) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = undecided("internal error while judging")
		}
	}()
	if len(msgs) > MaxSignMessages {
		return undecided("too many messages")
	}
	j, v := newJudge(Keygen{Threshold: s.Threshold, Parties: s.Signers}, accuser, accused, 0)
	if j == nil {
		return v
	}
	j.params.Protocol = guard.SignECDSA
	sk, v := j.signKey(s)
	if sk == nil {
		return v
	}
	if v, done := j.screenSign(msgs, j.guardKey(s.Key)); done {
		return v
	}
	return j.sign(sk, msgs)
}

// signKey is what the accuser's library computes from the key before round
// 1 (NewLocalPartyWithKDD, round1.prepare, getSSID): the signers' subset of
// the key data with the derivation applied, every signer's W_j = w_j*G, and
// the ssid of the proof contexts.
type signKey struct {
	data  keygen.LocalPartySaveData
	bigWs []*crypto.ECPoint
	ssid  []byte
}

// ctx is member m's proof context as the accuser's library computes it
// (rounds 3, 5 and 7): ssid || m, the same bytes m's own rounds 2, 4 and 6
// append (the index 0 appends nothing).
func (sk *signKey) ctx(m int) []byte {
	return common.AppendBigIntToBytesSlice(sk.ssid, big.NewInt(int64(m)))
}

// publicKeyData copies the public fields of k: the judge never reads a
// secret field, even by accident.
func publicKeyData(k keygen.LocalPartySaveData) keygen.LocalPartySaveData {
	return keygen.LocalPartySaveData{
		Ks:          append([]*big.Int(nil), k.Ks...),
		NTildej:     append([]*big.Int(nil), k.NTildej...),
		H1j:         append([]*big.Int(nil), k.H1j...),
		H2j:         append([]*big.Int(nil), k.H2j...),
		BigXj:       append([]*crypto.ECPoint(nil), k.BigXj...),
		PaillierPKs: append(k.PaillierPKs[:0:0], k.PaillierPKs...),
		ECDSAPub:    k.ECDSAPub,
	}
}

// guardKey is the key data as the accuser's device gives it to its guard
// Session's LearnKey: the whole key, with its own party key as ShareID.
func (j *judge) guardKey(k keygen.LocalPartySaveData) keygen.LocalPartySaveData {
	d := publicKeyData(k)
	d.ShareID = j.ids[j.accuser].KeyInt()
	return d
}

// signKey rebuilds the accuser's signKey; nil with an Undecided verdict when
// the key data or the derivation do not fit the signers.
func (j *judge) signKey(s Sign) (sk *signKey, v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			sk, v = nil, undecided("the key data does not fit the signers")
		}
	}()
	// BuildLocalSaveDataSubset panics when a signer does not hold the key.
	data := keygen.BuildLocalSaveDataSubset(publicKeyData(s.Key), j.ids)
	for i := range data.Ks {
		if data.Ks[i] == nil || data.NTildej[i] == nil || data.H1j[i] == nil || data.H2j[i] == nil ||
			data.BigXj[i] == nil || data.PaillierPKs[i] == nil || data.PaillierPKs[i].N == nil {
			return nil, undecided("incomplete key data")
		}
	}
	if s.Delta != nil {
		if s.ChildPub == nil || s.Delta.Sign() <= 0 {
			return nil, undecided("invalid key derivation")
		}
		keys := []keygen.LocalPartySaveData{data}
		if err := signing.UpdatePublicKeyAndAdjustBigXj(s.Delta, keys, s.ChildPub, j.ec); err != nil {
			return nil, undecided("invalid key derivation")
		}
		data = keys[0]
	}
	// round1.prepare: only W_j = w_j*G is kept; w_i (secret) is computed
	// from a zero share and dropped.
	_, bigWs := signing.PrepareForSigning(j.ec, j.accuser, len(data.Ks), new(big.Int), data.Ks, data.BigXj)
	ssid, ok := signSSID(j.ec, j.ids, data)
	if !ok {
		return nil, undecided("incomplete key data")
	}
	return &signKey{data: data, bigWs: bigWs, ssid: ssid}, Verdict{}
}

// signSSID is ecdsa/signing's getSSID in round 1 (number 1, nonce 0): the
// same ssid serves every round.
func signSSID(ec elliptic.Curve, ids tss.SortedPartyIDs, key keygen.LocalPartySaveData) ([]byte, bool) {
	cp := ec.Params()
	list := []*big.Int{cp.P, cp.N, cp.B, cp.Gx, cp.Gy}
	list = append(list, ids.Keys()...)
	xs, err := crypto.FlattenECPoints(key.BigXj)
	if err != nil {
		return nil, false
	}
	list = append(list, xs...)
	list = append(list, key.NTildej...)
	list = append(list, key.H1j...)
	list = append(list, key.H2j...)
	list = append(list, big.NewInt(1), new(big.Int).SetUint64(0))
	return common.SHA512_256i(list...).Bytes(), true
}

// screenSign is screen for a signing session: the same pipeline on every
// broadcast and the accused's point-to-point messages to the accuser, with
// one guard Session that learnt the key as the accuser's device does.
// Signing messages have no order the Session depends on, so they are
// checked in relay order.
func (j *judge) screenSign(msgs []Msg, key keygen.LocalPartySaveData) (Verdict, bool) {
	j.accepted = make(map[msgKey]tss.ParsedMessage)
	j.bad = make(map[msgKey]bool)
	j.badFrom = make(map[int]bool)
	sess, err := guard.NewSession(j.params)
	if err != nil {
		return undecided("unsupported session parameters"), true
	}
	if err := sess.LearnKey(key); err != nil {
		return undecided("the key data does not fit the guard"), true
	}
	first := make(map[msgKey][sha256.Size]byte)
	for _, m := range msgs {
		from, ok := j.byID[m.From]
		if !ok || (!m.Broadcast && (from != j.accused || m.To != j.ids[j.accuser].Id)) {
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
		k := msgKey{p.from, p.typ}
		if d, seen := first[k]; seen {
			if d != p.digest {
				if p.from == j.accused {
					return guilty(short(p.typ) + ": two different messages of this type (equivocation)"), true
				}
				j.bad[k] = true
				delete(j.accepted, k)
			}
			continue
		}
		first[k] = p.digest
		if v, done := j.admit(sess, k, p.msg); done {
			return v, true
		}
	}
	return Verdict{}, false
}
