package rawtss

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/hd"
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
	// The reference for derived-key signing: the child key signs.
	dsig, child, err := key.SignDerived(ctx, d[:], hd.ChainCodeFromSession([]byte("raw")), []uint32{44, 60, 0, 0, 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sigfmt.FinishECDSA(child, d[:], dsig.GetR(), dsig.GetS()); err != nil {
		t.Fatalf("derived signature does not verify: %v", err)
	}
}
