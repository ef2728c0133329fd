package party

import (
	"fmt"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Crash points at the round boundaries of a protocol, for fault-injection
// tests (e2e/fault_test.go). RoundCrashPoint("sign", 3) is
// "party.sign.round-3": the device dies as it is about to send its first
// message of round 3 of a signing session, having finished round 2; nothing
// of round 3 has left it. Kinds are "keygen", "sign" and "reshare". Like the
// reshare points, they fire only when Options.CrashAt is set, which only
// MPCSIGN_TEST_CRASH_AT does.
func RoundCrashPoint(kind string, round uint32) string {
	return fmt.Sprintf("party.%s.round-%d", kind, round)
}

// crashHook is the optional capability of a session's share store to reach
// the agent's crash hook; nil when no crash point is armed.
type crashHook interface{ crashHook() func(point string) }

func (s shareStore) crashHook() func(string) { return s.crash }

// atRound is called before each outgoing protocol message is sealed; only
// the first message of a round can reach a crash point, since it kills the
// process.
func (r *runner) atRound(msgType string) {
	h, ok := r.s.deps.shares.(crashHook)
	if !ok {
		return
	}
	crash := h.crashHook()
	if crash == nil {
		return
	}
	if round := roundOf(msgType); round > 0 {
		crash(RoundCrashPoint(crashKind(r.s.start.GetKind()), round))
	}
}

func crashKind(k mpcv1.SessionKind) string {
	switch k {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		return "keygen"
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		return "sign"
	case mpcv1.SessionKind_SESSION_KIND_RESHARE:
		return "reshare"
	}
	return "unknown"
}
