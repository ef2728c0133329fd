package relay

import (
	"bytes"
	"crypto/ecdsa"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mpcsign/mpcsign/internal/blame"
	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/partyid"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// verdict is the coordinator's reading of a member's failure report.
type verdict struct {
	blame    Blame
	culprits []string // device ids
	detail   string   // what the evidence showed, for the record and the log
	// reporter made an unproven accusation: it is as suspect as those it
	// named (the coordinator's signWithKey orders the next attempt by it).
	reporter string
}

// Bounds on what a session keeps for judging, and on the judging itself.
const (
	maxEvidenceMessages = 8192
	maxEvidenceBytes    = 64 << 20
	maxAccusedJudged    = 8
)

// keep retains a relayed envelope (its signature checked) for judging a
// complaint, should the session fail. Past the bounds it notes that the
// transcript is incomplete: no complaint is then judged (an accused's
// message that is not kept could be the one that failed).
func (s *session) keep(msg *mpcv1.SessionMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.relayed) >= maxEvidenceMessages || s.relayedBytes+len(msg.GetPayload()) > maxEvidenceBytes {
		s.dropped = true
		return
	}
	s.relayed = append(s.relayed, msg)
	s.relayedBytes += len(msg.GetPayload())
}

// relayedCount is how many envelopes were kept so far.
func (s *session) relayedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.relayed)
}

// judge decides what a member's failure report proves. A report without
// evidence, or about a check the coordinator cannot re-run, leaves its
// culprits suspected. With evidence (the reporter's revealed ephemeral key,
// checked against its signed join), the coordinator opens the accused's
// point-to-point envelopes to the reporter and re-runs the checks: an
// accused whose signed messages fail one is proven at fault; when every
// accused passes every check, or a point-to-point envelope the reporter
// itself sent an accused does not open, the reporter lied.
func (s *session) judge(reporter string, f *mpcv1.SessionFailure, seen int) verdict {
	accused := s.memberIDs(f.GetCulprits(), reporter)
	suspected := verdict{blame: BlameSuspected, culprits: accused, reporter: reporter}
	if len(accused) == 0 || len(f.GetEvidenceKey()) == 0 {
		return suspected
	}
	// One judgement per reporter, of a bounded number of accused.
	if s.judged == nil {
		s.judged = map[string]bool{}
	}
	if s.judged[reporter] || len(accused) > maxAccusedJudged {
		suspected.detail = "not judged again, or too many accused"
		return suspected
	}
	s.judged[reporter] = true
	s.mu.Lock()
	dropped := s.dropped
	relayed := slices.Clone(s.relayed[:min(seen, len(s.relayed))])
	s.mu.Unlock()
	if dropped {
		suspected.detail = "the session's transcript was too large to keep whole"
		return suspected
	}
	if !envelope.RevealAllowed(uint32(s.kind)) {
		suspected.detail = "evidence is never revealed in a reshare"
		return suspected
	}
	if !envelope.VerifyComplaint(s.members[reporter].IdentityPublicKey, s.sid, f.GetCulprits(), f.GetEvidenceKey(), f.GetEvidenceSignature()) {
		suspected.detail = "the complaint's signature does not verify"
		return suspected
	}
	opened, err := envelope.OpenReveal(s.sid, reporter, f.GetEvidenceKey(), s.joins)
	if err != nil {
		// A signed complaint with a key that is not its own: the accuser
		// backed its accusation with something false.
		return verdict{blame: BlameAccuserLied, culprits: []string{reporter}, detail: "its evidence key does not match its signed join"}
	}
	if e, ok := undecryptableFrom(relayed, opened, reporter, accused); ok {
		// The reporter signed that ciphertext, and its own genuine key
		// does not open it: whatever the accused did with it, a garbled
		// message the reporter sent is never the accused's fault.
		return verdict{blame: BlameAccuserLied, culprits: []string{reporter},
			detail: "its own " + e.Type + " to " + s.members[e.To].Name + " does not decrypt under its revealed pair key"}
	}
	var guilty, clean []string
	var reasons []string
	for _, a := range accused {
		v := equivocation(relayed, a)
		if v.Outcome != blame.Guilty {
			v = s.judgeOne(relayed, opened, reporter, a)
		}
		switch v.Outcome {
		case blame.Guilty:
			guilty = append(guilty, a)
			reasons = append(reasons, s.members[a].Name+": "+v.Reason)
		case blame.Clean:
			clean = append(clean, a)
		}
	}
	switch {
	case len(guilty) > 0:
		return verdict{blame: BlameProven, culprits: guilty, detail: "evidence checked: " + strings.Join(reasons, "; ")}
	case len(clean) > 0:
		return verdict{blame: BlameAccuserLied, culprits: []string{reporter},
			detail: "evidence checked: every check passes on what " + strings.Join(s.names(clean), ", ") + " sent"}
	}
	suspected.detail = "the coordinator cannot re-run the failed check for this protocol"
	return suspected
}

