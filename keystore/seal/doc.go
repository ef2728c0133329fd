// Package seal holds the passphrase handling shared by the device keystore
// (package keystore) and the operator's key files (internal/keyfile):
// Passphrase, an opaque type that prints REDACTED; the Argon2id KDF
// (KDFParams, DeriveKEK) that turns a passphrase into a key-encryption key;
// and sealed blobs (SealBlob, OpenBlob), a secret sealed under a passphrase
// outside any store. It does not depend on Badger, so a program that only
// reads key files (mpcctl) does not link the store.
//
// Its error texts and its sealed-blob format keep the "keystore" names they
// had when this code lived in package keystore; package keystore re-exports
// the same values, so errors.Is matches under either name.
package seal
