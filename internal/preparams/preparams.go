// Package preparams holds tss-lib's Paillier and safe-prime pre-parameters as a
// secret type: they are generated fresh by each party, used for exactly one
// keygen or reshare, and never printed.
package preparams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// ErrInvalid reports a pre-parameter set that is incomplete or malformed.
var ErrInvalid = errors.New("preparams: invalid pre-parameter set")

// Set is one set of pre-parameters. Its fields are unexported and it prints as
// REDACTED, so it cannot end up in a log line by accident.
type Set struct {
	p keygen.LocalPreParams
}

// Generate makes a fresh set. It takes tens of seconds to minutes; ctx bounds it.
func Generate(ctx context.Context, concurrency int) (*Set, error) {
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	p, err := keygen.GeneratePreParamsWithContext(ctx, concurrency)
	if err != nil {
		return nil, fmt.Errorf("preparams: generate: %w", err)
	}
	return &Set{p: *p}, nil
}

// Local returns the tss-lib value for handing to keygen.NewLocalParty.
func (s *Set) Local() keygen.LocalPreParams { return s.p }

// ID is a public identifier of the set: a hash of its Paillier modulus. It is
// used to refuse a set that was used once already.
func (s *Set) ID() string {
	sum := sha256.Sum256(s.p.PaillierSK.N.Bytes())
	return hex.EncodeToString(sum[:16])
}

// String and LogValue keep the set out of logs.
func (s *Set) String() string       { return "preparams.Set(REDACTED)" }
func (s *Set) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Marshal encodes the set for the encrypted keystore.
func (s *Set) Marshal() ([]byte, error) { return json.Marshal(s.p) }

// Unmarshal decodes and validates a set.
func Unmarshal(b []byte) (*Set, error) {
	var p keygen.LocalPreParams
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, ErrInvalid
	}
	if !p.ValidateWithProof() || p.PaillierSK.N == nil || p.PaillierSK.LambdaN == nil || p.PaillierSK.PhiN == nil {
		return nil, ErrInvalid
	}
	return &Set{p: p}, nil
}
