package resharing

import "errors"

// Errors. Every error this package returns wraps exactly one of these (match
// with errors.Is); the wrapping text says which field, attestation or device.
// No error text contains a secret: the package handles none.
var (
	// ErrMalformed: bytes or fields that break the encoding or a field rule
	// (lengths, formats, limits, canonical form), including bad arguments.
	ErrMalformed = errors.New("resharing: malformed attestation or certificate")
	// ErrBadSignature: an attestation's signature does not verify under its
	// holder's identity key.
	ErrBadSignature = errors.New("resharing: an attestation signature does not verify")
	// ErrMismatch: an attestation disagrees with another one, with the
	// certificate or with what the verifier knows (key id, curve, public key).
	ErrMismatch = errors.New("resharing: attestations disagree with each other or with the verifier's key")
	// ErrIncomplete: a member of the new committee did not attest.
	ErrIncomplete = errors.New("resharing: a member of the new committee did not attest")
	// ErrUnknownDevice: an attestation names a holder the verifier's directory
	// (its own verified roster) has no identity key for.
	ErrUnknownDevice = errors.New("resharing: attested by a device the verifier does not know")
	// ErrTestSignature: the test signature does not verify over the test
	// digest under the key (or the key derived along TestPath).
	ErrTestSignature = errors.New("resharing: the test signature does not verify")
	// ErrNoCertificate: a change was asked for without a certificate. Callers
	// pass it to Decide as certErr when the key state carries none.
	ErrNoCertificate = errors.New("resharing: no commit certificate")
)
