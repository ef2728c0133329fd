package signreq

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func TestVerifyRefuses(t *testing.T) {
	w := newWorld(t)
	// bodyFor is the canonical body of newBody as the signer's request.
	bodyFor := func(t *testing.T, signer crypto.Signer) []byte { return encodeFor(t, signer, newBody()) }
	// reSigned is the wallet's valid request with its encoding edited, and
	// signed again: only the encoding is wrong.
	reSigned := func(edit func(string) string) func(t *testing.T) *mpcv1.SignedRequest {
		return func(t *testing.T) *mpcv1.SignedRequest {
			s := string(bodyFor(t, w.wallet))
			raw := edit(s)
			if raw == s {
				t.Fatal("the test case did not change the encoding")
			}
			return signRaw(t, w.wallet, []byte(raw))
		}
	}
	edited := func(edit func(*Body)) func(t *testing.T) *mpcv1.SignedRequest {
		return func(t *testing.T) *mpcv1.SignedRequest {
			b := newBody()
			b.Requester = idOf(t, w.wallet.Public())
			edit(&b)
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			return signRaw(t, w.wallet, raw)
		}
	}
	flip := func(signer crypto.Signer, i int) func(t *testing.T) *mpcv1.SignedRequest {
		return func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, signer, newBody())
			if i < 0 {
				i += len(sr.Signature)
			}
			sr.Signature[i] ^= 1
			return sr
		}
	}
	tests := []struct {
		name  string
		build func(t *testing.T) *mpcv1.SignedRequest
		want  error
	}{
		{"ed25519", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.wallet, newBody()) }, nil},
		{"p256", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.kms, newBody()) }, nil},

		{"nil", func(*testing.T) *mpcv1.SignedRequest { return nil }, ErrMissing},
		{"empty", func(*testing.T) *mpcv1.SignedRequest { return &mpcv1.SignedRequest{} }, ErrMissing},
		{"signature without a body", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Body = nil
			return sr
		}, ErrMissing},

		{"not JSON", func(t *testing.T) *mpcv1.SignedRequest { return signRaw(t, w.wallet, []byte("{")) }, ErrMalformed},
		{"null", func(t *testing.T) *mpcv1.SignedRequest { return signRaw(t, w.wallet, []byte("null")) }, ErrMalformed},
		{"no items", edited(func(b *Body) { b.Items = nil }), ErrMalformed},
		{"root path", edited(func(b *Body) { b.Path = "m" }), ErrMalformed},
		{"bad request id", edited(func(b *Body) { b.RequestID = "a\x01" }), ErrMalformed},
		{"expires 0", edited(func(b *Body) { b.Expires = 0 }), ErrMalformed},
		{"version 2", edited(func(b *Body) { b.Version = 2 }), ErrMalformed},
		{"whitespace", reSigned(func(s string) string { return strings.Replace(s, `":`, `": `, -1) }), ErrMalformed},
		{"trailing newline", reSigned(func(s string) string { return s + "\n" }), ErrMalformed},
		{"reordered fields", reSigned(func(s string) string {
			return strings.Replace(s, `"request_id":"pay-1","expires":1700000300`, `"expires":1700000300,"request_id":"pay-1"`, 1)
		}), ErrMalformed},
		{"upper-case item hex", reSigned(func(s string) string {
			it := hex.EncodeToString(digest1[:])
			return strings.Replace(s, it, strings.ToUpper(it), 1)
		}), ErrMalformed},
		{"upper-case requester hex", reSigned(func(s string) string {
			id := idOf(t, w.wallet.Public())
			return strings.Replace(s, id, strings.ToUpper(id), 1)
		}), ErrMalformed},
		{"unknown field", reSigned(func(s string) string { return strings.Replace(s, `{"v":1`, `{"v":1,"admin":true`, 1) }), ErrMalformed},
		{"duplicate field", reSigned(func(s string) string {
			return strings.Replace(s, `"key_id":"k1"`, `"key_id":"k2","key_id":"k1"`, 1)
		}), ErrMalformed},
		{"escaped letter", reSigned(func(s string) string { return strings.Replace(s, `"pay-1"`, `"p\u0061y-1"`, 1) }), ErrMalformed},

		{"unknown requester", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.stranger, newBody()) }, ErrUnknownRequester},
		{"unknown p256 requester", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.strangerP256, newBody()) }, ErrUnknownRequester},
		{"unknown requester with a bad signature", func(t *testing.T) *mpcv1.SignedRequest {
			return &mpcv1.SignedRequest{Body: bodyFor(t, w.stranger)}
		}, ErrUnknownRequester},
		{"revoked requester", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.old, newBody()) }, ErrRevokedRequester},

		{"ed25519 bit flipped in R", flip(w.wallet, 0), ErrBadSignature},
		{"ed25519 bit flipped in S", flip(w.wallet, -1), ErrBadSignature},
		{"p256 bit flipped", flip(w.kms, -1), ErrBadSignature},
		{"p256 bit flipped in r", flip(w.kms, 6), ErrBadSignature},
		{"body bit flipped", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			other := newBody()
			other.RequestID = "pay-2"
			sr.Body = encodeFor(t, w.wallet, other)
			return sr
		}, ErrBadSignature},
		{"signature of another request", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			other := newBody()
			other.Items = other.Items[:1]
			sr.Signature = mustSign(t, w.wallet, other).Signature
			return sr
		}, ErrBadSignature},
		{"ed25519 signature by another key", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.stranger, bodyFor(t, w.wallet))
		}, ErrBadSignature},
		{"ed25519 signature by another requester", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.old, bodyFor(t, w.wallet))
		}, ErrBadSignature},
		{"p256 signature by another key", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.strangerP256, bodyFor(t, w.kms))
		}, ErrBadSignature},
		{"p256 signature for an ed25519 requester", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.kms, bodyFor(t, w.wallet))
		}, ErrBadSignature},
		{"ed25519 signature for a p256 requester", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.wallet, bodyFor(t, w.kms))
		}, ErrBadSignature},
		{"ed25519 signature of the bare body", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.wallet)
			return &mpcv1.SignedRequest{Body: raw, Signature: ed25519.Sign(w.wallet, raw)}
		}, ErrBadSignature},
		{"ed25519 signature of the hash without the domain", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.wallet)
			h := sha256.Sum256(raw)
			return &mpcv1.SignedRequest{Body: raw, Signature: ed25519.Sign(w.wallet, h[:])}
		}, ErrBadSignature},
		{"p256 signature of SHA-256 of the hash", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.kms)
			h := Hash(raw)
			hh := sha256.Sum256(h[:])
			sig, err := ecdsa.SignASN1(rand.Reader, w.kms, hh[:])
			if err != nil {
				t.Fatal(err)
			}
			return &mpcv1.SignedRequest{Body: raw, Signature: sig}
		}, ErrBadSignature},
		{"empty signature", func(t *testing.T) *mpcv1.SignedRequest {
			return &mpcv1.SignedRequest{Body: bodyFor(t, w.wallet)}
		}, ErrBadSignature},
		{"empty p256 signature", func(t *testing.T) *mpcv1.SignedRequest {
			return &mpcv1.SignedRequest{Body: bodyFor(t, w.kms)}
		}, ErrBadSignature},
		{"ed25519 signature with a byte more", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Signature = append(sr.Signature, 0)
			return sr
		}, ErrBadSignature},
		{"ed25519 signature with a byte less", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Signature = sr.Signature[:63]
			return sr
		}, ErrBadSignature},
		{"p256 signature with a byte more", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.kms, newBody())
			sr.Signature = append(sr.Signature, 0)
			return sr
		}, ErrBadSignature},
		{"p256 signature as raw r||s", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.kms)
			h := Hash(raw)
			r, s, err := ecdsa.Sign(rand.Reader, w.kms, h[:])
			if err != nil {
				t.Fatal(err)
			}
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
			return &mpcv1.SignedRequest{Body: raw, Signature: sig}
		}, ErrBadSignature},
		{"too long signature", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.kms, newBody())
			sr.Signature = append(sr.Signature, make([]byte, MaxSignatureSize+1-len(sr.Signature))...)
			return sr
		}, ErrBadSignature},
		{"huge signature", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Signature = bytes.Repeat(sr.Signature, 1000)
			return sr
		}, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := tc.build(t)
			b, r, err := Verify(w.st, sr)
			wantErr(t, err, tc.want)
			if err != nil {
				if !reflect.DeepEqual(b, Body{}) || !reflect.DeepEqual(r, roster.RequesterState{}) {
					t.Fatalf("a refused request returned %+v %+v", b, r)
				}
				return
			}
			if r.ID != b.Requester || !r.Active {
				t.Fatalf("requester %+v for body %+v", r, b)
			}
		})
	}
}

