package blame

import (
	"crypto/elliptic"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/guard"
)

// JudgeKeygen re-runs, for the messages msgs (every broadcast of every
// member, plus the accused's point-to-point messages to the accuser), every
// check that the accuser's tss-lib keygen (ECDSA: ecdsa/keygen rounds 2-4;
// EdDSA: eddsa/keygen rounds 2-3) and the guard (guard.CheckWire,
// tss.ParseWireMessage, guard.Check, guard.Session.Check) make on the
// accused's messages, using only announced values. accuser and accused are
// device ids (PartyID.Id). Other messages in msgs (point-to-point messages
// between other members, messages of non-members) are ignored.
func JudgeKeygen(k Keygen, msgs []Msg, accuser, accused string) (v Verdict) {
	defer func() {
		// Every check of the accused's bytes recovers on its own (Guilty);
		// this only catches what is left, which is not the accused's fault.
		if r := recover(); r != nil {
			v = undecided("internal error while judging")
		}
	}()
	j, v := newJudge(k, accuser, accused, len(msgs))
	if j == nil {
		return v
	}
	if v, done := j.screen(msgs); done {
		return v
	}
	if k.EdDSA {
		return j.eddsa()
	}
	return j.ecdsa()
}

// judge holds one judgement: the session's parameters and, after screen,
// the messages that passed the guard.
type judge struct {
	k       Keygen
	params  guard.Params
	ec      elliptic.Curve
	ids     tss.SortedPartyIDs
	byID    map[string]int
	accuser int // index in ids
	accused int

	// Filled by screen.
	accepted map[msgKey]tss.ParsedMessage // sender index and type -> its message
	bad      map[msgKey]bool              // rejected, out of order or equivocated
	badFrom  map[int]bool                 // a sender with an unparseable message
}

type msgKey struct {
	from int
	typ  string
}

// newJudge validates the parameters; on failure it returns nil and the
// Undecided verdict to give.
func newJudge(k Keygen, accuser, accused string, n int) (*judge, Verdict) {
	if n > MaxMessages {
		return nil, undecided("too many messages")
	}
	proto, ec := guard.KeygenECDSA, tss.S256()
	if k.EdDSA {
		proto, ec = guard.KeygenEdDSA, tss.Edwards()
	}
	j := &judge{
		k:      k,
		params: guard.Params{Protocol: proto, Threshold: k.Threshold, PartyCount: len(k.Parties)},
		ec:     ec,
		ids:    k.Parties,
		byID:   make(map[string]int, len(k.Parties)),
	}
	if _, err := guard.NewSession(j.params); err != nil {
		return nil, undecided("unsupported session parameters")
	}
	var prev *big.Int
	for i, p := range k.Parties {
		if p == nil || p.MessageWrapper_PartyID == nil || !p.ValidateBasic() || p.Index != i {
			return nil, undecided("invalid party list")
		}
		key := p.KeyInt()
		if prev != nil && key.Cmp(prev) <= 0 {
			return nil, undecided("party list not sorted by key")
		}
		prev = key
		if _, dup := j.byID[p.Id]; dup {
			return nil, undecided("duplicate party id")
		}
		j.byID[p.Id] = i
	}
	var ok1, ok2 bool
	j.accuser, ok1 = j.byID[accuser]
	j.accused, ok2 = j.byID[accused]
	if !ok1 || !ok2 || j.accuser == j.accused {
		return nil, undecided("accuser or accused not a distinct member")
	}
	// vss.Share.Verify raises the accuser's key to the powers 1..t mod q;
	// a key of 0 mod q makes its ScalarMult panic.
	if new(big.Int).Mod(j.ids[j.accuser].KeyInt(), ec.Params().N).Sign() == 0 {
		return nil, undecided("accuser's party key is zero modulo the curve order")
	}
	return j, Verdict{}
}

// contextJ is the accused's proof context as the accuser's library computes
// it: ssid || j. The ssid (base.getSSID in round 1: number 1, nonce 0) hashes
// the curve, every party key and those two numbers; the context appends the
// accused's index, as round 3 does with common.AppendBigIntToBytesSlice (the
// sender's round 2 appends the same bytes).
func (j *judge) contextJ() []byte {
	cp := j.ec.Params()
	list := []*big.Int{cp.P, cp.N, cp.Gx, cp.Gy}
	list = append(list, j.ids.Keys()...)
	list = append(list, big.NewInt(1), new(big.Int).SetUint64(0))
	ssid := common.SHA512_256i(list...).Bytes()
	return common.AppendBigIntToBytesSlice(ssid, big.NewInt(int64(j.accused)))
}

// content returns the content of member from's accepted message of type
// typ, or nil when it is missing, was rejected, or the member sent an
// unparseable message.
func (j *judge) content(from int, typ string) tss.MessageContent {
	if j.badFrom[from] {
		return nil
	}
	if m := j.accepted[msgKey{from, typ}]; m != nil {
		return m.Content()
	}
	return nil
}

// checkAccused runs f on the accused's bytes: a panic is the accused's fault.
func checkAccused(typ string, f func() Verdict) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = guilty(typ + ": malformed")
		}
	}()
	return f()
}

// announced runs f on other members' announced values: a panic there is not
// the accused's fault.
func announced(reason string, f func() Verdict) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = undecided(reason)
		}
	}()
	return f()
}