// undecryptableFrom finds a point-to-point envelope from reporter to one
// of accused that does not open under reporter's revealed key. An honest
// device seals with the very pair key the revealed key derives, so such an
// envelope, signed by reporter (the relay checked the signature before
// keeping it), shows that the reporter sent garbage, under a stray key or
// none, perhaps to accuse its recipient of it.
func undecryptableFrom(relayed []*mpcv1.SessionMessage, opened *envelope.Revealed, reporter string, accused []string) (envelope.Envelope, bool) {
	for _, m := range relayed {
		e := envelope.FromProto(m)
		if e.Broadcast || e.From != reporter || !slices.Contains(accused, e.To) {
			continue
		}
		if _, err := opened.Open(e); err != nil {
			return e, true
		}
	}
	return envelope.Envelope{}, false
}

// equivocation is the devices' first-write-wins rule (envelope.Tracker)
// re-run on what the coordinator relayed: two envelopes of one type from
// accused to the same recipients with different payloads (ciphertext or
// bytes, whatever their content decodes to) prove it at fault.
func equivocation(relayed []*mpcv1.SessionMessage, accused string) blame.Verdict {
	first := map[string][]byte{}
	for _, m := range relayed {
		if m.GetFrom() != accused {
			continue
		}
		k := m.GetType() + "\x00" + m.GetTo()
		if p, ok := first[k]; ok && !bytes.Equal(p, m.GetPayload()) {
			return blame.Verdict{Outcome: blame.Guilty, Reason: "sent two different " + m.GetType() + " messages"}
		} else if !ok {
			first[k] = m.GetPayload()
		}
	}
	return blame.Verdict{Outcome: blame.Clean}
}

