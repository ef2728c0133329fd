// Package keystore is an encrypted-at-rest key/value store on BadgerDB for a
// device's secrets: key shares, pre-params and identity keys.
//
// Layout. A random 32-byte data key seals every value with XChaCha20-Poly1305.
// The data key itself is wrapped under a key-encryption key derived from the
// operator's passphrase with Argon2id; the wrapped key, the salt and the KDF
// parameters live in an internal header record that List never returns and
// that cannot be addressed as a user key.
//
// Records. A stored value is
//
//	version (1 byte) || nonce (24 bytes) || ciphertext+tag
//
// and the associated data is a domain string, the version byte and the
// record's own key, so a value copied or moved to another key fails to open
// with ErrTampered. Badger's own encryption is not used: it has no integrity.
//
// Secrets. Passphrase and the data key are opaque types that print REDACTED
// under fmt and log/slog. Errors name keys and paths, never values or
// passphrases.
//
// Passphrases, the Argon2id KDF and sealed blobs live in package
// keystore/seal, which does not link Badger; the names kept here
// (Passphrase, KDFParams, SealBlob, ErrWrongPassphrase, ...) are aliases of
// its types and values or thin wrappers around its functions.
package keystore
