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
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// recordingSigner is a crypto.Signer that is nothing else (a KMS, say),
// and remembers what it was asked to sign.
type recordingSigner struct {
	s      crypto.Signer
	digest []byte
	opts   crypto.SignerOpts
}

func (r *recordingSigner) Public() crypto.PublicKey { return r.s.Public() }
func (r *recordingSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	r.digest, r.opts = bytes.Clone(digest), opts
	return r.s.Sign(rand, digest, opts)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
		hash   crypto.Hash
	}{
		{"ed25519", w.wallet, 0},
		{"p256", w.kms, crypto.SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingSigner{s: tc.signer}
			b := newBody()
			b.Requester = strings.Repeat("0", 32) // Sign sets it from the key
			sr, err := Sign(rec, b)
			if err != nil {
				t.Fatal(err)
			}
			// The signer was asked for the request hash, the way the
			// package documents it.
			h := sha256.Sum256(append([]byte("mpcsign/v1/sign-request\x00"), sr.Body...))
			if Hash(sr.Body) != h {
				t.Fatal("Hash is not SHA-256 of the domain and the body")
			}
			if !bytes.Equal(rec.digest, h[:]) || rec.opts.HashFunc() != tc.hash {
				t.Fatalf("signed %x with %v, want %x with %v", rec.digest, rec.opts.HashFunc(), h, tc.hash)
			}
			switch pub := tc.signer.Public().(type) {
			case ed25519.PublicKey:
				if len(sr.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, h[:], sr.Signature) {
					t.Fatal("not a pure Ed25519 signature of the hash")
				}
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, h[:], sr.Signature) {
					t.Fatal("not an ASN.1 ECDSA signature of the hash")
				}
			}

			got, r, err := Verify(w.st, sr)
			if err != nil {
				t.Fatal(err)
			}
			want := newBody()
			want.Requester = idOf(t, tc.signer.Public())
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Verify: body %+v, want %+v", got, want)
			}
			if r.ID != want.Requester || !r.Active {
				t.Fatalf("Verify: requester %+v", r)
			}
			if again, err := Encode(got); err != nil || !bytes.Equal(again, sr.Body) {
				t.Fatalf("Encode of the verified body: %q %v", again, err)
			}
			if err := VerifySignature(r.Requester, sr.Body, sr.Signature); err != nil {
				t.Fatal(err)
			}
			// Every item checks against its session.
			for i, d := range [][32]byte{digest0, digest1} {
				s := Session{KeyID: "k1", Path: "m/44/60/0/0/7", Item: i, Data: d[:]}
				if err := Check(got, r.Requester, s, t0); err != nil {
					t.Fatalf("item %d: %v", i, err)
				}
			}
		})
	}
}

// failingSigner refuses to sign.
type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("the KMS is down")
}

func TestSignRefuses(t *testing.T) {
	w := newWorld(t)
	b := newBody()
	b.Items = nil
	if _, err := Sign(w.wallet, b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no items: %v", err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(p384, newBody()); err == nil {
		t.Fatal("a P-384 key signed")
	}
	if _, err := Sign(failingSigner{w.kms}, newBody()); err == nil || !strings.Contains(err.Error(), "the KMS is down") {
		t.Fatalf("a failing signer: %v", err)
	}
}

func TestItemOf(t *testing.T) {
	if got := ItemOf(KindDigest, digest0[:]); got != hex.EncodeToString(digest0[:]) {
		t.Fatalf("digest: %s", got)
	}
	h := sha256.Sum256(message)
	if got := ItemOf(KindMessage, message); got != hex.EncodeToString(h[:]) {
		t.Fatalf("message: %s", got)
	}
}

// ExampleSign is what a wallet backend does.
func ExampleSign() {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // a KMS key in practice
	digest := sha256.Sum256([]byte("a transaction"))
	sr, err := Sign(key, Body{
		Version:   Version,
		KeyID:     "k1",
		Kind:      KindDigest,
		Items:     []string{ItemOf(KindDigest, digest[:])},
		Path:      "m/44/60/0/0/7",
		RequestID: "pay-1",
		Expires:   time.Unix(1_700_000_000, 0).Add(DefaultLifetime).Unix(),
		Nonce:     strings.Repeat("0", 32),
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n%d-byte signature\n", sr.Body[:62], len(sr.Signature))
	// Output:
	// {"v":1,"requester":"a643519cf061c383eca06fb711f23117","key_id"
	// 64-byte signature
}
