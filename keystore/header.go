package keystore

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/mpcsign/mpcsign/keystore/seal"
)

// headerKey is the badger key of the header record. Its leading 0x00 byte is
// refused in user keys, so it can be neither read, written nor listed
// through the public API.
const headerKey = "\x00keystore/header"

// Header format, version 1 (fixed size, big-endian integers):
//
//	off  len  field
//	  0    1  format version (1)
//	  1    1  KDF id (1 = Argon2id)
//	  2    4  Argon2 time
//	  6    4  Argon2 memory (KiB)
//	 10    1  Argon2 threads
//	 11   16  salt
//	 27   24  XChaCha20-Poly1305 nonce
//	 51   48  wrapped data key (32 bytes + 16-byte tag)
//
// The wrap's associated data is wrapDomain followed by bytes [0, 27) of the
// header, so the version, the KDF parameters and the salt are authenticated
// together with the data key.
const (
	headerVersion1 = 1
	kdfArgon2id    = 1

	saltSize       = 16
	wrappedKeySize = dataKeySize + chacha20poly1305.Overhead
	headerAuthLen  = 1 + 1 + 4 + 4 + 1 + saltSize
	headerSize     = headerAuthLen + chacha20poly1305.NonceSizeX + wrappedKeySize

	wrapDomain = "mpcsign/keystore/v1/data-key-wrap\x00"
)

// header is the decoded header record. It holds no secret: the data key in
// it is wrapped.
type header struct {
	version byte
	kdf     KDFParams
	salt    [saltSize]byte
	nonce   [chacha20poly1305.NonceSizeX]byte
	wrapped [wrappedKeySize]byte
}

func (h *header) marshal() []byte {
	b := make([]byte, headerSize)
	b[0] = h.version
	b[1] = kdfArgon2id
	binary.BigEndian.PutUint32(b[2:], h.kdf.Time)
	binary.BigEndian.PutUint32(b[6:], h.kdf.MemoryKiB)
	b[10] = h.kdf.Threads
	copy(b[11:], h.salt[:])
	copy(b[headerAuthLen:], h.nonce[:])
	copy(b[headerAuthLen+len(h.nonce):], h.wrapped[:])
	return b
}

// parseHeader decodes a header record. Every error wraps ErrTampered.
func parseHeader(b []byte) (*header, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: header record is empty", ErrTampered)
	}
	if b[0] != headerVersion1 {
		return nil, fmt.Errorf("%w: unsupported header version %d", ErrTampered, b[0])
	}
	if len(b) != headerSize {
		return nil, fmt.Errorf("%w: header is %d bytes, want %d", ErrTampered, len(b), headerSize)
	}
	if b[1] != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown KDF id %d in header", ErrTampered, b[1])
	}
	h := &header{
		version: b[0],
		kdf: KDFParams{
			Time:      binary.BigEndian.Uint32(b[2:]),
			MemoryKiB: binary.BigEndian.Uint32(b[6:]),
			Threads:   b[10],
		},
	}
	if err := h.kdf.Validate(); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrTampered, err)
	}
	copy(h.salt[:], b[11:])
	copy(h.nonce[:], b[headerAuthLen:])
	copy(h.wrapped[:], b[headerAuthLen+len(h.nonce):])
	return h, nil
}

func (h *header) wrapAD() []byte {
	return append([]byte(wrapDomain), h.marshal()[:headerAuthLen]...)
}

// newHeader makes a fresh data key and a header that wraps it under a key
// derived from pass with params p.
func newHeader(pass Passphrase, p KDFParams) (*header, *dataKey, error) {
	dk := newDataKey()
	rand.Read(dk.bytes())
	h := &header{version: headerVersion1, kdf: p}
	rand.Read(h.salt[:])
	if err := h.wrap(pass, dk); err != nil {
		dk.wipe()
		return nil, nil, err
	}
	return h, dk, nil
}

// wrap seals dk under a KEK derived from pass, h.salt and h.kdf, with a fresh
// nonce. Changing the salt or the parameters and calling wrap again is how a
// store's KDF would be raised or its passphrase changed.
func (h *header) wrap(pass Passphrase, dk *dataKey) error {
	kek, err := seal.DeriveKEK(pass, h.salt[:], h.kdf)
	if err != nil {
		return err
	}
	defer wipe(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return fmt.Errorf("keystore: wrap data key: %w", err)
	}
	rand.Read(h.nonce[:])
	aead.Seal(h.wrapped[:0], h.nonce[:], dk.bytes(), h.wrapAD())
	return nil
}

// unwrap recovers the data key. A failed authentication means a wrong
// passphrase (or a header whose authenticated fields were altered; the two
// cannot be told apart without the passphrase).
func (h *header) unwrap(pass Passphrase) (*dataKey, error) {
	kek, err := seal.DeriveKEK(pass, h.salt[:], h.kdf)
	if err != nil {
		return nil, err
	}
	defer wipe(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, fmt.Errorf("keystore: unwrap data key: %w", err)
	}
	dk := newDataKey()
	if _, err := aead.Open(dk.bytes()[:0], h.nonce[:], h.wrapped[:], h.wrapAD()); err != nil {
		dk.wipe()
		return nil, ErrWrongPassphrase
	}
	return dk, nil
}