// judgeOne re-runs the reporter's checks on what accused sent it: every
// broadcast, and the point-to-point envelopes between the two. Only an
// envelope from accused that does not open proves accused at fault: the
// accused signed that ciphertext, while the reporter's own ciphertext is the
// reporter's doing.
func (s *session) judgeOne(relayed []*mpcv1.SessionMessage, opened *envelope.Revealed, reporter, accused string) blame.Verdict {
	var msgs []blame.Msg
	var types []string // each message's type, as its envelope says
	for _, m := range relayed {
		e := envelope.FromProto(m)
		if e.Type == envelope.EchoType {
			continue
		}
		if !e.Broadcast && !(e.From == accused && e.To == reporter) && !(e.From == reporter && e.To == accused) {
			continue
		}
		wire, err := opened.Open(e)
		if err != nil && e.From != accused {
			// The reporter's own envelope (judge blames the reporter for
			// it before judging anyone): it says nothing about accused, and
			// the checks cannot be re-run without it.
			return blame.Verdict{Outcome: blame.Undecided}
		}
		if err != nil {
			return blame.Verdict{Outcome: blame.Guilty, Reason: e.Type + ": point-to-point payload does not decrypt under the pair key"}
		}
		if e.From == accused && (contentType(wire) != e.Type || roundInType(e.Type) != e.Round) {
			// The device compares them before its library sees the message.
			return blame.Verdict{Outcome: blame.Guilty, Reason: e.Type + ": the content is of another type or round than its envelope says"}
		}
		msgs = append(msgs, blame.Msg{From: e.From, To: e.To, Broadcast: e.Broadcast, Wire: wire})
		types = append(types, e.Type)
	}
	switch s.kind {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		if dup := sharedModulus(msgs, reporter, accused); dup {
			// Only the owner knows who copied; both announced it, signed.
			return blame.Verdict{Outcome: blame.Undecided}
		}
		return blame.JudgeKeygen(blame.Keygen{EdDSA: s.ed25519, Threshold: s.threshold, Parties: s.partyIDs(0, nil)}, msgs, reporter, accused)
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		if v := s.judgeSignMessages(msgs, types, accused); v.Outcome == blame.Guilty {
			return v
		}
		if s.ed25519 {
			sign, ok := s.signJudgementEdDSA()
			if !ok {
				return blame.Verdict{Outcome: blame.Undecided}
			}
			return blame.JudgeSignEdDSA(sign, msgs, reporter, accused)
		}
		sign, ok := s.signJudgement()
		if !ok {
			return blame.Verdict{Outcome: blame.Undecided}
		}
		return blame.JudgeSign(sign, msgs, reporter, accused)
	}
	return blame.Verdict{Outcome: blame.Undecided}
}

// signJudgementEdDSA describes an Ed25519 signing session for the judge.
func (s *session) signJudgementEdDSA() (blame.SignEdDSA, bool) {
	if s.key == nil || len(s.key.KeyPublic) == 0 {
		return blame.SignEdDSA{}, false
	}
	kp, err := blame.UnmarshalEdKeyPublic(s.key.KeyPublic)
	if err != nil {
		return blame.SignEdDSA{}, false
	}
	data, err := kp.SaveData()
	if err != nil {
		return blame.SignEdDSA{}, false
	}
	return blame.SignEdDSA{Key: data, Signers: s.partyIDs(s.epoch, s.partyKeyIdentity), Threshold: s.threshold, Message: s.message}, true
}

// signJudgement describes an ECDSA signing session for the judge: the
// key's public data as its holders reported it, the signers' party ids,
// and the derivation of a signature with a path.
func (s *session) signJudgement() (blame.Sign, bool) {
	if s.key == nil || len(s.key.KeyPublic) == 0 {
		return blame.Sign{}, false
	}
	kp, err := blame.UnmarshalKeyPublic(s.key.KeyPublic)
	if err != nil {
		return blame.Sign{}, false
	}
	data, err := kp.SaveData()
	if err != nil {
		return blame.Sign{}, false
	}
	sign := blame.Sign{Key: data, Signers: s.partyIDs(s.epoch, s.partyKeyIdentity), Threshold: s.threshold}
	if s.path != "" {
		steps, err := hd.ParsePath(s.path)
		if err != nil {
			return blame.Sign{}, false
		}
		d, err := hd.Derive(s.key.PublicKey, s.key.ChainCode, steps)
		if err != nil {
			return blame.Sign{}, false
		}
		child, err := secp256k1.ParsePubKey(d.PublicKey)
		if err != nil {
			return blame.Sign{}, false
		}
		sign.Delta, sign.ChildPub = d.Delta, &ecdsa.PublicKey{Curve: tss.S256(), X: child.X(), Y: child.Y()}
	}
	return sign, true
}

