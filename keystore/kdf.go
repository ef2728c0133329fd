package keystore

import "github.com/mpcsign/mpcsign/keystore/seal"

// KDFParams are the Argon2id parameters that turn the passphrase into the key
// that wraps the data key: an alias of seal.KDFParams. They are stored in the
// store's header, so a store always opens with the parameters it was created
// with.
type KDFParams = seal.KDFParams

// DefaultKDF returns the parameters used for a new store when Options.KDF is
// zero: Argon2id with 3 passes over 64 MiB and 2 threads (seal.DefaultKDF).
func DefaultKDF() KDFParams { return seal.DefaultKDF() }
