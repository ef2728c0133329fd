package guard

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// Protocol names the tss-lib protocol a session runs.
type Protocol int

// The protocols the guard knows.
const (
	KeygenECDSA Protocol = iota + 1
	SignECDSA
	ReshareECDSA
	// The EdDSA (Ed25519) protocols: the message types of tss-lib's
	// eddsa/keygen, eddsa/signing and eddsa/resharing, curve tss.Edwards().
	KeygenEdDSA
	SignEdDSA
	ReshareEdDSA
)

func (p Protocol) String() string {
	switch p {
	case KeygenECDSA:
		return "keygen-ecdsa"
	case SignECDSA:
		return "sign-ecdsa"
	case ReshareECDSA:
		return "reshare-ecdsa"
	case KeygenEdDSA:
		return "keygen-eddsa"
	case SignEdDSA:
		return "sign-eddsa"
	case ReshareEdDSA:
		return "reshare-eddsa"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// MaxParties is the largest committee the guard accepts in Params. It bounds
// the length of the VSS commitment vectors, and so the wire caps.
const MaxParties = 128

// Params describe the session a message belongs to.
type Params struct {
	Protocol   Protocol
	Threshold  int // t of the key being generated/used (for reshare: old threshold)
	PartyCount int // parties in this session (for reshare: old committee size)
	// NewThreshold and NewPartyCount describe the new committee of a reshare.
	NewThreshold, NewPartyCount int
}

// ErrBadParams reports Params that cannot describe a session. It is the
// caller's fault, never a sender's, so it is not a *Violation.
var ErrBadParams = errors.New("guard: invalid session parameters")

// ErrTooLarge reports a wire payload over the cap for its protocol. CheckWire
// returns it inside a *Violation: errors.Is(err, ErrTooLarge) holds.
var ErrTooLarge = errors.New("guard: wire payload too large")

func (p Params) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadParams, fmt.Sprintf(format, a...))
	}
	if p.Threshold < 1 {
		return bad("threshold %d < 1", p.Threshold)
	}
	if p.PartyCount <= p.Threshold || p.PartyCount > MaxParties {
		return bad("party count %d for threshold %d (max %d)", p.PartyCount, p.Threshold, MaxParties)
	}
	switch p.Protocol {
	case KeygenECDSA, SignECDSA, KeygenEdDSA, SignEdDSA:
		return nil
	case ReshareECDSA, ReshareEdDSA:
		if p.NewThreshold < 1 {
			return bad("new threshold %d < 1", p.NewThreshold)
		}
		if p.NewPartyCount <= p.NewThreshold || p.NewPartyCount > MaxParties {
			return bad("new party count %d for new threshold %d (max %d)", p.NewPartyCount, p.NewThreshold, MaxParties)
		}
		return nil
	}
	return bad("unknown protocol %d", int(p.Protocol))
}

// Violation says which check a message failed. It names the message type,
// the field and the rule; it never contains a value from the message (only
// field names, counts, lengths and bit sizes).
type Violation struct {
	Type   string // the tss message type (protobuf full name); empty for CheckWire
	Field  string
	Reason string

	err error // optional sentinel, see Unwrap
}

func (v *Violation) Error() string {
	t := v.Type
	if t == "" {
		t = "message"
	}
	return fmt.Sprintf("guard: %s: %s: %s", t, v.Field, v.Reason)
}

// Unwrap lets errors.Is find ErrTooLarge in a CheckWire violation.
func (v *Violation) Unwrap() error { return v.err }

// CheckWire caps the raw wire size before any parsing work. It returns nil, a
// *Violation (wrapping ErrTooLarge when the payload is over the cap) or
// ErrBadParams.
func CheckWire(p Params, wire []byte) error {
	if err := p.validate(); err != nil {
		return err
	}
	if len(wire) == 0 {
		return &Violation{Field: "wire", Reason: "empty payload"}
	}
	if limit := wireLimit(p); len(wire) > limit {
		return &Violation{Field: "wire", Reason: fmt.Sprintf("%d bytes, cap for %s is %d", len(wire), p.Protocol, limit), err: ErrTooLarge}
	}
	return nil
}

// Check validates a parsed message (from tss.ParseWireMessage) on its own. It
// returns nil, a *Violation or ErrBadParams. It never panics, whatever the
// content: an unexpected panic inside a check is turned into a *Violation.
func Check(p Params, msg tss.ParsedMessage) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Violation{Field: "message", Reason: "malformed message (checker recovered from a panic)"}
		}
	}()
	if v := check(p, msg); v != nil {
		return v
	}
	return nil
}

// check is Check without the recover, so that tests and fuzzing see panics.
// It returns error (not *Violation) so that a nil result is a nil interface.
func check(p Params, msg tss.ParsedMessage) error {
	if err := p.validate(); err != nil {
		return err
	}
	if msg == nil {
		return &Violation{Field: "message", Reason: "nil message"}
	}
	content := msg.Content()
	if content == nil {
		return &Violation{Field: "content", Reason: "nil content"}
	}
	c := fields{typ: name(content)}
	if !content.ProtoReflect().IsValid() {
		return c.fail("content", "nil content")
	}
	if from := msg.GetFrom(); from == nil || from.MessageWrapper_PartyID == nil || !from.ValidateBasic() {
		return c.fail("From", "missing or invalid sender")
	}
	wire := msg.WireMsg()
	if wire == nil {
		return c.fail("wire", "missing wire wrapper")
	}
	if len(content.ProtoReflect().GetUnknown()) > 0 {
		return c.fail("content", "unknown fields present")
	}
	rule, ok := rulesFor(p.Protocol)[c.typ]
	if !ok {
		return c.fail("type", fmt.Sprintf("not a %s message", p.Protocol))
	}
	if wire.IsBroadcast != rule.broadcast {
		if rule.broadcast {
			return c.fail("IsBroadcast", "must be broadcast")
		}
		return c.fail("IsBroadcast", "must be point-to-point")
	}
	if v := rule.check(c, p, content); v != nil {
		return v
	}
	return nil
}

// name is the protobuf full name of a message type, as Violation.Type.
func name(m proto.Message) string { return string(proto.MessageName(m)) }

// rule is what the guard knows about one message type of a protocol. The
// rule tables (keygenRules, signingRules, resharingRules and their EdDSA
// counterparts in eddsa.go) are read-only.
type rule struct {
	broadcast bool
	check     func(c fields, p Params, m proto.Message) *Violation
}

func rulesFor(p Protocol) map[string]rule {
	switch p {
	case KeygenECDSA:
		return keygenRules
	case SignECDSA:
		return signingRules
	case ReshareECDSA:
		return resharingRules
	case KeygenEdDSA:
		return eddsaKeygenRules
	case SignEdDSA:
		return eddsaSigningRules
	case ReshareEdDSA:
		return eddsaResharingRules
	}
	return nil
}
