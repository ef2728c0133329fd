package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/resharing"
)

// keyCheck is what the holders' own signatures say about a key, checked on
// the operator's machine against the roster verified from its pin: the
// coordinator's word about a key's public key and committee counts for
// nothing here.
type keyCheck struct {
	Verified bool     `json:"verified"`
	By       []string `json:"attested_by,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// rosterDevices answers identity keys from a verified roster.
type rosterDevices struct{ st *roster.State }

func (d rosterDevices) IdentityKey(id string) ([]byte, bool) {
	dev, ok := d.st.Device(id)
	return dev.IdentityKey, ok
}

// checkKey verifies every holder's attestation of k's current epoch: each
// is signed by a device on the verified roster, they all state k's id,
// curve, public key, chain code, threshold and exactly its holders, and
// every holder attested.
func checkKey(k *mpcv1.Key, st *roster.State) keyCheck {
	curve := resharing.CurveSecp256k1
	if k.GetCurve() == mpcv1.Curve_CURVE_ED25519 {
		curve = resharing.CurveEd25519
	}
	var atts []resharing.SignedAttestation
	for _, a := range k.GetAttestations() {
		atts = append(atts, resharing.SignedAttestation{Body: a.GetBody(), Signature: a.GetSignature()})
	}
	agreed, err := resharing.VerifyAttestations(k.GetId(), curve, k.GetEpoch(), k.GetPublicKey(), atts, rosterDevices{st})
	if err != nil {
		return keyCheck{Error: err.Error()}
	}
	var holders []string
	for _, h := range k.GetHolders() {
		holders = append(holders, h.GetDeviceId())
	}
	slices.Sort(holders)
	switch {
	case !slices.Equal(agreed.Committee, holders):
		return keyCheck{Error: "the holders attested another committee than the coordinator lists"}
	case agreed.Threshold != int(k.GetThreshold()):
		return keyCheck{Error: "the holders attested another threshold than the coordinator lists"}
	case string(agreed.ChainCode) != string(k.GetChainCode()):
		return keyCheck{Error: "the holders attested another chain code than the coordinator lists"}
	}
	out := keyCheck{Verified: true}
	for _, id := range agreed.Committee {
		d, _ := st.Device(id)
		out.By = append(out.By, d.Name)
	}
	slices.Sort(out.By)
	return out
}

// keyCheckFor checks k when this machine pins a roster; ok is false when
// it pins none (nothing to check against).
func keyCheckFor(ctx context.Context, c mpcv1.AdminServiceClient, dir string, k *mpcv1.Key) (keyCheck, bool, error) {
	if _, err := loadPin(dir); errors.Is(err, errNoPin) {
		return keyCheck{}, false, nil
	}
	st, _, err := verifiedRoster(ctx, c, dir)
	if err != nil {
		return keyCheck{}, true, fmt.Errorf("verify the roster before checking the key: %w", err)
	}
	return checkKey(k, st), true, nil
}
