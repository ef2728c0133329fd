package keystore

import "github.com/mpcsign/mpcsign/keystore/seal"

// SealBlob encrypts plaintext under a key derived from pass, bound to ad: see
// seal.SealBlob, which it calls.
func SealBlob(pass Passphrase, kdf KDFParams, ad, plaintext []byte) ([]byte, error) {
	return seal.SealBlob(pass, kdf, ad, plaintext)
}

// OpenBlob decrypts a blob made by SealBlob with the same ad: see
// seal.OpenBlob, which it calls.
func OpenBlob(pass Passphrase, ad, blob []byte) ([]byte, error) {
	return seal.OpenBlob(pass, ad, blob)
}