// judgeSignMessages runs the guard's checks of one message on everything
// accused sent the reporter. A failure proves it at fault; passing them
// proves nothing (the library's proof checks need the key's public data,
// which the coordinator does not keep), so the result is then Undecided.
func (s *session) judgeSignMessages(msgs []blame.Msg, types []string, accused string) blame.Verdict {
	p := guard.Params{Protocol: guard.SignECDSA, Threshold: s.threshold, PartyCount: len(s.members)}
	if s.ed25519 {
		p.Protocol = guard.SignEdDSA
	}
	ids := s.partyIDs(s.epoch, s.partyKeyIdentity)
	var from *tss.PartyID
	for _, id := range ids {
		if id.Id == accused {
			from = id
		}
	}
	for i, m := range msgs {
		if m.From != accused {
			continue
		}
		if err := guard.CheckWire(p, m.Wire); err != nil {
			return blame.Verdict{Outcome: blame.Guilty, Reason: types[i] + ": " + err.Error()}
		}
		parsed, err := tss.ParseWireMessage(m.Wire, from, m.Broadcast)
		if err != nil || parsed.Type() != types[i] {
			return blame.Verdict{Outcome: blame.Guilty, Reason: types[i] + ": unparseable, or another type than its envelope says"}
		}
		if err := guard.Check(p, parsed); err != nil {
			return blame.Verdict{Outcome: blame.Guilty, Reason: err.Error()}
		}
	}
	return blame.Verdict{Outcome: blame.Undecided}
}

// sharedModulus reports whether accused announced a Paillier modulus or
// NTilde in keygen that the reporter announced too.
func sharedModulus(msgs []blame.Msg, reporter, accused string) bool {
	mine, theirs := map[string]bool{}, map[string]bool{}
	for _, m := range msgs {
		if !m.Broadcast || (m.From != reporter && m.From != accused) {
			continue
		}
		for _, n := range announcedModuli(m.Wire) {
			if m.From == reporter {
				mine[n] = true
			} else {
				theirs[n] = true
			}
		}
	}
	for n := range theirs {
		if mine[n] {
			return true
		}
	}
	return false
}

// announcedModuli are the Paillier modulus and NTilde a keygen round-1
// message announces, as canonical bytes (nil for any other message).
func announcedModuli(wire []byte) []string {
	var a anypb.Any
	if proto.Unmarshal(wire, &a) != nil {
		return nil
	}
	var m keygen.KGRound1Message
	if !a.MessageIs(&m) || a.UnmarshalTo(&m) != nil {
		return nil
	}
	canon := func(b []byte) string { return string(new(big.Int).SetBytes(b).Bytes()) }
	return []string{canon(m.GetPaillierN()), canon(m.GetNTilde())}
}

// contentType is the tss-lib message type a wire payload carries ("" if
// it does not decode).
func contentType(wire []byte) string {
	var a anypb.Any
	if proto.Unmarshal(wire, &a) != nil {
		return ""
	}
	return string(a.MessageName())
}

var roundRE = regexp.MustCompile(`Round(\d+)`)

// roundInType is the round a tss-lib message type names (party.roundOf).
func roundInType(typ string) uint32 {
	m := roundRE.FindStringSubmatch(typ)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 32)
	return uint32(n)
}

// partyIDs are the members' tss-lib party ids as every member builds them
// (party.newCommittee): from the identity key, or for a restored share the
// identity its party key derives from.
func (s *session) partyIDs(epoch uint64, keyPubs map[string][]byte) tss.SortedPartyIDs {
	var ids tss.UnSortedPartyIDs
	for id, d := range s.members {
		pub := d.IdentityPublicKey
		if k := keyPubs[id]; len(k) == 32 {
			pub = k
		}
		ids = append(ids, partyid.New(id, pub, epoch))
	}
	return tss.SortPartyIDs(ids)
}

// memberIDs keeps the reported ids that are members other than the reporter.
func (s *session) memberIDs(ids []string, reporter string) []string {
	var out []string
	for _, id := range ids {
		if _, ok := s.members[id]; ok && id != reporter && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func (s *session) names(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.members[id].Name)
	}
	return out
}
