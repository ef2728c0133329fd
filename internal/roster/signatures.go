package roster

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// tally is who validly signed an entry or an authorization.
type tally struct {
	operators []string // names, in the order of the operator set
	devices   []string // names of the approving active devices, in signature order
}

// names is the tally as Signers reports it.
func (t tally) names() []string {
	out := append([]string{}, t.operators...)
	for _, d := range t.devices {
		out = append(out, "device:"+d)
	}
	return out
}

// verifySignatures checks every signature over msg: keys of the right size
// and distinct (ErrMalformed), each by one of ops or, when devices is not
// nil, by one of the identity keys in devices (key -> device name)
// (ErrUnknownSigner), and each valid (ErrBadSignature). Each signer is
// looked up before its signature is verified.
func verifySignatures(sigs []Signature, msg []byte, ops []Operator, devices map[string]string) (tally, error) {
	opIndex := make(map[string]int, len(ops))
	for i, op := range ops {
		opIndex[string(op.Key)] = i
	}
	seen := make(map[string]bool, len(sigs))
	signed := make([]bool, len(ops))
	var t tally
	for _, sig := range sigs {
		if len(sig.Key) != ed25519.PublicKeySize {
			return tally{}, fmt.Errorf("%w: a signer key is %d bytes, want %d", ErrMalformed, len(sig.Key), ed25519.PublicKeySize)
		}
		k := string(sig.Key)
		if seen[k] {
			return tally{}, fmt.Errorf("%w: key %s signed twice", ErrMalformed, keyPrefix(sig.Key))
		}
		seen[k] = true
		i, isOp := opIndex[k]
		dev, isDev := devices[k]
		if !isOp && !isDev {
			return tally{}, fmt.Errorf("%w: key %s", ErrUnknownSigner, keyPrefix(sig.Key))
		}
		if !identity.Verify(sig.Key, msg, sig.Sig) {
			return tally{}, fmt.Errorf("%w: key %s", ErrBadSignature, keyPrefix(sig.Key))
		}
		if isOp {
			signed[i] = true
		} else {
			t.devices = append(t.devices, dev)
		}
	}
	for i, op := range ops {
		if signed[i] {
			t.operators = append(t.operators, op.Name)
		}
	}
	return t, nil
}

func quorumError(have, need int) error {
	return fmt.Errorf("%w: have %d of %d", ErrQuorum, have, need)
}

// keyPrefix names a key in errors: its first 8 bytes in hex.
func keyPrefix(k []byte) string {
	if len(k) > 8 {
		k = k[:8]
	}
	return hex.EncodeToString(k)
}
