package resharing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mpcsign/mpcsign/internal/hd"
)

// Certificate limits.
const (
	// CertificateVersion is the "v" of an encoded certificate.
	CertificateVersion = 1
	// MaxCertificateSize bounds an encoded certificate.
	MaxCertificateSize = 256 << 10
	// MinTestNonce and MaxTestNonce bound Certificate.TestNonce.
	MinTestNonce = 16
	MaxTestNonce = 64
)

// Certificate proves that epoch Epoch of key KeyID was stored by every new
// holder and signs.
type Certificate struct {
	KeyID        string
	Epoch        uint64
	Attestations []SignedAttestation
	TestNonce    []byte
	// TestPath is "" or a BIP32 non-hardened path (hd.ParsePath): a key
	// that signs only derived keys signs its test digest with the key
	// derived along it (secp256k1 only).
	TestPath string
	// TestSignature: secp256k1 r||s (64 bytes, any s); Ed25519 the 64-byte
	// signature. The message signed is the test digest itself.
	TestSignature []byte
}

// certWire is the encoded form of a Certificate.
type certWire struct {
	Version       int               `json:"v"`
	KeyID         string            `json:"key_id"`
	Epoch         uint64            `json:"epoch"`
	Attestations  []attestationWire `json:"attestations"`
	TestNonce     []byte            `json:"test_nonce"`
	TestPath      string            `json:"test_path,omitempty"`
	TestSignature []byte            `json:"test_signature"`
}

type attestationWire struct {
	Body      []byte `json:"body"`
	Signature []byte `json:"signature"`
}

// EncodeCertificate checks c's structure (Certificate.Verify checks the
// rest) and encodes it as canonical JSON of at most MaxCertificateSize
// bytes. Errors wrap ErrMalformed.
func EncodeCertificate(c *Certificate) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil certificate", ErrMalformed)
	}
	if err := c.checkShape(); err != nil {
		return nil, err
	}
	w := certWire{
		Version:       CertificateVersion,
		KeyID:         c.KeyID,
		Epoch:         c.Epoch,
		Attestations:  make([]attestationWire, len(c.Attestations)),
		TestNonce:     c.TestNonce,
		TestPath:      c.TestPath,
		TestSignature: c.TestSignature,
	}
	for i, a := range c.Attestations {
		w.Attestations[i] = attestationWire(a)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
	}
	if len(b) > MaxCertificateSize {
		return nil, fmt.Errorf("%w: certificate is %d bytes, more than %d", ErrMalformed, len(b), MaxCertificateSize)
	}
	return b, nil
}

// DecodeCertificate decodes what EncodeCertificate made and nothing else:
// at most MaxCertificateSize bytes, one JSON object, no unknown fields,
// bytes equal to their re-encoding, version 1, and the structural rules
// EncodeCertificate checks. It does not verify anything: call Verify.
// Errors wrap ErrMalformed.
func DecodeCertificate(raw []byte) (*Certificate, error) {
	var w certWire
	if err := decodeCanonical(raw, MaxCertificateSize, "certificate", &w); err != nil {
		return nil, err
	}
	if w.Version != CertificateVersion {
		return nil, fmt.Errorf("%w: certificate version %d, want %d", ErrMalformed, w.Version, CertificateVersion)
	}
	c := &Certificate{
		KeyID:         w.KeyID,
		Epoch:         w.Epoch,
		Attestations:  make([]SignedAttestation, len(w.Attestations)),
		TestNonce:     w.TestNonce,
		TestPath:      w.TestPath,
		TestSignature: w.TestSignature,
	}
	for i, a := range w.Attestations {
		c.Attestations[i] = SignedAttestation(a)
	}
	if err := c.checkShape(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkShape checks what can be checked without keys: ids, sizes, counts,
// the nonce and the path.
func (c *Certificate) checkShape() error {
	_, err := c.parseShape()
	return err
}

// parseShape is checkShape that also returns the parsed test path (nil when
// TestPath is empty).
func (c *Certificate) parseShape() (path []uint32, err error) {
	if err := checkKeyID(c.KeyID); err != nil {
		return nil, err
	}
	if c.Epoch < 1 {
		return nil, fmt.Errorf("%w: certificate of epoch 0 (keygen's epoch has none)", ErrMalformed)
	}
	if n := len(c.Attestations); n == 0 || n > MaxCommittee {
		return nil, fmt.Errorf("%w: %d attestations, want 1..%d", ErrMalformed, n, MaxCommittee)
	}
	for i, a := range c.Attestations {
		if len(a.Body) == 0 || len(a.Body) > MaxAttestationSize {
			return nil, fmt.Errorf("%w: attestation %d body is %d bytes, want 1..%d", ErrMalformed, i, len(a.Body), MaxAttestationSize)
		}
		if len(a.Signature) != signatureLen {
			return nil, fmt.Errorf("%w: attestation %d signature is %d bytes, want %d", ErrMalformed, i, len(a.Signature), signatureLen)
		}
	}
	if err := checkNonce(c.TestNonce); err != nil {
		return nil, err
	}
	if c.TestPath != "" {
		if path, err = hd.ParsePath(c.TestPath); err != nil {
			return nil, fmt.Errorf("%w: test path: %v", ErrMalformed, err)
		}
	}
	if len(c.TestSignature) != signatureLen {
		return nil, fmt.Errorf("%w: test signature is %d bytes, want %d", ErrMalformed, len(c.TestSignature), signatureLen)
	}
	return path, nil
}

func checkNonce(nonce []byte) error {
	if len(nonce) < MinTestNonce || len(nonce) > MaxTestNonce {
		return fmt.Errorf("%w: test nonce is %d bytes, want %d..%d", ErrMalformed, len(nonce), MinTestNonce, MaxTestNonce)
	}
	return nil
}

// sameContent reports whether b agrees with a on ChainCode, Threshold and
// Committee, and names the first field that differs. (KeyID, Curve, Epoch
// and PublicKey are compared with the certificate and the verifier's own
// key for every attestation, so they agree too.)
func sameContent(a, b *Attestation) (string, bool) {
	switch {
	case !bytes.Equal(a.ChainCode, b.ChainCode):
		return "chain code", false
	case a.Threshold != b.Threshold:
		return "threshold", false
	case !slices.Equal(a.Committee, b.Committee):
		return "committee", false
	}
	return "", true
}
