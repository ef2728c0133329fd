package rawtss

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
)

func TestKeygenAndSign(t *testing.T) {
	f, err := os.Open("../../testdata/preparams/TEST-ONLY-set-4.json")
	if err != nil {
		t.Fatal(err)
	}
	sets, err := preparams.ReadTestFixtures(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	key, err := Keygen(ctx, 1, sets)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sigfmt.CompressPoint(key.Data[0].ECDSAPub.X(), key.Data[0].ECDSAPub.Y())
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("raw"))
	sig, err := key.Sign(ctx, d[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sigfmt.FinishECDSA(pub, d[:], sig.GetR(), sig.GetS()); err != nil {
		t.Fatalf("raw signature does not verify: %v", err)
	}
}
