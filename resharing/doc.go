// Package resharing is the domain of a reshare's two-phase commit: the new
// holders' attestations, the commit certificate, and the device's apply step
// (Decide). It holds no I/O, no keys and no state; the coordinator and the
// device agent call it.
//
// # Why
//
// A reshare moves a key to a new committee under the same public key. The old
// holders must then erase their shares of the old epoch, and nothing but
// proof may make them: the coordinator is trusted for availability only, and
// a coordinator that could say "epoch e+1 is committed" on its own word could
// make every holder erase its only share. The rule is no erasure without
// proof.
//
// # The protocol this package serves
//
//  1. Each new holder writes its share of epoch e+1 durably as pending(e+1),
//     then signs an Attestation of it (Attest) with its identity key.
//  2. The coordinator has the new holders sign TestDigest(keyID, e+1, nonce)
//     with the pending shares (with a derived key for a key that signs only
//     derived keys), collects every attestation and the test signature into a
//     Certificate, and commits e+1.
//  3. A device shown the key state verifies the certificate (Verify) against
//     the key's public key from its own share and the identity keys of its
//     own verified roster, then applies Decide's Actions in one atomic
//     keystore transaction: new holders promote pending(e+1), old holders
//     erase epoch e.
//
// # Attestation encoding
//
// An Attestation is encoded as json.Marshal of the struct (field order and
// names as declared; byte strings in padded standard base64; no spaces, no
// trailing newline). That encoding is the only accepted one: DecodeAttestation
// takes at most MaxAttestationSize (16 KiB) bytes, one JSON value, no unknown
// field, and requires the input to equal the re-encoding of what it decoded,
// so a body has exactly one spelling and its hash names its content. Then:
//
//   - Version is 1.
//   - KeyID is 1..128 bytes of [A-Za-z0-9._:-]; every device id (Committee,
//     Holder) is 1..64 bytes of the same characters.
//   - Curve is "secp256k1" or "ed25519"; PublicKey and ShareCommitment are 33
//     bytes (secp256k1, compressed) or 32 bytes (Ed25519). Their lengths alone
//     are checked here; the public key is compared with the verifier's own,
//     and the share commitment is informational.
//   - Epoch is any epoch: 0 is a keygen's (its members attest the key they
//     made, so that wallets can check it against the roster), 1 and later a
//     reshare's. A certificate is always for epoch 1 or later.
//   - ChainCode is empty or 32 bytes, and empty on an Ed25519 key.
//   - 0 <= Threshold < len(Committee) <= MaxCommittee (64); Committee is
//     sorted ascending (byte order) with no repeats; Holder is in Committee.
//
// EncodeAttestation applies the same rules before it encodes. A holder signs
// AttestationMessage(body) = "mpcsign/v1/reshare-attestation\x00" ||
// SHA-256(body) with Ed25519.
//
// # Test digest
//
//	TestDigest(keyID, epoch, nonce) = SHA-256("mpcsign/v1/reshare-test-signature\x00" ||
//	                                          keyID || 0x00 || uint64be(epoch) || nonce)
//
// with a valid key id, epoch >= 1 and a 16..64-byte nonce. The label keeps it
// apart from any transaction hash, the key id and epoch bind it to one reshare.
//
// # Certificate encoding
//
// EncodeCertificate writes canonical JSON
//
//	{"v":1,"key_id":..,"epoch":..,"attestations":[{"body":b64,"signature":b64},..],
//	 "test_nonce":b64,"test_path":..(omitted when empty),"test_signature":b64}
//
// of at most MaxCertificateSize (256 KiB). DecodeCertificate accepts exactly
// that: the same strict, canonical decoding as attestations, version 1, and
// the shape rules: a valid key id, epoch >= 1, 1..64 attestations each with a
// 1..16 KiB body and a 64-byte signature, a 16..64-byte nonce, a test path
// that is empty or parses with hd.ParsePath (non-hardened), and a 64-byte
// test signature. Decoding verifies nothing else.
//
// Every attestation repeats the committee, so a certificate grows with the
// square of the committee: 64 members with 32-character device ids (the
// form identity.DeviceID produces) fit in 256 KiB; longer ids may not, and
// EncodeCertificate then fails, which a coordinator sees before it commits.
//
// # Verify
//
// Certificate.Verify(keyID, curve, pub, dir) succeeds only when all of these
// hold, checked in this order (the first failure is returned):
//
//  1. The certificate is not nil (else ErrNoCertificate), dir is not nil,
//     keyID, curve and the length of pub are valid, and the certificate has
//     the shape DecodeCertificate requires (else ErrMalformed).
//  2. c.KeyID == keyID (else ErrMismatch).
//  3. For each attestation, in order: its body decodes (DecodeAttestation,
//     else ErrMalformed); its holder has not attested before (else
//     ErrMalformed); dir knows the holder (else ErrUnknownDevice) with a
//     32-byte key; the signature verifies under that key (else
//     ErrBadSignature); and only then, so that a mismatch is always a
//     statement its holder signed, its KeyID, Epoch, Curve and PublicKey equal
//     c.KeyID, c.Epoch, curve and pub, and its ChainCode, Threshold and
//     Committee equal those of the first attestation (else ErrMismatch).
//  4. Every member of the committee attested (else ErrIncomplete). With 3 and
//     the holder-in-committee rule, the holders are exactly the committee.
//  5. The test signature verifies over TestDigest(keyID, c.Epoch,
//     c.TestNonce) (else ErrTestSignature). Ed25519: crypto/ed25519 under pub;
//     a test path is ErrMalformed. secp256k1: r||s, each in [1, N-1] (s high
//     or low), verified with decred's secp256k1 ECDSA under pub (which must be
//     a curve point, else ErrMalformed) or, with a test path, under
//     hd.Derive(pub, chain code, path).PublicKey, where the chain code is the
//     one every new holder attested (a path without one is ErrMalformed).
//
// It returns the agreed content with Holder and ShareCommitment empty. Verify
// takes the public key from the caller because the verifier's own share is
// the only source of it the coordinator cannot change. Two things stay with
// the caller: the directory decides who counts as a device (it should answer
// only for devices active on the verifier's verified roster), and Verify does
// not know the operator-signed reshare plan, so a caller that has it compares
// the returned Committee and Threshold with it.
//
// # Decide
//
// Decide(recs, st, certErr) turns a key state into the device's actions on its
// records of the key, with top the highest committed record's epoch:
//
//   - Forward (no committed record, or st.Committed > top): the wanted
//     actions are Promote pending(st.Committed) if present and Erase every
//     record below st.Committed, pending or committed. If there are none, the
//     result is empty (no change, no refusal). Otherwise they are returned
//     only when certErr is nil and st.Certificate is not nil and names
//     st.KeyID and st.Committed (a genuine certificate of another epoch
//     proves nothing about this one); else the result is only Refused, a
//     message naming the epoch and why.
//   - Behind or equal (st.Committed <= top): nothing is promoted; every record
//     below top is erased, with no certificate needed: the device's own
//     committed record at top already proves that epoch stored and signing,
//     so anything older is dead. That includes a pending record between
//     st.Committed and top (the coordinator is behind; the record is still
//     below the device's own committed epoch). Nothing at or above top is
//     erased. This rests on an invariant of the caller's store: a record
//     becomes committed only by keygen or by applying a forward step that
//     Decide allowed.
//   - Pending records above both st.Committed and top are never touched: an
//     attempt may be in flight, or the coordinator may falsely claim it was
//     abandoned after old holders already erased on its certificate. They go
//     when a certificate of a later epoch arrives.
//
// Promote and Erase are ascending without repeats. Applying the actions and
// then deciding the same state again gives no actions: the records after a
// forward step have top == st.Committed and nothing below it. The caller
// applies the actions in one atomic transaction, after checking the records
// still are what it passed.
package resharing
