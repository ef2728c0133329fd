package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's main command, end to end, with TEST-ONLY pre-parameters
// instead of fresh ones (generating them takes minutes): the test hands
// runDemo the fixture directory that only a -tags testfixtures build takes
// as --insecure-test-preparams.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out, errw bytes.Buffer
	err := runDemo(ctx, &out, &errw, t.TempDir(), false, "warn", "text", filepath.Join("..", "..", "testdata", "preparams"))
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errw.String())
	}
	text := out.String()
	for _, want := range []string{
		"created a 2-of-3 key",
		"signed while the server is gone",
		"revoking the server",
		"is now at epoch 1, held by phone, laptop, tablet; public key unchanged",
		"signed by the phone and the new tablet\") with phone + tablet",
		"refused as expected: FailedPrecondition",
		"demo finished",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// Devices are admitted and revoked by the operator's signatures.
	if n := strings.Count(text, "she signed it onto the roster"); n != 4 {
		t.Errorf("%d devices signed onto the roster, want 4:\n%s", n, text)
	}
	for _, want := range []string{"registered the wallet backend's requester key", "an unsigned Sign call is refused: this institution has a roster",
		"(request signed by the wallet's key, verified by each device)", "made an Ed25519 key on her own machine", "signed the roster's genesis", "the revocation is alice's signed roster entry", "signed the keygen ceremony"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "verified against public key"); n != 4 {
		t.Errorf("%d verified signatures, want 4:\n%s", n, text)
	}
}
