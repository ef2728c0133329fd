package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// rosterDevices answers identity keys from a verified roster: of every
// device ever added, revoked ones too (a revocation reshare plans from a
// key whose committee still holds the revoked device). checkKey, which
// decides what is shown as attested, requires every member to be active.
type rosterDevices struct{ st *roster.State }

func (d rosterDevices) IdentityKey(id string) ([]byte, bool) {
	dev, ok := d.st.Device(id)
	return dev.IdentityKey, ok
}

// verifyHolders checks every holder's attestation of k's current epoch:
// each is signed by a device that was ever on the verified roster (revoked
// ones included), they all state k's id, curve, public key, chain code,
// threshold and exactly its holders, and every holder attested. It returns
// the committee the holders attested.
func verifyHolders(k *mpcv1.Key, st *roster.State) ([]string, error) {
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
		return nil, err
	}
	holders := holderIDs(k)
	switch {
	case identity.KeyID(k.GetPublicKey()) != k.GetId():
		return nil, errors.New("the key id is not the one its public key gives")
	case agreed.Threshold < 1:
		return nil, errors.New("the holders attested a threshold below 1 (a key any one device signs alone)")
	case !slices.Equal(agreed.Committee, holders):
		return nil, errors.New("the holders attested another committee than the coordinator lists")
	case agreed.Threshold != int(k.GetThreshold()):
		return nil, errors.New("the holders attested another threshold than the coordinator lists")
	case string(agreed.ChainCode) != string(k.GetChainCode()):
		return nil, errors.New("the holders attested another chain code than the coordinator lists")
	}
	return agreed.Committee, nil
}

// holderIDs are the device ids the coordinator lists as k's holders, sorted.
func holderIDs(k *mpcv1.Key) []string {
	var ids []string
	for _, h := range k.GetHolders() {
		ids = append(ids, h.GetDeviceId())
	}
	slices.Sort(ids)
	return ids
}

// checkKey is what is shown about k: verified only if verifyHolders holds
// and every holder is active on the verified roster. An attestation by a
// revoked device counts for nothing here: whoever stole it may hold its
// identity key, and its name may be another device's now. A key whose
// revocation reshare is still pending is not verified either, and says
// which holder is revoked. Attesters are named with their roster name and
// the start of their device id.
func checkKey(k *mpcv1.Key, st *roster.State) keyCheck {
	committee, err := verifyHolders(k, st)
	if err != nil {
		return keyCheck{Error: err.Error()}
	}
	var revoked []string
	for _, id := range committee {
		if !st.Active(id) {
			d, _ := st.Device(id)
			revoked = append(revoked, fmt.Sprintf("%s (revoked at roster height %d; it was named %s)", id, d.RevokedAt, d.Name))
		}
	}
	if len(revoked) > 0 {
		return keyCheck{Error: "the key is held by a device revoked on your roster: " + strings.Join(revoked, ", ") +
			"; a revoked device's attestation counts for nothing, so the key stays NOT VERIFIED until the revocation's reshare of it (which the coordinator runs by itself) completes"}
	}
	out := keyCheck{Verified: true}
	for _, id := range committee {
		d, _ := st.Device(id)
		out.By = append(out.By, attesterName(d))
	}
	slices.Sort(out.By)
	return out
}

