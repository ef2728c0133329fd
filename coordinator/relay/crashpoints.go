package relay

import (
	"fmt"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// CrashPoint names a point where a test may crash the coordinator
// (the coordinator's Options.CrashAt, Config.Crash); the product never sets it.
type CrashPoint string

// RoundCrashPoint names where a fault-injection test may kill the
// coordinator in a session: RoundCrashPoint("keygen", 2) is
// "coordinator.keygen.round-2", reached as the first envelope of round 2 of
// a key generation arrives, checked but not yet relayed to anyone. Every
// member has then sent its round-1 messages and they were relayed. Kinds
// are "keygen", "sign" and "reshare"; rounds are the envelopes' (tss-lib's)
// round numbers. The product never arms them (Config.Crash is nil).
func RoundCrashPoint(kind string, round uint32) CrashPoint {
	return CrashPoint(fmt.Sprintf("coordinator.%s.round-%d", kind, round))
}

// atRound is called for each checked envelope before it is relayed. Only
// the first envelope of a round can reach a crash point, since it kills
// the process. Echoes (round 0) have none.
func (m *Sessions) atRound(s *session, msg *mpcv1.SessionMessage) {
	if m.crash == nil || msg.GetRound() == 0 {
		return
	}
	m.crash(RoundCrashPoint(KindName(s.kind), msg.GetRound()))
}
