package roster

import mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"

// The wire forms of entries and authorizations (proto/mpc/v1), converted in
// one place for the coordinator, devices and mpcctl.

// EntryFromProto converts a wire entry.
func EntryFromProto(p *mpcv1.RosterEntry) Entry {
	e := Entry{Body: p.GetBody()}
	for _, s := range p.GetSignatures() {
		e.Signatures = append(e.Signatures, Signature{Key: s.GetKey(), Sig: s.GetSignature()})
	}
	return e
}

// EntryProto converts an entry for the wire.
func EntryProto(e Entry) *mpcv1.RosterEntry {
	return &mpcv1.RosterEntry{Body: e.Body, Signatures: signaturesProto(e.Signatures)}
}

// AuthorizationFromProto converts a wire authorization.
func AuthorizationFromProto(p *mpcv1.Authorization) Authorization {
	a := Authorization{Body: p.GetBody()}
	for _, s := range p.GetSignatures() {
		a.Signatures = append(a.Signatures, Signature{Key: s.GetKey(), Sig: s.GetSignature()})
	}
	return a
}

// AuthorizationProto converts an authorization for the wire.
func AuthorizationProto(a Authorization) *mpcv1.Authorization {
	return &mpcv1.Authorization{Body: a.Body, Signatures: signaturesProto(a.Signatures)}
}

func signaturesProto(sigs []Signature) []*mpcv1.RosterSignature {
	out := make([]*mpcv1.RosterSignature, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, &mpcv1.RosterSignature{Key: s.Key, Signature: s.Sig})
	}
	return out
}
