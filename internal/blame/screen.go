package blame

import (
	"crypto/sha256"
	"errors"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/guard"
)

// The message types of the two keygens, as protobuf full names.
var (
	ecR1   = typeName(&keygen.KGRound1Message{})
	ecR2M1 = typeName(&keygen.KGRound2Message1{})
	ecR2M2 = typeName(&keygen.KGRound2Message2{})
	ecR3   = typeName(&keygen.KGRound3Message{})
	edR1   = typeName(&eddsakeygen.KGRound1Message{})
	edR2M1 = typeName(&eddsakeygen.KGRound2Message1{})
	edR2M2 = typeName(&eddsakeygen.KGRound2Message2{})
)

// rounds orders the messages as a receiving party's guard Session needs them
// (a sender's round 1 before its later messages). Unknown types come first:
// the guard rejects them.
var rounds = map[string]int{
	ecR1: 1, ecR2M1: 2, ecR2M2: 2, ecR3: 3,
	edR1: 1, edR2M1: 2, edR2M2: 2,
}

func typeName(m proto.Message) string { return string(proto.MessageName(m)) }

// short is a type's name without its protobuf package, for reasons.
func short(typ string) string {
	if typ == "" {
		return "message"
	}
	return typ[strings.LastIndexByte(typ, '.')+1:]
}

type parsedMsg struct {
	from   int
	typ    string
	msg    tss.ParsedMessage
	digest [sha256.Size]byte
}

// screen passes the messages the accuser received through the pipeline its
// device runs before tss-lib's Update: guard.CheckWire, tss.ParseWireMessage,
// guard.Session.Check (one Session, messages in round order), and the
// library's own ValidateBasic. A failure of the accused is Guilty; a failure
// of another member makes that message unusable. It also rejects a sender's
// second, different message of one type (equivocation).
func (j *judge) screen(msgs []Msg) (Verdict, bool) {
	j.accepted = make(map[msgKey]tss.ParsedMessage)
	j.bad = make(map[msgKey]bool)
	j.badFrom = make(map[int]bool)
	var list []parsedMsg
	for _, m := range msgs {
		from, ok := j.byID[m.From]
		if !ok || (!m.Broadcast && (from != j.accused || m.To != j.ids[j.accuser].Id)) {
			continue // not a message the accuser received, or unreadable to the coordinator
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
	sort.SliceStable(list, func(a, b int) bool { return rounds[list[a].typ] < rounds[list[b].typ] })

	sess, err := guard.NewSession(j.params)
	if err != nil {
		return undecided("unsupported session parameters"), true
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

// admit runs the guard Session and ValidateBasic on one message.
func (j *judge) admit(sess *guard.Session, key msgKey, msg tss.ParsedMessage) (Verdict, bool) {
	accused := key.from == j.accused
	err := sess.Check(msg)
	switch {
	case err == nil:
	case errors.Is(err, guard.ErrOutOfOrder):
		// The sender's round 1 message is missing: the accuser's guard
		// would hold this one forever. For the accused, the judgement
		// reports its round 1 message as missing (Undecided).
		j.bad[key] = true
		return Verdict{}, false
	default:
		var viol *guard.Violation
		if !errors.As(err, &viol) {
			return undecided("guard refused the session parameters"), true
		}
		if accused {
			return guilty(short(key.typ) + ": rejected by the guard (" + viol.Field + ": " + viol.Reason + ")"), true
		}
		j.bad[key] = true
		return Verdict{}, false
	}
	// BaseParty.ValidateMessage blames the sender of a message that fails
	// its content's ValidateBasic.
	if !validateBasic(msg) {
		if accused {
			return guilty(short(key.typ) + ": fails the library's ValidateBasic"), true
		}
		j.bad[key] = true
		return Verdict{}, false
	}
	j.accepted[key] = msg
	return Verdict{}, false
}

func validateBasic(msg tss.ParsedMessage) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return msg.ValidateBasic()
}

// parse is guard.CheckWire and tss.ParseWireMessage as the accuser's device
// runs them, with the sender from the signed envelope and its broadcast
// flag. It returns a reason when the message is rejected.
func (j *judge) parse(from int, m Msg) (p parsedMsg, reason string) {
	defer func() {
		if r := recover(); r != nil {
			reason = "message: malformed"
		}
	}()
	if err := guard.CheckWire(j.params, m.Wire); err != nil {
		var viol *guard.Violation
		if errors.As(err, &viol) {
			return p, "message: rejected by the guard (" + viol.Field + ": " + viol.Reason + ")"
		}
		return p, "message: rejected by the guard"
	}
	msg, err := tss.ParseWireMessage(m.Wire, j.ids[from], m.Broadcast)
	if err != nil || msg == nil || msg.Content() == nil {
		return p, "message: does not parse as a tss-lib message"
	}
	content := msg.Content()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(content)
	if err != nil {
		return p, "message: content cannot be re-encoded"
	}
	// The digest covers the broadcast flag too: the same content sent both
	// ways is two different messages.
	if m.Broadcast {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return parsedMsg{from: from, typ: typeName(content), msg: msg, digest: sha256.Sum256(b)}, ""
}
