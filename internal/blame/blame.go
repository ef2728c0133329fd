// Package blame judges an accusation made after a failed keygen: a device
// (the accuser) reports that its tss-lib instance blamed another member (the
// accused). The coordinator kept every signed envelope it relayed, and the
// accuser revealed its session's ephemeral key so that the coordinator could
// decrypt the accused's point-to-point messages to the accuser. JudgeKeygen
// then re-runs, on the accused's messages, every check that the accuser's
// tss-lib v2.0.2 keygen and the service's guard (internal/guard) make on
// them, with the same functions, inputs and context bytes as the library,
// but against the values the members ANNOUNCED in their signed broadcasts,
// never against anything the accuser claims about its own state.
//
// What a verdict proves:
//
//   - Guilty: a message that the accused sent (its signed broadcast, or its
//     point-to-point message to the accuser) fails a check that every honest
//     member passes whatever the others do: the guard, tss-lib's
//     ValidateBasic, the DLN proofs of its round 1, its decommitment against
//     its commitment, its modulus proof, its Shamir share against its
//     polynomial, its no-small-factor proof against the accuser's announced
//     ring-Pedersen parameters, its Paillier proof against the public key
//     that the announced polynomials make (ECDSA), or its Schnorr proof
//     (EdDSA); or it sent two different messages of one type.
//   - Clean: every check that can run on the accused's messages passes. An
//     accuser whose library nevertheless blamed the accused ran with values
//     other than the ones it announced (the framing attack: it announces an
//     NTilde its own library does not use), or lies about what its library
//     said. A check whose input is missing (a message of the accused, or of
//     another member, that msgs lacks) is not run, and counts for Clean:
//     the caller passes every message relayed in the session up to the
//     complaint, so what msgs lacks the accuser never received either, and
//     no check of its library can have failed on it. (Not running the
//     check is the only sound choice: a missing message proves nothing
//     about the accused, and Undecided would let a liar that accuses early
//     in a session escape as a mere suspect.) An invalid message of another
//     member the accuser would have refused, blaming that member.
//   - Undecided: the judge cannot tell: the library's check depends on more
//     than the accused's own messages (its h1/h2 equal to another member's:
//     either of the two may have copied the other; a sum of several
//     members' polynomials that degenerates), or the accuser's own announced
//     round 1 is missing (an accused cannot answer what it never received).
//
// What it cannot prove: anything about point-to-point messages the
// coordinator cannot read (the accused's messages to other members), about
// messages never relayed, or about the accuser's library run itself: the
// judge shows whether the accused's messages are consistent with what was
// announced, not what the accuser's library computed. The checks a device
// makes outside tss-lib and the guard (the envelope's type against the
// content's, the cross-session replay fingerprints, which depend on the
// accuser's stored history) are not re-run here. The wire bytes carry no
// sender: the sender is Msg.From, from the signed envelope. The package does no
// input or output and keeps no state; every call is independent. It never
// panics: a panic while checking the accused's own bytes is Guilty
// ("malformed"), a panic on anyone else's values is Undecided.
package blame

import (
	"fmt"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// Msg is one tss-lib message as a recipient received it: the plaintext wire
// bytes (what tss.ParsedMessage.WireBytes returns and tss.ParseWireMessage
// reads), the sender's device id and, for a point-to-point message, the
// recipient's device id (To is "" for a broadcast).
type Msg struct {
	From, To  string
	Broadcast bool
	Wire      []byte
}

// Outcome is the judge's answer about the accused.
type Outcome int

// The outcomes.
const (
	// Clean: every check the accuser's library and guard make on the
	// accused's messages passes.
	Clean Outcome = iota + 1
	// Guilty: one of them fails; Reason says which (message type and check),
	// never a value.
	Guilty
	// Undecided: a message the judge needs is missing, depends on another
	// member's bad message, or the parameters are not supported.
	Undecided
)

func (o Outcome) String() string {
	switch o {
	case Clean:
		return "clean"
	case Guilty:
		return "guilty"
	case Undecided:
		return "undecided"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Verdict is an Outcome with a short fixed reason (empty for Clean).
type Verdict struct {
	Outcome Outcome
	Reason  string
}

func (v Verdict) String() string {
	if v.Reason == "" {
		return v.Outcome.String()
	}
	return v.Outcome.String() + ": " + v.Reason
}

// Keygen describes a keygen session. Parties are the members' tss-lib party
// ids exactly as every member builds them (partyid.New(deviceID,
// identityPub, 0), sorted with tss.SortPartyIDs); PartyID.Id is the device id.
type Keygen struct {
	EdDSA     bool
	Threshold int
	Parties   tss.SortedPartyIDs
}

// MaxMessages bounds the messages one judgement reads: every broadcast of a
// keygen of guard.MaxParties members (3 per member in ECDSA) plus the
// accused's point-to-point messages to the accuser, with room for copies.
const MaxMessages = 512

func clean() Verdict                  { return Verdict{Outcome: Clean} }
func guilty(reason string) Verdict    { return Verdict{Outcome: Guilty, Reason: reason} }
func undecided(reason string) Verdict { return Verdict{Outcome: Undecided, Reason: reason} }

// result accumulates the verdicts of the checks in the library's order: the
// first Guilty ends the judgement, an Undecided is remembered (the first
// reason wins) while the checks that do not depend on it go on, since a
// later message of the accused may still prove guilt.
type result struct {
	v Verdict
}

// add records v and reports whether the judgement is over (Guilty).
func (r *result) add(v Verdict) bool {
	switch v.Outcome {
	case Guilty:
		r.v = v
		return true
	case Undecided:
		if r.v.Outcome != Undecided {
			r.v = v
		}
	}
	return false
}

func (r *result) verdict() Verdict {
	if r.v.Outcome == 0 {
		return clean()
	}
	return r.v
}
