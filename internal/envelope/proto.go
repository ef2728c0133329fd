package envelope

import mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"

// StartParams is the parameters of a session as announced by SessionStart.
func StartParams(st *mpcv1.SessionStart) Params {
	p := Params{
		Ref:            st.GetRef(),
		Kind:           uint32(st.GetKind()),
		Curve:          uint32(st.GetCurve()),
		KeyID:          st.GetKeyId(),
		Epoch:          st.GetEpoch(),
		Threshold:      st.GetThreshold(),
		Digest:         st.GetDigest(),
		NewEpoch:       st.GetNewEpoch(),
		NewThreshold:   st.GetNewThreshold(),
		OldCommittee:   st.GetOldCommittee(),
		NewCommittee:   st.GetNewCommittee(),
		Message:        st.GetMessage(),
		DerivationPath: st.GetDerivationPath(),
		ChainCode:      st.GetChainCode(),
	}
	for _, m := range st.GetParticipants() {
		p.Members = append(p.Members, Member{DeviceID: m.GetDeviceId(), IdentityKey: m.GetIdentityPublicKey()})
	}
	return p
}

// JoinFromProto converts a wire join.
func JoinFromProto(j *mpcv1.SessionJoin) Join {
	return Join{DeviceID: j.GetDeviceId(), Contribution: j.GetContribution(), EphemeralKey: j.GetEphemeralPublicKey(), Signature: j.GetSignature()}
}

// Proto converts a join for the wire.
func (j Join) Proto() *mpcv1.SessionJoin {
	return &mpcv1.SessionJoin{DeviceId: j.DeviceID, Contribution: j.Contribution, EphemeralPublicKey: j.EphemeralKey, Signature: j.Signature}
}

// FromProto converts a wire envelope.
func FromProto(m *mpcv1.SessionMessage) Envelope {
	return Envelope{
		Header:    Header{SessionID: m.GetSessionId(), From: m.GetFrom(), To: m.GetTo(), Broadcast: m.GetBroadcast(), Round: m.GetRound(), Type: m.GetType(), Seq: m.GetSeq()},
		Payload:   m.GetPayload(),
		Signature: m.GetSignature(),
	}
}

// Proto converts an envelope for the wire.
func (e Envelope) Proto() *mpcv1.SessionMessage {
	return &mpcv1.SessionMessage{SessionId: e.SessionID, From: e.From, To: e.To, Broadcast: e.Broadcast, Payload: e.Payload, Seq: e.Seq, Round: e.Round, Type: e.Type, Signature: e.Signature}
}
