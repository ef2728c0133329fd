package resharing

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// verifyArgs are Verify's arguments, set from the fixture before a case's
// edit (which may change them).
type verifyArgs struct {
	keyID, curve string
	pub          []byte
	dir          dirMap
	noDir        bool // pass a nil Directory
}

const testPath = "m/44/60/0/0/7"

func TestVerify(t *testing.T) {
	t.Parallel()
	secp, ed := CurveSecp256k1, CurveEd25519
	// reattest replaces attestation i by one edited with change and signed
	// by its own holder, so only the content check can catch it.
	reattest := func(t testing.TB, f *fixture, c *Certificate, i int, change func(*Attestation)) {
		a := f.attestation(i)
		change(&a)
		c.Attestations[i] = signAs(t, a, f.devs[i])
	}
	cases := []struct {
		name  string
		curve string
		edit  func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs)
		want  error // nil: verifies
	}{
		{name: "valid secp256k1", curve: secp},
		{name: "valid ed25519", curve: ed},
		{name: "valid secp256k1 with high s", curve: secp, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			var s secp256k1.ModNScalar
			s.SetByteSlice(c.TestSignature[32:])
			hi := s.Negate().Bytes()
			copy(c.TestSignature[32:], hi[:])
		}},
		{name: "valid derived-path test signature", curve: secp, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestPath = testPath
			c.TestSignature = f.testSig(t, f.keyID, f.epoch, testPath)
		}},
		{name: "nil certificate", curve: secp, want: ErrNoCertificate}, // c is nil below

		// the verifier's own key
		{name: "wrong public key", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			a.pub = secp256k1.PrivKeyFromBytes(seed("another key")).PubKey().SerializeCompressed()
		}},
		{name: "wrong public key ed25519", curve: ed, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			a.pub = ed25519.NewKeyFromSeed(seed("another key")).Public().(ed25519.PublicKey)
		}},
		{name: "certificate for another key id", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			a.keyID = "wallet-8"
		}},
		{name: "verifier's key on another curve", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			a.curve = ed
		}},

		// attestations
		{name: "attestation missing", curve: secp, want: ErrIncomplete, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.Attestations = c.Attestations[:2]
		}},
		{name: "first attestation missing", curve: ed, want: ErrIncomplete, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.Attestations = c.Attestations[1:]
		}},
		{name: "attestation duplicated", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.Attestations[2] = c.Attestations[0]
		}},
		{name: "attestation signed by another device's key", curve: secp, want: ErrBadSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.Attestations[1] = signAs(t, f.attestation(1), f.devs[0])
		}},
		{name: "body changed after signing", curve: secp, want: ErrBadSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			at := f.attestation(1)
			at.Threshold = 2
			body, err := EncodeAttestation(at)
			if err != nil {
				t.Fatal(err)
			}
			c.Attestations[1].Body = body
		}},
		{name: "unknown device", curve: secp, want: ErrUnknownDevice, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			delete(a.dir, f.devs[2].id)
		}},
		{name: "directory key of the wrong length", curve: secp, want: ErrUnknownDevice, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			a.dir[f.devs[1].id] = a.dir[f.devs[1].id][:31]
		}},
		{name: "non-canonical body", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			body := bytes.Replace(c.Attestations[0].Body, []byte(`,"curve"`), []byte(`, "curve"`), 1)
			c.Attestations[0] = SignedAttestation{Body: body, Signature: ed25519.Sign(f.devs[0].priv, AttestationMessage(body))}
		}},
		{name: "one attestation with another committee", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			reattest(t, f, c, 1, func(at *Attestation) { at.Committee = at.Committee[:2] })
		}},
		{name: "one attestation of another epoch", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			reattest(t, f, c, 2, func(at *Attestation) { at.Epoch++ })
		}},
		{name: "one attestation with another threshold", curve: ed, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			reattest(t, f, c, 1, func(at *Attestation) { at.Threshold = 2 })
		}},
		{name: "one attestation with another chain code", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			reattest(t, f, c, 2, func(at *Attestation) { at.ChainCode = seed("another chain code") })
		}},
		{name: "one attestation without the chain code", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			reattest(t, f, c, 1, func(at *Attestation) { at.ChainCode = nil })
		}},
		{name: "one attestation of another key id", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			reattest(t, f, c, 1, func(at *Attestation) { at.KeyID = "wallet-8" })
		}},
		{name: "first attestation of another key id", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			reattest(t, f, c, 0, func(at *Attestation) { at.KeyID = "wallet-8" })
		}},
		{name: "every attestation of another key id", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			f.keyID = "wallet-8"
			f.resign(t, c)
		}},
		{name: "every attestation of another epoch", curve: ed, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			f.epoch++
			f.resign(t, c)
		}},
		{name: "every attestation of another public key", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			a.pub = bytes.Clone(f.pub)
			f.pub = secp256k1.PrivKeyFromBytes(seed("another key")).PubKey().SerializeCompressed()
			f.resign(t, c)
		}},
		{name: "certificate epoch differs from the attestations'", curve: secp, want: ErrMismatch, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.Epoch++
			c.TestSignature = f.testSig(t, f.keyID, c.Epoch, "")
		}},
		{name: "no attestations", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.Attestations = nil
		}},

		// the test signature
		{name: "test signature over another epoch's digest", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestSignature = f.testSig(t, f.keyID, f.epoch-1, "")
		}},
		{name: "ed25519 test signature over another epoch's digest", curve: ed, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestSignature = f.testSig(t, f.keyID, f.epoch+1, "")
		}},
		{name: "test signature over another key's digest", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestSignature = f.testSig(t, "wallet-8", f.epoch, "")
		}},
		{name: "test signature over another nonce", curve: ed, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestNonce = seed("another nonce")
		}},
		{name: "test signature by another key", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			digest, _ := TestDigest(f.keyID, f.epoch, f.nonce)
			c.TestSignature = secpSign(t, secp256k1.PrivKeyFromBytes(seed("another key")), digest)
		}},
		{name: "derived-path signature without the path", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestSignature = f.testSig(t, f.keyID, f.epoch, testPath)
		}},
		{name: "derived-path signature with another path", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestSignature = f.testSig(t, f.keyID, f.epoch, testPath)
			c.TestPath = "m/44/60/0/0/8"
		}},
		{name: "root signature with a path", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestPath = testPath
		}},
		{name: "path on a key without a chain code", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			f.chain = nil
			f.resign(t, c)
			c.TestPath = "m"
		}},
		{name: "path on an ed25519 key", curve: ed, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestPath = "m"
		}},
		{name: "hardened path", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestPath = "m/44'"
		}},
		{name: "s not below the group order", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			// A key whose valid signature has s = 1, sent as s = N+1: only the
			// range check refuses it (SetByteSlice reduces it to 1).
			digest, _ := TestDigest(f.keyID, f.epoch, f.nonce)
			key, r := keyWithUnitS(digest)
			var one secp256k1.ModNScalar
			one.SetInt(1)
			if !ecdsa.NewSignature(&r, &one).Verify(digest, key.PubKey()) {
				t.Fatal("the crafted (r, 1) signature does not verify")
			}
			f.secp, f.pub = key, key.PubKey().SerializeCompressed()
			a.pub = f.pub
			f.resign(t, c)
			rb := r.Bytes()
			copy(c.TestSignature, rb[:])
			copy(c.TestSignature[32:], orderPlusOne())
		}},
		{name: "r not below the group order", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			// A public key under which (r, 1) verifies with r = R.x >= N as
			// sent; decred reduces r mod N and accepts R.x = r mod N + N, so
			// only the range check refuses it.
			digest, _ := TestDigest(f.keyID, f.epoch, f.nonce)
			pub, r := keyWithUnreducedR(t, digest)
			f.pub, a.pub = pub, pub
			f.resign(t, c)
			copy(c.TestSignature, r)
			copy(c.TestSignature[32:], make([]byte, 31))
			c.TestSignature[63] = 1
			var rr, one secp256k1.ModNScalar
			rr.SetByteSlice(r)
			one.SetInt(1)
			pk, err := secp256k1.ParsePubKey(pub)
			if err != nil || !ecdsa.NewSignature(&rr, &one).Verify(digest, pk) {
				t.Fatalf("the crafted signature does not verify once r is reduced (%v)", err)
			}
		}},
		{name: "no directory", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			a.noDir = true
		}},
		{name: "r zero", curve: secp, want: ErrTestSignature, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			clear(c.TestSignature[:32])
		}},
		{name: "short nonce", curve: secp, want: ErrMalformed, edit: func(t testing.TB, f *fixture, c *Certificate, a *verifyArgs) {
			c.TestNonce = c.TestNonce[:15]
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(tc.curve, 3, 1)
			c := f.cert(t)
			args := verifyArgs{keyID: f.keyID, curve: f.curve, pub: f.pub, dir: maps.Clone(f.dir)}
			if tc.edit != nil {
				tc.edit(t, f, c, &args)
			}
			if tc.want == ErrNoCertificate {
				c = nil
			}
			var dir Directory = args.dir
			if args.noDir {
				dir = nil
			}
			got, err := c.Verify(args.keyID, args.curve, args.pub, dir)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: got error %v, want %v", err, tc.want)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "resharing: ") && !strings.HasPrefix(err.Error(), "attestation ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			want := f.attestation(0)
			want.Holder, want.ShareCommitment = "", nil
			if got.Holder != "" || got.ShareCommitment != nil || got.Epoch != want.Epoch || got.KeyID != want.KeyID ||
				!bytes.Equal(got.PublicKey, want.PublicKey) || !bytes.Equal(got.ChainCode, want.ChainCode) ||
				got.Threshold != want.Threshold || !slices.Equal(got.Committee, want.Committee) || got.Curve != want.Curve {
				t.Errorf("Verify returned %+v, want %+v", got, want)
			}
		})
	}
}

