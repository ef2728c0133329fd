// Package crosscheck verifies the service's signatures with another
// implementation than its own (decred's secp256k1), for the demo and the
// load generator, which must not trust the code they measure.
package crosscheck

import (
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ECDSA checks a secp256k1 signature answer: its DER signature verifies
// under pubBytes (compressed) for digest, and its recovery id v recovers
// that key from r||s.
func ECDSA(pubBytes, digest []byte, r *mpcv1.SignResponse) error {
	pub, err := secp256k1.ParsePubKey(pubBytes)
	if err != nil {
		return err
	}
	sig, err := ecdsa.ParseDERSignature(r.GetSignatureDer())
	if err != nil {
		return fmt.Errorf("DER signature does not parse: %w", err)
	}
	if !sig.Verify(digest, pub) {
		return errors.New("signature does not verify against the key")
	}
	rsv := r.GetSignatureRsv()
	if len(rsv) < 64 {
		return errors.New("r||s||v is too short")
	}
	compact := append([]byte{27 + 4 + byte(r.GetV())}, rsv[:64]...)
	rec, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil || !rec.IsEqual(pub) {
		return errors.New("recovery id v does not recover the public key")
	}
	return nil
}
