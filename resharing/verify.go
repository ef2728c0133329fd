package resharing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/mpcsign/mpcsign/internal/hd"
)

const testDigestLabel = "mpcsign/v1/reshare-test-signature\x00"

// TestDigest is the digest a reshare's test signature signs: bound to the key
// and the new epoch, labelled so it can never be a transaction hash:
//
//	SHA-256("mpcsign/v1/reshare-test-signature\x00" || keyID || 0x00 || uint64be(epoch) || nonce)
//
// keyID follows the key id rule (so it holds no 0x00), epoch is >= 1 and the
// nonce 16..64 bytes; otherwise the error wraps ErrMalformed.
func TestDigest(keyID string, epoch uint64, nonce []byte) ([]byte, error) {
	if err := checkKeyID(keyID); err != nil {
		return nil, err
	}
	if epoch < 1 {
		return nil, fmt.Errorf("%w: test digest for epoch 0 (keygen's epoch is never test-signed)", ErrMalformed)
	}
	if err := checkNonce(nonce); err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(testDigestLabel))
	h.Write([]byte(keyID))
	h.Write([]byte{0})
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], epoch)
	h.Write(e[:])
	h.Write(nonce)
	return h.Sum(nil), nil
}

// Directory gives a device id's Ed25519 identity key. It must answer from
// the verifying device's own verified roster, never from the coordinator.
type Directory interface {
	IdentityKey(deviceID string) ([]byte, bool)
}

// Verify checks c for key keyID on curve with public key pub, which the
// verifying device knows from its own share (never from the coordinator),
// and returns the content every new holder attested to, with Holder and
// ShareCommitment (which differ per holder) left empty. See the package
// documentation for the exact checks and their order.
func (c *Certificate) Verify(keyID, curve string, pub []byte, dir Directory) (Attestation, error) {
	if c == nil {
		return Attestation{}, ErrNoCertificate
	}
	if dir == nil {
		return Attestation{}, fmt.Errorf("%w: no directory", ErrMalformed)
	}
	if err := checkKeyID(keyID); err != nil {
		return Attestation{}, err
	}
	pointLen, err := curvePointLen(curve)
	if err != nil {
		return Attestation{}, err
	}
	if len(pub) != pointLen {
		return Attestation{}, fmt.Errorf("%w: verifier's %s public key is %d bytes, want %d", ErrMalformed, curve, len(pub), pointLen)
	}
	path, err := c.parseShape()
	if err != nil {
		return Attestation{}, err
	}
	if c.KeyID != keyID {
		return Attestation{}, fmt.Errorf("%w: certificate is for key %q, not %q", ErrMismatch, c.KeyID, keyID)
	}

	agreed, err := c.verifyAttestations(curve, pub, dir)
	if err != nil {
		return Attestation{}, err
	}
	if err := c.verifyTestSignature(curve, pub, agreed.ChainCode, path); err != nil {
		return Attestation{}, err
	}
	agreed.Holder, agreed.ShareCommitment = "", nil
	return agreed, nil
}

// verifyAttestations checks every attestation and that each committee
// member attested exactly once. A signature is checked before the content, so
// ErrMismatch always points at a statement its holder really signed.
func (c *Certificate) verifyAttestations(curve string, pub []byte, dir Directory) (Attestation, error) {
	var first Attestation
	seen := make(map[string]int, len(c.Attestations))
	for i, sa := range c.Attestations {
		a, err := DecodeAttestation(sa.Body)
		if err != nil {
			return Attestation{}, fmt.Errorf("attestation %d: %w", i, err)
		}
		if j, dup := seen[a.Holder]; dup {
			return Attestation{}, fmt.Errorf("%w: holder %s attested twice (attestations %d and %d)", ErrMalformed, a.Holder, j, i)
		}
		seen[a.Holder] = i
		if err := checkSignature(dir, a.Holder, i, sa); err != nil {
			return Attestation{}, err
		}

		switch {
		case a.KeyID != c.KeyID:
			return Attestation{}, fmt.Errorf("%w: attestation %d (holder %s) is for key %q, the certificate for %q", ErrMismatch, i, a.Holder, a.KeyID, c.KeyID)
		case a.Epoch != c.Epoch:
			return Attestation{}, fmt.Errorf("%w: attestation %d (holder %s) is for epoch %d, the certificate for %d", ErrMismatch, i, a.Holder, a.Epoch, c.Epoch)
		case a.Curve != curve:
			return Attestation{}, fmt.Errorf("%w: attestation %d (holder %s) is for curve %s, the key is %s", ErrMismatch, i, a.Holder, a.Curve, curve)
		case !bytes.Equal(a.PublicKey, pub):
			return Attestation{}, fmt.Errorf("%w: attestation %d (holder %s) names another public key than this device's share", ErrMismatch, i, a.Holder)
		}
		if i == 0 {
			first = a
		} else if field, ok := sameContent(&first, &a); !ok {
			return Attestation{}, fmt.Errorf("%w: attestation %d (holder %s) has another %s than attestation 0 (holder %s)", ErrMismatch, i, a.Holder, field, first.Holder)
		}
	}
	for _, id := range first.Committee {
		if _, ok := seen[id]; !ok {
			return Attestation{}, fmt.Errorf("%w: %s (%d of %d members attested)", ErrIncomplete, id, len(seen), len(first.Committee))
		}
	}
	return first, nil
}

