package guard

import (
	"math/big"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// Sizes fixed by tss-lib v2.0.2.
const (
	// modulusBits is the size of every Paillier modulus N and every NTilde:
	// keygen/round_2.go (paillierBitsLen) rejects anything else, and
	// keygen/prepare.go generates exactly that (2048-bit Paillier modulus,
	// NTilde from two 1024-bit safe primes). Resharing does not check it in
	// v2.0.2; the guard does.
	modulusBits = 2048
	// modulusSquaredBits bounds values mod N^2 (Paillier ciphertexts).
	modulusSquaredBits = 2 * modulusBits

	curveOrderBits = 256 // secp256k1: q and the field prime p
	hashBits       = 256 // SHA-512/256 commitments and session ids
	commitRandBits = 256 // commitments.HashLength: the decommitment randomness r

	// Element counts of the serialized proofs.
	dlnParts      = 2 + 2*dlnIterations // [len, alpha_0..alpha_127, len, t_0..t_127]
	dlnIterations = 128                 // dlnproof.Iterations
	modParts      = 2*modIterations + 3 // modproof.ProofModBytesParts: W, X[80], A, B, Z[80]
	modIterations = 80                  // modproof.Iterations
	facParts      = 11                  // facproof.ProofFacBytesParts
	paillierIters = 13                  // paillier.ProofIters
	aliceParts    = 6                   // mta.RangeProofAliceBytesParts
	bobParts      = 10                  // mta.ProofBobBytesParts
	bobWCParts    = 12                  // mta.ProofBobWCBytesParts

	// Upper bounds of the proof responses, from how v2.0.2 computes them
	// (q < 2^256, N and NTilde < 2^2048, e < q):
	//
	//   mta S2, T2:   e*rho + gamma with rho < q*NTilde, gamma < q^3*NTilde -> < 2^2817
	//   fac W1, W2:   e*mu + x with mu < q*NTilde, x < q^3*NTilde          -> < 2^2817
	//   fac Sigma:    < q*N0*NTilde                                         -> < 2^4352
	//   fac V:        e*(sigma - nu*p) + r with r < q^3*N0*NTilde           -> < 2^4865
	//   fac Z1, Z2:   < q^3*sqrt(N0) (the library's own bound)              -> < 2^1792
	//   mta S1 <= q^3, T1 <= q^7 (the library's own bounds).
	q3NTildeBits = 3*curveOrderBits + modulusBits + 1
	facSigmaBits = curveOrderBits + 2*modulusBits
	facVBits     = 3*curveOrderBits + 2*modulusBits + 1
	// modproof A and B: 2^80 with the 80 challenge bits below it.
	modABits = modIterations + 1
)

// Wire caps per protocol, for the Any payload that ParseWireMessage reads.
// Each is the largest real message of the protocol, measured by
// TestRealMessageSizes (tss-lib v2.0.2, secp256k1, 2048-bit moduli, t=1),
// plus a margin (about 30%, more for the small signing messages); the
// per-field checks then hold every field to its exact bound. Measured largest messages:
//
//	keygen   KGRound1Message   ~133,750 bytes (N, NTilde, h1, h2, two DLN proofs)
//	         KGRound2Message2   ~41,965 bytes (VSS decommitment, modulus proof)
//	signing  SignRound2Message    6,859 bytes (two ciphertexts, ProofBob, ProofBobWC)
//	reshare  DGRound2Message1   175,449 bytes (N, NTilde, h1, h2, modulus proof, two DLN proofs)
//
// These are within a few bytes of the largest encodings the field bounds
// allow (133.8 KB, 6.9 KB and 175.5 KB): the DLN proofs (258 integers of up
// to 2048 bits each) dominate and do not depend on t. A VSS decommitment
// grows by about 70 bytes per point, under 10 KB at MaxParties, which the
// margin covers. The caps are 168 KiB (1.29x), 12 KiB (1.79x) and 224 KiB
// (1.31x).
const (
	keygenWireCap  = 168 << 10
	signingWireCap = 12 << 10
	reshareWireCap = 224 << 10
)

// EdDSA messages carry no Paillier values. Their largest is the VSS
// decommitment of keygen round 2 or resharing round 3, which grows with the
// threshold, so the EdDSA caps depend on Params: a base for the Any wrapper
// (type URL up to 69 bytes), the decommitment randomness and a Schnorr proof
// (three 32-byte values), plus a share per decommitted point (two coordinates
// of up to 32 bytes, 68 bytes on the wire). The largest encodings the field
// checks allow are 341 bytes for keygen at t=1 (cap 672) and 8,909 bytes at
// t=127 (cap 10,752); signing's largest is 275 bytes (cap 512).
// TestEdDSAWireCaps builds them.
const (
	eddsaBaseCap  = 512
	eddsaPointCap = 80
)

// wireLimit is the wire cap for a session: fixed per protocol for ECDSA,
// by threshold for EdDSA keygen and resharing.
func wireLimit(p Params) int {
	switch p.Protocol {
	case KeygenEdDSA:
		return eddsaBaseCap + eddsaPointCap*(p.Threshold+1)
	case SignEdDSA:
		return eddsaBaseCap
	case ReshareEdDSA:
		return eddsaBaseCap + eddsaPointCap*(p.NewThreshold+1)
	}
	return wireCap(p.Protocol)
}

// wireCap is the fixed cap of an ECDSA protocol.
func wireCap(p Protocol) int {
	switch p {
	case KeygenECDSA:
		return keygenWireCap
	case SignECDSA:
		return signingWireCap
	case ReshareECDSA:
		return reshareWireCap
	}
	return 0
}

var (
	one = big.NewInt(1)

	curveOrder = tss.S256().Params().N
	fieldPrime = tss.S256().Params().P
	curveB     = tss.S256().Params().B

	q3 = new(big.Int).Exp(curveOrder, big.NewInt(3), nil)
	q7 = new(big.Int).Exp(curveOrder, big.NewInt(7), nil)
	// facZBound is q^3 * 2^1024: above q^3*sqrt(N0) for every 2048-bit N0.
	facZBound = new(big.Int).Lsh(q3, modulusBits/2)
)

// smallPrimes is the product of the odd primes below 1000 (the primes
// paillier.Proof.Verify divides by, minus 2). A modulus sharing a factor with
// it has a small factor.
var smallPrimes = sync.OnceValue(func() *big.Int {
	prod := big.NewInt(1)
	for p := int64(3); p < 1000; p += 2 {
		if big.NewInt(p).ProbablyPrime(0) {
			prod.Mul(prod, big.NewInt(p))
		}
	}
	return prod
})

// onCurve reports whether (x, y), both already below the field prime, is on
// secp256k1: y^2 = x^3 + 7 (mod p).
func onCurve(x, y *big.Int) bool {
	lhs := new(big.Int).Mul(y, y)
	lhs.Mod(lhs, fieldPrime)
	rhs := new(big.Int).Mul(x, x)
	rhs.Mul(rhs, x)
	rhs.Add(rhs, curveB)
	rhs.Mod(rhs, fieldPrime)
	return lhs.Cmp(rhs) == 0
}