// keyWithUnitS returns a private key x and an r such that (r, 1) is a valid
// ECDSA signature of digest under x: with k fixed and R = kG, r = R.x mod N,
// s = 1 needs e + r*x = k, so x = (k - e)/r.
func keyWithUnitS(digest []byte) (*secp256k1.PrivateKey, secp256k1.ModNScalar) {
	var k, e, r secp256k1.ModNScalar
	k.SetByteSlice(seed("nonce k"))
	e.SetByteSlice(digest)
	var R secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(&k, &R)
	R.ToAffine()
	xb := R.X.Bytes()
	r.SetByteSlice(xb[:])
	var x, rInv secp256k1.ModNScalar
	rInv.InverseValNonConst(&r)
	x.NegateVal(&e).Add(&k).Mul(&rInv)
	return secp256k1.NewPrivateKey(&x), r
}

// keyWithUnreducedR returns a public key Q and r (32 bytes, r >= N) such
// that (r mod N, 1) is a valid signature of digest under Q: R is a curve
// point with x >= N, r = R.x, and Q = (R - eG)/(r mod N), so that
// eG + (r mod N)Q = R. No one knows Q's private key; none is needed.
func keyWithUnreducedR(t testing.TB, digest []byte) ([]byte, []byte) {
	t.Helper()
	n := secp256k1.Params().N
	for i := int64(1); i < 1000; i++ { // i = 0 would reduce r to 0
		xb := make([]byte, 32)
		new(big.Int).Add(n, big.NewInt(i)).FillBytes(xb)
		var x, y secp256k1.FieldVal
		x.SetByteSlice(xb)
		if !secp256k1.DecompressY(&x, false, &y) {
			continue
		}
		var one secp256k1.FieldVal
		one.SetInt(1)
		R := secp256k1.MakeJacobianPoint(&x, &y, &one)

		var e, r, rInv secp256k1.ModNScalar
		e.SetByteSlice(digest)
		r.SetByteSlice(xb) // reduced: r mod N = i
		rInv.InverseValNonConst(&r)
		var eG, sum, Q secp256k1.JacobianPoint
		secp256k1.ScalarBaseMultNonConst(&e, &eG)
		eG.ToAffine()
		eG.Y.Negate(1).Normalize()
		secp256k1.AddNonConst(&R, &eG, &sum)
		secp256k1.ScalarMultNonConst(&rInv, &sum, &Q)
		Q.ToAffine()
		return secp256k1.NewPublicKey(&Q.X, &Q.Y).SerializeCompressed(), xb
	}
	t.Fatal("no curve point with x >= N found")
	return nil, nil
}

