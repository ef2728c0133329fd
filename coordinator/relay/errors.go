package relay

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Blame is what a failed session's blame rests on. Strikes and pauses
// follow only proven blame (BlameProven, BlameAccuserLied); a suspected
// device is only asked last, and struck when it is common to every failed
// attempt of a signature that then succeeded without it (the coordinator's
// signWithKey).
type Blame string

const (
	// BlameProven: the coordinator saw the fault itself (an envelope that
	// does not verify, a flood, an invalid join) or re-ran the failed check
	// on the accused's signed messages with the accuser's evidence.
	BlameProven Blame = "proven"
	// BlameAccuserLied: the accuser's evidence cleared every member it
	// accused; the accuser is the culprit.
	BlameAccuserLied Blame = "accuser-lied"
	// BlameSuspected: named without evidence the coordinator could check
	// (a signing check it cannot re-run, a reshare, an older device), or an
	// availability fault (a timeout, a disconnect) that says who stopped
	// but not why.
	BlameSuspected Blame = "suspected"
)

// Strikes reports whether blame of this kind counts a strike at once.
func (b Blame) Strikes() bool { return b == BlameProven || b == BlameAccuserLied }

// Describe is how a session error names its blame for the caller.
func (b Blame) Describe() string {
	switch b {
	case BlameProven:
		return "proven"
	case BlameAccuserLied:
		return "accuser lied: its evidence cleared the devices it accused"
	case BlameSuspected:
		return "suspected, not proven"
	}
	return ""
}

// SessionError is a protocol session that ended without a result. Culprits
// names the devices blamed by the protocol (or that did not answer).
type SessionError struct {
	Kind     string
	Reason   string
	Culprits []string // device names
	// Blame is what the blame of Culprits rests on (evidence.go).
	Blame Blame
	// Unavailable: the culprits are not at fault (a device shutting down);
	// other devices may be asked, but no strike is counted.
	Unavailable bool
	// CulpritIDs are the culprits' device ids, when a session named them.
	CulpritIDs []string
	// Accuser made the unproven accusation of a suspected blame.
	Accuser string
}

func (e *SessionError) Error() string {
	s := fmt.Sprintf("%s session failed: %s", e.Kind, e.Reason)
	if len(e.Culprits) > 0 {
		if d := e.Blame.Describe(); d != "" {
			s += " [" + d + "]"
		}
		s += "; blamed: " + strings.Join(e.Culprits, ", ")
	}
	return s
}

// PolicyRefusal is a device that refused a session under its approval policy.
type PolicyRefusal struct {
	Device   string // name, for the caller
	DeviceID string
	Reason   string
}

func (e *PolicyRefusal) Error() string {
	return fmt.Sprintf("device %s refused: %s", e.Device, e.Reason)
}

// unavailableError is a link or a device that is gone; its text is safe to
// show a client, with the gRPC code Unavailable (the coordinator's
// clientError, which this package cannot import).
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

// GRPCStatus is how the coordinator's error mapping (and gRPC) sees it.
func (e *unavailableError) GRPCStatus() *status.Status { return status.New(codes.Unavailable, e.msg) }

func unavailable(format string, a ...any) error {
	return &unavailableError{fmt.Sprintf(format, a...)}
}