// TestVerifyUsesTheRoster: a request signed while its requester was active
// is refused once the roster revokes it, and a re-grant applies at once.
func TestVerifyUsesTheRoster(t *testing.T) {
	w := newWorld(t)
	sr := mustSign(t, w.wallet, newBody())
	b, r, err := Verify(w.st, sr)
	if err != nil {
		t.Fatal(err)
	}
	s := Session{KeyID: "k1", Path: "m/44/60/0/0/7", Data: digest0[:]}
	if err := Check(b, r.Requester, s, t0); err != nil {
		t.Fatal(err)
	}
	before := w.st.Clone()

	// New grants without k1.
	w.addRequester(t, w.wallet.Public(), "wallet", []string{"k2"}, nil)
	b, r, err = Verify(w.st, sr)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, Check(b, r.Requester, s, t0), ErrNotAllowed)

	w.revokeRequester(t, w.wallet.Public())
	_, _, err = Verify(w.st, sr)
	wantErr(t, err, ErrRevokedRequester)

	// The earlier state still accepts it (the device's state is what counts).
	if _, _, err := Verify(before, sr); err != nil {
		t.Fatal(err)
	}
}

func TestVerifySignature(t *testing.T) {
	w := newWorld(t)
	raw := bodyOf(t, w.wallet)
	sig := signRaw(t, w.wallet, raw).Signature
	good := w.requester(t, w.wallet.Public())
	if err := VerifySignature(good, raw, sig); err != nil {
		t.Fatal(err)
	}
	// A requester record that the roster would not hold refuses, without
	// panicking (ed25519.Verify panics on a short key).
	for name, r := range map[string]roster.Requester{
		"short ed25519 key":   {Algorithm: roster.AlgEd25519, PublicKey: good.PublicKey[:31]},
		"no key":              {Algorithm: roster.AlgEd25519},
		"unknown algorithm":   {Algorithm: "ed448", PublicKey: good.PublicKey},
		"no algorithm":        {PublicKey: good.PublicKey},
		"ed25519 key as p256": {Algorithm: roster.AlgP256, PublicKey: good.PublicKey},
		"p256 point off the curve": {Algorithm: roster.AlgP256, PublicKey: func() []byte {
			k := w.requester(t, w.kms.Public()).PublicKey
			k[64] ^= 1
			return k
		}()},
	} {
		if err := VerifySignature(r, raw, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The P-256 requester's signature does not verify under its key with
	// another body.
	kraw := bodyOf(t, w.kms)
	ksig := signRaw(t, w.kms, kraw).Signature
	kms := w.requester(t, w.kms.Public())
	if err := VerifySignature(kms, kraw, ksig); err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(kms, raw, ksig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another body: %v", err)
	}
}

func bodyOf(t testing.TB, signer crypto.Signer) []byte { return encodeFor(t, signer, newBody()) }

func TestKeyOf(t *testing.T) {
	w := newWorld(t)
	alg, key, id, err := KeyOf(w.wallet.Public())
	if err != nil || alg != roster.AlgEd25519 || !bytes.Equal(key, w.wallet.Public().(ed25519.PublicKey)) || id != roster.RequesterID(alg, key) {
		t.Fatalf("ed25519: %s %x %s %v", alg, key, id, err)
	}
	alg, key, id, err = KeyOf(w.kms.Public())
	want, _ := w.kms.PublicKey.Bytes()
	if err != nil || alg != roster.AlgP256 || !bytes.Equal(key, want) || len(key) != 65 || id != roster.RequesterID(alg, key) {
		t.Fatalf("p256: %s %x %s %v", alg, key, id, err)
	}
	// The key is a copy.
	pub := w.wallet.Public().(ed25519.PublicKey)
	_, key, _, _ = KeyOf(pub)
	key[0] ^= 1
	if pub[0] == key[0] {
		t.Fatal("KeyOf returned the caller's key")
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, pub := range map[string]crypto.PublicKey{
		"p384":                 p384.Public(),
		"ecdsa value":          w.kms.PublicKey,
		"ed25519 private key":  w.wallet,
		"short ed25519 key":    ed25519.PublicKey(pub[:31]),
		"nil":                  nil,
		"bytes":                []byte(pub),
		"p256 off the curve":   &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)},
		"p256 without a point": &ecdsa.PublicKey{Curve: elliptic.P256()},
		"p256 without y":       &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1)},
		"nil ecdsa key":        (*ecdsa.PublicKey)(nil),
		"no curve":             &ecdsa.PublicKey{X: big.NewInt(1), Y: big.NewInt(1)},
	} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: panic %v", name, p)
				}
			}()
			if _, _, _, err := KeyOf(pub); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}()
	}
}