// orderPlusOne is N+1 as 32 big-endian bytes.
func orderPlusOne() []byte {
	n := secp256k1.Params().N
	b := make([]byte, 32)
	n.FillBytes(b)
	for i := 31; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			break
		}
	}
	return b
}

// A keygen's members attest epoch 0; VerifyAttestations checks such a set
// without a test signature, and refuses one with a member missing or a
// statement signed by another key.
func TestVerifyAttestationsOfAKeygen(t *testing.T) {
	f := newFixture(CurveSecp256k1, 3, 1)
	f.epoch = 0
	var atts []SignedAttestation
	for i, d := range f.devs {
		atts = append(atts, signAs(t, f.attestation(i), d))
	}
	got, err := VerifyAttestations(f.keyID, CurveSecp256k1, 0, f.pub, atts, f.dir)
	if err != nil || got.Epoch != 0 || len(got.Committee) != 3 {
		t.Fatalf("keygen attestations: %+v %v", got, err)
	}
	if _, err := VerifyAttestations(f.keyID, CurveSecp256k1, 0, f.pub, atts[1:], f.dir); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("a member missing: %v", err)
	}
	if _, err := VerifyAttestations(f.keyID, CurveSecp256k1, 1, f.pub, atts, f.dir); !errors.Is(err, ErrMismatch) {
		t.Fatalf("another epoch: %v", err)
	}
	bad := append([]SignedAttestation{}, atts...)
	bad[0].Signature = bad[1].Signature
	if _, err := VerifyAttestations(f.keyID, CurveSecp256k1, 0, f.pub, bad, f.dir); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a signature by another key: %v", err)
	}
}
