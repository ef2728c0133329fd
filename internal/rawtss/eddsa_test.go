package rawtss

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/sigfmt"
)

func TestEdDSAKeygenAndSign(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key, err := KeygenEdDSA(ctx, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range key.Data {
		p, err := EdDSAPublicKey(d.EDDSAPub)
		if err != nil || !bytes.Equal(p, pub) {
			t.Fatalf("party %d has public key %x (%v), party 0 %x", i, p, err, pub)
		}
	}

	// Leading zero bytes are part of the message: tss-lib drops them unless
	// told the full length.
	msg := []byte{0, 0, 0, 'r', 'a', 'w', 0}
	sig, err := SignEdDSA(ctx, key, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Fatalf("signature %x does not verify with crypto/ed25519 under %x", sig, pub)
	}
	if err := sigfmt.FinishEd25519(pub, msg, sig); err != nil {
		t.Fatal(err)
	}
	if ed25519.Verify(pub, msg[3:], sig) {
		t.Fatal("signature also verifies for the message without its leading zeros")
	}
}

func TestEdDSARefusesBadArguments(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ n, t int }{{3, 0}, {3, 3}, {1, 1}, {2, -1}} {
		if _, err := KeygenEdDSA(ctx, c.n, c.t); err == nil {
			t.Errorf("KeygenEdDSA(n=%d, t=%d) succeeded", c.n, c.t)
		}
	}
	if _, err := SignEdDSA(ctx, nil, []byte("m")); err == nil {
		t.Error("SignEdDSA with no key succeeded")
	}
	if _, err := SignEdDSA(ctx, &EdDSAKey{Threshold: 1}, []byte("m")); err == nil {
		t.Error("SignEdDSA with an empty key succeeded")
	}
	if _, err := EdDSAPublicKey(nil); err == nil {
		t.Error("EdDSAPublicKey(nil) succeeded")
	}
}
