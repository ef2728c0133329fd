package coordinator

import (
	"time"

	"github.com/mpcsign/mpcsign/coordinator/relay"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// The device links and the sessions relayed between them live in package
// relay; these names let the coordinator's code (and its callers) read as
// before.
type (
	// SessionError is a protocol session that ended without a result
	// (relay.SessionError).
	SessionError = relay.SessionError
	// PolicyRefusal is a device that refused a session under its approval
	// policy (relay.PolicyRefusal).
	PolicyRefusal = relay.PolicyRefusal
	// Blame is what a failed session's blame rests on (relay.Blame).
	Blame = relay.Blame
	// RelayFunc lets fault-injection tests stand between the coordinator
	// and a recipient (relay.RelayFunc).
	RelayFunc = relay.RelayFunc
	// CrashPoint names a point where a test may crash the coordinator
	// (Options.CrashAt); the product never sets it.
	CrashPoint = relay.CrashPoint
)

// What a failed session's blame rests on (relay.Blame).
const (
	BlameProven      = relay.BlameProven
	BlameAccuserLied = relay.BlameAccuserLied
	BlameSuspected   = relay.BlameSuspected
)

// RoundCrashPoint names where a fault-injection test may kill the
// coordinator in a session (relay.RoundCrashPoint): RoundCrashPoint("keygen", 2)
// is "coordinator.keygen.round-2".
func RoundCrashPoint(kind string, round uint32) CrashPoint { return relay.RoundCrashPoint(kind, round) }

func kindName(k mpcv1.SessionKind) string { return relay.KindName(k) }

// clip bounds a reason string a party sent before it is logged or returned.
func clip(s string) string { return relay.Clip(s) }

func names(ds []Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

// relayMetrics is what the relay records, on the coordinator's metrics (a
// nil *metrics records nothing).
type relayMetrics struct{ m *metrics }

func (r relayMetrics) SessionStarted(kind string) { r.m.sessionStarted(kind) }

func (r relayMetrics) SessionEnded(kind string, ok bool, ctxErr error, took time.Duration) {
	r.m.sessionEnded(kind, ok, ctxErr, took)
}

func (r relayMetrics) RoundEnded(kind string, round uint32, took time.Duration) {
	r.m.roundEnded(kind, round, took)
}

func (r relayMetrics) SessionAborted(kind string, culprits []string) {
	r.m.sessionAborted(kind, culprits)
}

func (r relayMetrics) Blamed(kind string, b Blame) { r.m.blamed(kind, b) }
