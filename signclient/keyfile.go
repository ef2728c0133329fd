package signclient

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/keystore/seal"
)

// LoadKeyFile opens a requester key file written by 'mpcctl requesters
// create' (an Ed25519 key, encrypted under passphrase with Argon2id and
// XChaCha20-Poly1305) and returns its key as a crypto.Signer. The caller
// may wipe passphrase afterwards: it is copied. Opening takes a moment (the
// key derivation is deliberately slow): load the key once, at start.
func LoadKeyFile(path string, passphrase []byte) (crypto.Signer, error) {
	kind, _, _, err := keyfile.ReadPublic(path)
	if errors.Is(err, keyfile.ErrNotFound) {
		return nil, fmt.Errorf("signclient: no requester key file at %s ('mpcctl requesters create' writes one)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("signclient: %w", err)
	}
	if kind != keyfile.KindRequester {
		return nil, fmt.Errorf("signclient: %s holds a %s key, not a requester key ('mpcctl requesters create' writes one)", path, kind)
	}
	pass := seal.NewPassphrase(passphrase)
	defer pass.Wipe()
	k, err := keyfile.Read(path, pass)
	if err != nil {
		return nil, fmt.Errorf("signclient: %w", err)
	}
	if k.Kind() != keyfile.KindRequester { // authenticated now
		return nil, fmt.Errorf("signclient: %s holds a %s key, not a requester key", path, k.Kind())
	}
	return k.CryptoSigner(), nil
}
