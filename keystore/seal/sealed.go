package seal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sealed blobs: a secret sealed under a passphrase on its own, outside any
// store, with the keystore's scheme (an Argon2id key-encryption key, then
// XChaCha20-Poly1305). Key files use them (internal/keyfile).
//
// Blob format, version 1 (big-endian integers):
//
//	off  len  field
//	  0    1  format version (1)
//	  1    1  KDF id (1 = Argon2id)
//	  2    4  Argon2 time
//	  6    4  Argon2 memory (KiB)
//	 10    1  Argon2 threads
//	 11   16  salt
//	 27   16  key check: SHA-256(blobCheckDomain || KEK), first 16 bytes
//	 43   24  XChaCha20-Poly1305 nonce
//	 67    -  ciphertext+tag (at least 16 bytes)
//
// The KEK is Argon2id(passphrase, salt, params) and is the AEAD key. The
// associated data is blobDomain || bytes [0, 27) of the blob (version, KDF
// id and parameters, salt) || the caller's AD; the prefix is fixed-length, so
// the concatenation is unambiguous.
//
// The key check tells a wrong passphrase (ErrWrongPassphrase) from a damaged
// blob or a wrong AD (ErrTampered). It costs an attacker nothing: the
// ciphertext is as good a test of a guess, and each guess still costs one
// Argon2id run. A blob whose salt or KDF parameters were altered derives
// another KEK, so it reads as a wrong passphrase: without the passphrase the
// two cannot be told apart.
const (
	blobVersion1 = 1
	kdfArgon2id  = 1 // the KDF id byte
	saltSize     = 16

	blobAuthLen   = 1 + 1 + 4 + 4 + 1 + saltSize
	blobCheckSize = 16
	blobHeaderLen = blobAuthLen + blobCheckSize + chacha20poly1305.NonceSizeX
	blobMinSize   = blobHeaderLen + chacha20poly1305.Overhead

	blobDomain      = "mpcsign/keystore/v1/sealed-blob\x00"
	blobCheckDomain = "mpcsign/keystore/v1/sealed-blob-key-check\x00"
)

// SealBlob encrypts plaintext under a key derived from pass with the Argon2id
// parameters kdf (zero means DefaultKDF()), binding it to ad, which the
// caller must give again to OpenBlob. It returns ErrNoPassphrase for an empty
// passphrase and an error for parameters out of bounds. The blob holds no
// secret in clear; the caller still owns (and may wipe) plaintext.
func SealBlob(pass Passphrase, kdf KDFParams, ad, plaintext []byte) ([]byte, error) {
	if pass.IsZero() {
		return nil, ErrNoPassphrase
	}
	if kdf.IsZero() {
		kdf = DefaultKDF()
	}
	if err := kdf.Validate(); err != nil {
		return nil, err
	}
	out := make([]byte, blobHeaderLen, blobMinSize+len(plaintext))
	out[0] = blobVersion1
	out[1] = kdfArgon2id
	binary.BigEndian.PutUint32(out[2:], kdf.Time)
	binary.BigEndian.PutUint32(out[6:], kdf.MemoryKiB)
	out[10] = kdf.Threads
	salt := out[11:blobAuthLen]
	rand.Read(salt)
	nonce := out[blobAuthLen+blobCheckSize : blobHeaderLen]
	rand.Read(nonce)

	kek, err := DeriveKEK(pass, salt, kdf)
	if err != nil {
		return nil, err
	}
	defer wipe(kek)
	check := blobKeyCheck(kek)
	copy(out[blobAuthLen:], check[:])
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, fmt.Errorf("keystore: seal blob: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, blobAD(out[:blobAuthLen], ad)), nil
}

// OpenBlob decrypts a blob made by SealBlob with the same ad. It returns
// ErrNoPassphrase for an empty passphrase, ErrWrongPassphrase when pass is
// not the one the blob was sealed with (or the blob's salt or KDF parameters
// were changed), and an error wrapping ErrTampered for any other damage: a
// malformed or truncated blob, KDF parameters out of bounds, an altered
// ciphertext, or another ad. It never panics, whatever the bytes. Errors
// never contain the blob's bytes. The returned plaintext is never nil; the
// caller should wipe it.
//
// The blob's KDF parameters decide the cost of OpenBlob, within the bounds
// of KDFParams.Validate (at most 4 GiB and 64 passes): open blobs only from
// places the operator controls.
func OpenBlob(pass Passphrase, ad, blob []byte) ([]byte, error) {
	if pass.IsZero() {
		return nil, ErrNoPassphrase
	}
	kdf, err := parseBlob(blob)
	if err != nil {
		return nil, err
	}
	salt := blob[11:blobAuthLen]
	kek, err := DeriveKEK(pass, salt, kdf)
	if err != nil {
		return nil, err
	}
	defer wipe(kek)
	check := blobKeyCheck(kek)
	if subtle.ConstantTimeCompare(check[:], blob[blobAuthLen:blobAuthLen+blobCheckSize]) != 1 {
		return nil, ErrWrongPassphrase
	}
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, fmt.Errorf("keystore: open blob: %w", err)
	}
	nonce := blob[blobAuthLen+blobCheckSize : blobHeaderLen]
	ct := blob[blobHeaderLen:]
	pt, err := aead.Open(make([]byte, 0, len(ct)-chacha20poly1305.Overhead), nonce, ct, blobAD(blob[:blobAuthLen], ad))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed blob (or its associated data) was altered", ErrTampered)
	}
	return pt, nil
}

// parseBlob checks the blob's structure and returns its KDF parameters.
// Every error wraps ErrTampered.
func parseBlob(blob []byte) (KDFParams, error) {
	if len(blob) < 1 {
		return KDFParams{}, fmt.Errorf("%w: sealed blob is empty", ErrTampered)
	}
	if blob[0] != blobVersion1 {
		return KDFParams{}, fmt.Errorf("%w: unsupported sealed blob version %d", ErrTampered, blob[0])
	}
	if len(blob) < blobMinSize {
		return KDFParams{}, fmt.Errorf("%w: sealed blob truncated (%d bytes, at least %d)", ErrTampered, len(blob), blobMinSize)
	}
	if blob[1] != kdfArgon2id {
		return KDFParams{}, fmt.Errorf("%w: unknown KDF id %d in sealed blob", ErrTampered, blob[1])
	}
	kdf := KDFParams{
		Time:      binary.BigEndian.Uint32(blob[2:]),
		MemoryKiB: binary.BigEndian.Uint32(blob[6:]),
		Threads:   blob[10],
	}
	if err := kdf.Validate(); err != nil {
		return KDFParams{}, fmt.Errorf("%w: sealed blob: %w", ErrTampered, err)
	}
	return kdf, nil
}

// blobAD is blobDomain || the blob's authenticated prefix || the caller's AD.
func blobAD(prefix, ad []byte) []byte {
	out := make([]byte, 0, len(blobDomain)+len(prefix)+len(ad))
	out = append(out, blobDomain...)
	out = append(out, prefix...)
	return append(out, ad...)
}

// blobKeyCheck is the key check stored in a blob for kek.
func blobKeyCheck(kek []byte) [blobCheckSize]byte {
	h := sha256.New()
	h.Write([]byte(blobCheckDomain))
	h.Write(kek)
	var out [blobCheckSize]byte
	copy(out[:], h.Sum(nil))
	return out
}
