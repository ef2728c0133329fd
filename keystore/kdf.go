package keystore

import (
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the Argon2id parameters that turn the passphrase into the key
// that wraps the data key. They are stored in the store's header, so a store
// always opens with the parameters it was created with.
type KDFParams struct {
	Time      uint32 // passes over memory: 1 to 64
	MemoryKiB uint32 // memory in KiB: 8 MiB (8*1024) to 4 GiB
	Threads   uint8  // parallelism: 1 to 64
}

// Bounds on KDFParams. The lower bound keeps a store from being created with
// a trivially cheap KDF; the upper bounds keep a damaged or hostile header
// from making Open allocate without limit.
const (
	minKDFMemoryKiB = 8 * 1024
	maxKDFMemoryKiB = 4 * 1024 * 1024
	maxKDFTime      = 64
	maxKDFThreads   = 64
)

// DefaultKDF returns the parameters used for a new store when Options.KDF is
// zero: Argon2id with 3 passes over 64 MiB and 2 threads.
func DefaultKDF() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
}

func (p KDFParams) isZero() bool { return p == KDFParams{} }

// validate checks p against the bounds above.
func (p KDFParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("keystore: KDF time %d out of range [1, %d]", p.Time, maxKDFTime)
	case p.MemoryKiB < minKDFMemoryKiB || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("keystore: KDF memory %d KiB out of range [%d, %d]",
			p.MemoryKiB, minKDFMemoryKiB, maxKDFMemoryKiB)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Errorf("keystore: KDF threads %d out of range [1, %d]", p.Threads, maxKDFThreads)
	}
	return nil
}

// deriveKEK derives the key-encryption key. The caller wipes the result.
func deriveKEK(pass Passphrase, salt []byte, p KDFParams) []byte {
	return argon2.IDKey(pass.bytes(), salt, p.Time, p.MemoryKiB, p.Threads, dataKeySize)
}