// attesterName is a device as an attestation's signer is shown: its name
// and the start of its id, which a later device of the same name does not
// share.
func attesterName(d roster.DeviceState) string {
	id := d.ID
	if len(id) > 8 {
		id = id[:8]
	}
	return d.Name + " (" + id + ")"
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

// checkDerived recomputes the derived key at the path the operator asked
// for (requested) from the attested public key and chain code, and refuses
// the coordinator's copy if it is for another path or another key.
func checkDerived(k *mpcv1.Key, requested string, d *mpcv1.DerivedKey) error {
	path, err := samePath(requested, d)
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

// samePath refuses a derived key the coordinator sent for another path than
// the one the operator asked for (compared in canonical form: "44/60" is
// "m/44/60"). It returns the requested path, parsed.
func samePath(requested string, d *mpcv1.DerivedKey) ([]uint32, error) {
	path, err := hd.ParsePath(requested)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("the coordinator sent no derived key for path %s", hd.FormatPath(path))
	}
	if want := hd.FormatPath(path); d.GetPath() != want {
		return nil, fmt.Errorf("the coordinator sent the derived key of path %.80q, not of %s that you asked for: do not use it", d.GetPath(), want)
	}
	return path, nil
}

// checkGetKey checks a GetKey answer to a request for keyID (and the child
// at path, if not empty) against this machine's pinned roster; pinned is
// false when it pins none. An answer about another key or another path is
// an error whatever is pinned. When the key verifies, its addresses and
// its child's are replaced by ones computed here, and the child is
// recomputed from the attested key (an error if it differs).
func checkGetKey(ctx context.Context, c mpcv1.AdminServiceClient, dir, keyID, path string, resp *mpcv1.GetKeyResponse) (check keyCheck, pinned bool, err error) {
	k := resp.GetKey()
	if k.GetId() != keyID {
		return keyCheck{}, false, fmt.Errorf("asked for key %s, the coordinator answered with key %.80q: do not use its answer", keyID, k.GetId())
	}
	if path == "" {
		resp.Derived = nil // nothing was asked: nothing is shown
	} else if _, err := samePath(path, resp.GetDerived()); err != nil {
		return keyCheck{}, false, err
	}
	if check, pinned, err = keyCheckFor(ctx, c, dir, k); err != nil {
		return keyCheck{}, pinned, err
	}
	if check.Verified {
		// What is shown comes from the attested key, computed here.
		k.Addresses = localAddresses(k)
		if path != "" {
			if err := checkDerived(k, path, resp.GetDerived()); err != nil {
				return keyCheck{}, pinned, err
			}
		}
	}
	return check, pinned, nil
}

// checkCreated checks the key a keygen made against the roster st it was
// signed on: its holders' attestations (checkKey), and that it is the key
// asked for: epoch 0 of curve cv, threshold t, committee ids. When it
// verifies, its addresses are replaced by ones computed here.
func checkCreated(k *mpcv1.Key, st *roster.State, cv mpcv1.Curve, t uint32, ids []string) keyCheck {
	check := checkKey(k, st)
	if !check.Verified {
		return check
	}
	holders := holderIDs(k)
	want := slices.Sorted(slices.Values(ids))
	switch {
	case k.GetEpoch() != 0:
		return keyCheck{Error: fmt.Sprintf("the coordinator answered with a key at epoch %d, not a fresh keygen's 0", k.GetEpoch())}
	case k.GetCurve() != cv:
		return keyCheck{Error: fmt.Sprintf("the coordinator answered with a %s key, not the %s one asked for", curveName(k.GetCurve()), curveName(cv))}
	case k.GetThreshold() != t:
		return keyCheck{Error: fmt.Sprintf("the coordinator answered with a key of threshold %d, not the %d asked for", k.GetThreshold(), t)}
	case !slices.Equal(holders, want):
		return keyCheck{Error: "the coordinator answered with a key of another committee than the one asked for"}
	}
	k.Addresses = localAddresses(k)
	return check
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
//
// A holder revoked on st does not fail it: a revocation plans the reshare
// of the keys the revoked device still holds. Each ceremony requires
// what it needs to be active itself.
func attestedHolders(st *roster.State, k *mpcv1.Key) error {
	_, err := verifyHolders(k, st)
	if err == nil {
		return nil
	}
	if len(k.GetAttestations()) == 0 {
		return fmt.Errorf("key %s carries no holder attestations (made before they existed): its holders are the coordinator's word only, so no ceremony is signed from them. Reshare it once to the devices you know hold it: mpcctl keys reshare %s --devices A,B,C (the new holders attest it)", k.GetId(), k.GetId())
	}
	return fmt.Errorf("key %s: its holders' attestations do not check against your roster (%v): no plan is signed from the coordinator's list of holders", k.GetId(), err)
}
