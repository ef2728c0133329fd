package seal

import (
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// KDFParams are the Argon2id parameters that turn a passphrase into a
// key-encryption key (KEK). They are stored with what they protect (the
// keystore's header, a sealed blob), so it always opens with the parameters
// it was sealed with.
type KDFParams struct {
	Time      uint32 // passes over memory: 1 to 64
	MemoryKiB uint32 // memory in KiB: 8 MiB (8*1024) to 4 GiB
	Threads   uint8  // parallelism: 1 to 64
}

// Bounds on KDFParams. The lower bound keeps a store or blob from being
// created with a trivially cheap KDF; the upper bounds keep a damaged or
// hostile header or blob from making its reader allocate without limit.
const (
	minKDFMemoryKiB = 8 * 1024
	maxKDFMemoryKiB = 4 * 1024 * 1024
	maxKDFTime      = 64
	maxKDFThreads   = 64
)

// KEKSize is the size in bytes of the key DeriveKEK returns: an
// XChaCha20-Poly1305 key.
const KEKSize = chacha20poly1305.KeySize

// DefaultKDF returns the parameters used when none are given (zero
// KDFParams): Argon2id with 3 passes over 64 MiB and 2 threads.
func DefaultKDF() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
}

// IsZero reports whether p is the zero KDFParams, which callers read as
// "use DefaultKDF()".
func (p KDFParams) IsZero() bool { return p == KDFParams{} }

// Validate checks p against the bounds: time 1 to 64 passes, memory 8 MiB to
// 4 GiB, threads 1 to 64. The zero KDFParams fails it: replace it with
// DefaultKDF() first.
func (p KDFParams) Validate() error {
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

// DeriveKEK derives the KEKSize-byte key-encryption key
// Argon2id(pass, salt, p). It returns ErrNoPassphrase for an empty
// passphrase and p.Validate's error for parameters out of bounds (it never
// runs Argon2id with them). The caller should wipe the key when done. This
// and the blob functions are the only code that reads the passphrase's
// bytes without a copy.
func DeriveKEK(pass Passphrase, salt []byte, p KDFParams) ([]byte, error) {
	if pass.IsZero() {
		return nil, ErrNoPassphrase
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return argon2.IDKey(pass.bytes(), salt, p.Time, p.MemoryKiB, p.Threads, KEKSize), nil
}
