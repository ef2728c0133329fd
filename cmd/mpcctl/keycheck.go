package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/mpcsign/mpcsign/internal/address"
	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/identity"
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
	case identity.KeyID(k.GetPublicKey()) != k.GetId():
		return keyCheck{Error: "the key id is not the one its public key gives"}
	case agreed.Threshold < 1:
		return keyCheck{Error: "the holders attested a threshold below 1 (a key any one device signs alone)"}
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

// localAddresses are the addresses of an attested public key, computed
// here: the coordinator's copy of them counts for nothing.
func localAddresses(k *mpcv1.Key) *mpcv1.Addresses {
	if k.GetCurve() == mpcv1.Curve_CURVE_ED25519 {
		return &mpcv1.Addresses{Ed25519PublicKey: hex.EncodeToString(k.GetPublicKey())}
	}
	a := &mpcv1.Addresses{}
	if eth, err := address.Ethereum(k.GetPublicKey()); err == nil {
		a.Ethereum = eth
	}
	if btc, err := address.BitcoinP2WPKH(k.GetPublicKey(), "mainnet"); err == nil {
		a.BitcoinP2Wpkh = btc
	}
	return a
}

// checkDerived recomputes a derived key from the attested public key and
// chain code, and refuses the coordinator's copy if it differs.
func checkDerived(k *mpcv1.Key, d *mpcv1.DerivedKey) error {
	if d == nil {
		return nil
	}
	path, err := hd.ParsePath(d.GetPath())
	if err != nil {
		return err
	}
	child, err := hd.Derive(k.GetPublicKey(), k.GetChainCode(), path)
	if err != nil {
		return err
	}
	if string(child.PublicKey) != string(d.GetPublicKey()) {
		return errors.New("the coordinator's derived key is not the one the attested key and chain code give: do not use it")
	}
	d.Addresses = localAddresses(&mpcv1.Key{Curve: k.GetCurve(), PublicKey: child.PublicKey})
	return nil
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

// attestedHolders refuses to build a ceremony on a key whose holders and
// threshold the devices themselves have not attested (checked against the
// operator's roster): otherwise a coordinator could list a device of its
// own as a holder and have the operator sign it into the new committee.
func attestedHolders(st *roster.State, k *mpcv1.Key) error {
	c := checkKey(k, st)
	if c.Verified {
		return nil
	}
	if len(k.GetAttestations()) == 0 {
		return fmt.Errorf("key %s carries no holder attestations (made before they existed): its holders are the coordinator's word only, so no ceremony is signed from them. Reshare it once to the devices you know hold it: mpcctl keys reshare %s --devices A,B,C (the new holders attest it)", k.GetId(), k.GetId())
	}
	return fmt.Errorf("key %s: its holders' attestations do not check against your roster (%s): no plan is signed from the coordinator's list of holders", k.GetId(), c.Error)
}
