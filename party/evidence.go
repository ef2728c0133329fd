package party

import (
	"strings"

	"github.com/mpcsign/mpcsign/internal/envelope"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// backAccusation adds this device's evidence to a failure that blames other
// members after its checks of what they sent failed: its ephemeral key of
// the aborted session, signed, so that the coordinator can open their
// point-to-point messages to it and re-run the checks instead of believing
// it. Only in keygen and signing (envelope.RevealAllowed says why never in
// a reshare), and not for a timeout or a replay, which no message of this
// session proves (the coordinator would find every check passing and
// blame this device). Never after this device sent its echo: the others
// may then complete the session, and a keygen's shares must not be opened.
func (s *session) backAccusation(f *mpcv1.SessionFailure) {
	if len(f.GetCulprits()) == 0 || s.agreed == nil || s.echoed || !envelope.RevealAllowed(uint32(s.start.GetKind())) ||
		strings.HasPrefix(f.GetReason(), timeoutReason) || strings.HasPrefix(f.GetReason(), replayReason) {
		return
	}
	key := s.agreed.Reveal()
	f.EvidenceKey = key
	f.EvidenceSignature = envelope.SignComplaint(s.deps.identity, s.agreed.ID, f.GetCulprits(), key)
}