// checkSignature verifies attestation i by holder under the holder's
// identity key from dir.
func checkSignature(dir Directory, holder string, i int, sa SignedAttestation) error {
	key, ok := dir.IdentityKey(holder)
	if !ok || len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: holder %s of attestation %d (known %t, identity key of %d bytes)", ErrUnknownDevice, holder, i, ok, len(key))
	}
	if len(sa.Signature) != ed25519.SignatureSize || !ed25519.Verify(key, AttestationMessage(sa.Body), sa.Signature) {
		return fmt.Errorf("%w: attestation %d by holder %s", ErrBadSignature, i, holder)
	}
	return nil
}

// verifyTestSignature checks the test signature over TestDigest(c.KeyID,
// c.Epoch, c.TestNonce) under pub, or with a path under the key derived
// from (pub, chainCode) along it.
func (c *Certificate) verifyTestSignature(curve string, pub, chainCode []byte, path []uint32) error {
	digest, err := TestDigest(c.KeyID, c.Epoch, c.TestNonce)
	if err != nil {
		return err
	}
	if curve == CurveEd25519 {
		if path != nil {
			return fmt.Errorf("%w: test path %q on an Ed25519 key (derivation is secp256k1 only)", ErrMalformed, c.TestPath)
		}
		if !ed25519.Verify(pub, digest, c.TestSignature) {
			return fmt.Errorf("%w: Ed25519 signature over the test digest of epoch %d", ErrTestSignature, c.Epoch)
		}
		return nil
	}

	pk, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		return fmt.Errorf("%w: verifier's public key: %v", ErrMalformed, err)
	}
	if path != nil {
		if len(chainCode) == 0 {
			return fmt.Errorf("%w: test path %q but the key has no chain code", ErrMalformed, c.TestPath)
		}
		d, err := hd.Derive(pub, chainCode, path)
		if err != nil {
			// Only BIP32's invalid child (probability below 2^-127 a step):
			// there is no key the signature could verify under.
			return fmt.Errorf("%w: derive along test path %q: %v", ErrTestSignature, c.TestPath, err)
		}
		if pk, err = secp256k1.ParsePubKey(d.PublicKey); err != nil {
			return fmt.Errorf("%w: derived key: %v", ErrTestSignature, err)
		}
	}
	var r, s secp256k1.ModNScalar
	if overflow := r.SetByteSlice(c.TestSignature[:32]); overflow || r.IsZero() {
		return fmt.Errorf("%w: r is zero or not below the group order", ErrTestSignature)
	}
	if overflow := s.SetByteSlice(c.TestSignature[32:]); overflow || s.IsZero() {
		return fmt.Errorf("%w: s is zero or not below the group order", ErrTestSignature)
	}
	if !ecdsa.NewSignature(&r, &s).Verify(digest, pk) {
		return fmt.Errorf("%w: ECDSA signature over the test digest of epoch %d", ErrTestSignature, c.Epoch)
	}
	return nil
}

// VerifyAttestations checks a set of attestations of epoch of key keyID
// without a test signature: each is signed by its holder's identity key
// from dir, they all state the same key, curve, epoch, public key (pub, which
// the verifier knows from elsewhere), chain code, threshold and committee,
// and every committee member attested once. A keygen's members attest
// epoch 0 this way, and a wallet (mpcctl keys get) checks a key's holders
// with it against its own verified roster.
func VerifyAttestations(keyID, curve string, epoch uint64, pub []byte, atts []SignedAttestation, dir Directory) (Attestation, error) {
	if dir == nil {
		return Attestation{}, fmt.Errorf("%w: no directory", ErrMalformed)
	}
	if err := checkKeyID(keyID); err != nil {
		return Attestation{}, err
	}
	pointLen, err := curvePointLen(curve)
	if err != nil {
		return Attestation{}, err
	}
	if len(pub) != pointLen {
		return Attestation{}, fmt.Errorf("%w: verifier's %s public key is %d bytes, want %d", ErrMalformed, curve, len(pub), pointLen)
	}
	if len(atts) == 0 {
		return Attestation{}, fmt.Errorf("%w: no attestation", ErrIncomplete)
	}
	c := &Certificate{KeyID: keyID, Epoch: epoch, Attestations: atts}
	agreed, err := c.verifyAttestations(curve, pub, dir)
	if err != nil {
		return Attestation{}, err
	}
	agreed.Holder, agreed.ShareCommitment = "", nil
	return agreed, nil
}
