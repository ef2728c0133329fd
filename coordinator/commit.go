package coordinator

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/resharing"
)

func attProtos(rs []AttRecord) []*mpcv1.KeyAttestation {
	out := make([]*mpcv1.KeyAttestation, 0, len(rs))
	for _, r := range rs {
		out = append(out, &mpcv1.KeyAttestation{Body: r.Body, Signature: r.Sig})
	}
	return out
}

func attRecords(sas []resharing.SignedAttestation) []AttRecord {
	out := make([]AttRecord, 0, len(sas))
	for _, a := range sas {
		out = append(out, AttRecord{Body: a.Body, Sig: a.Signature})
	}
	return out
}

// storeDirectory answers identity keys from the coordinator's own device
// records. The coordinator's checks are hygiene only (a bad attestation is
// blamed on its sender at once); each device checks the certificate against
// its own verified roster.
type storeDirectory struct{ st Store }

func (d storeDirectory) IdentityKey(id string) ([]byte, bool) {
	dev, err := d.st.GetDevice(id)
	return dev.IdentityPublicKey, err == nil
}

// attestations collects and checks every holder's attestation of what a
// keygen or reshare made: signed by the holder, all for this key, epoch,
// public key, chain code, threshold and exactly this committee. A holder
// whose statement is missing or wrong is the culprit.
func (s *Server) attestations(kind, keyID, curve string, epoch uint64, pub, chain []byte, t int, holders []Device, results map[string]*mpcv1.SessionResult) ([]resharing.SignedAttestation, error) {
	committee := slices.Sorted(slices.Values(ids(holders)))
	var out []resharing.SignedAttestation
	for _, d := range holders {
		blame := func(why string) error {
			return &SessionError{Kind: kind, Reason: "a holder's attestation " + why, Culprits: []string{d.Name}, Blame: BlameProven, CulpritIDs: []string{d.ID}}
		}
		p := results[d.ID].GetAttestation()
		if p == nil {
			return nil, blame("is missing")
		}
		a, err := resharing.DecodeAttestation(p.GetBody())
		switch {
		case err != nil:
			return nil, blame("does not decode")
		case a.Holder != d.ID || !ed25519.Verify(d.IdentityPublicKey, resharing.AttestationMessage(p.GetBody()), p.GetSignature()):
			return nil, blame("is not signed by it")
		case a.KeyID != keyID || a.Curve != curve || a.Epoch != epoch || !bytes.Equal(a.PublicKey, pub) || !bytes.Equal(a.ChainCode, chain) ||
			a.Threshold != t || !slices.Equal(a.Committee, committee):
			return nil, blame("states another key, epoch or committee")
		}
		out = append(out, resharing.SignedAttestation{Body: p.GetBody(), Signature: p.GetSignature()})
	}
	if _, err := resharing.VerifyAttestations(keyID, curve, epoch, pub, out, storeDirectory{s.store}); err != nil {
		return nil, fmt.Errorf("coordinator: the holders' attestations: %w", err)
	}
	return out, nil
}

// certificate builds and checks the commit certificate of a reshare: the
// new holders' attestations and the test signature made with their pending
// shares. It is checked the way devices check it, before the commit point.
func (s *Server) certificate(k Key, epoch uint64, atts []resharing.SignedAttestation, nonce []byte, path string, sig *signature) ([]byte, error) {
	c := &resharing.Certificate{KeyID: k.ID, Epoch: epoch, Attestations: atts, TestNonce: nonce, TestPath: path}
	if sig.ed != nil {
		c.TestSignature = sig.ed
	} else {
		c.TestSignature = slices.Concat(sig.ecdsa.R[:], sig.ecdsa.S[:])
	}
	if _, err := c.Verify(k.ID, rosterCurve(k), k.PublicKey, storeDirectory{s.store}); err != nil {
		return nil, fmt.Errorf("coordinator: the commit certificate does not verify: %w", err)
	}
	b, err := resharing.EncodeCertificate(c)
	if err != nil {
		return nil, errors.New("coordinator: the commit certificate is too large for this committee")
	}
	return b, nil
}
