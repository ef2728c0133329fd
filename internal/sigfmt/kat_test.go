package sigfmt

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"os"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// katFile is testdata/ecdsa_kat.json; its "description" says how it was made.
type katFile struct {
	Description []string    `json:"description"`
	Vectors     []katVector `json:"vectors"`
}

type katVector struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	PrivateKey string `json:"private_key"`
	Message    string `json:"message"`
	Digest     string `json:"digest"`
	PublicKey  string `json:"public_key"`
	RIn        string `json:"r_in"`
	SIn        string `json:"s_in"`
	R          string `json:"r"`
	S          string `json:"s"`
	V          byte   `json:"v"`
	DER        string `json:"der"`
	RSV        string `json:"rsv"`
}

func loadKAT(t *testing.T) katFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/ecdsa_kat.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f katFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return f
}

func TestKnownAnswerVectors(t *testing.T) {
	f := loadKAT(t)

	// The file must keep covering what it is there to cover.
	var highS, lowS, v0, v1, shortR int
	for _, v := range f.Vectors {
		if new(big.Int).SetBytes(mustHex(t, v.SIn)).Cmp(halfN) > 0 {
			highS++
		} else {
			lowS++
		}
		switch v.V {
		case 0:
			v0++
		case 1:
			v1++
		}
		if len(mustHex(t, v.RIn)) < 32 {
			shortR++
		}
	}
	if len(f.Vectors) < 10 || highS == 0 || lowS == 0 || v0 == 0 || v1 == 0 || shortR == 0 || len(f.Description) == 0 {
		t.Fatalf("vector file lost coverage: %d vectors, high-S in %d, low-S in %d, V=0 %d, V=1 %d, short r %d",
			len(f.Vectors), highS, lowS, v0, v1, shortR)
	}

	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			priv := secp256k1.PrivKeyFromBytes(mustHex(t, v.PrivateKey))
			pubC := mustHex(t, v.PublicKey)
			digest := mustHex(t, v.Digest)
			rIn, sIn := mustHex(t, v.RIn), mustHex(t, v.SIn)
			wantR, wantS := mustHex(t, v.R), mustHex(t, v.S)
			wantDER, wantRSV := mustHex(t, v.DER), mustHex(t, v.RSV)

			// The file is self-consistent and matches an independent signer.
			if got := priv.PubKey().SerializeCompressed(); !bytes.Equal(got, pubC) {
				t.Fatalf("public_key %x, private key gives %x", pubC, got)
			}
			if v.Message != "" {
				if h := sha256.Sum256([]byte(v.Message)); !bytes.Equal(h[:], digest) {
					t.Fatalf("digest %x != sha256(message) %x", digest, h)
				}
			}
			sig := ecdsa.Sign(priv, digest)
			rs, ss := sig.R(), sig.S()
			if r, s := rs.Bytes(), ss.Bytes(); !bytes.Equal(r[:], wantR) || !bytes.Equal(s[:], wantS) {
				t.Fatalf("file r,s = %x,%x; decred RFC 6979 gives %x,%x", wantR, wantS, r, s)
			}
			if code := ecdsa.SignCompact(priv, digest, true)[0] - 27 - 4; code != v.V {
				t.Fatalf("file v = %d; decred SignCompact gives %d", v.V, code)
			}
			if !bytes.Equal(sig.Serialize(), wantDER) {
				t.Fatalf("file der %x; decred gives %x", wantDER, sig.Serialize())
			}
			if !bytes.Equal(wantRSV, concat(wantR, wantS, []byte{v.V})) {
				t.Fatalf("file rsv %x is not r||s||v", wantRSV)
			}
			if new(big.Int).SetBytes(rIn).Cmp(new(big.Int).SetBytes(wantR)) != 0 {
				t.Fatalf("r_in %x is not r %x", rIn, wantR)
			}
			if !bytes.Equal(be32(new(big.Int).SetBytes(sIn)), wantS) && !bytes.Equal(negS(sIn), wantS) {
				t.Fatalf("s_in %x is neither s nor N-s", sIn)
			}

			// FinishECDSA reproduces the expected outputs, from either member
			// of the (s, N-s) pair.
			for name, s := range map[string][]byte{"s_in": sIn, "N - s_in": negS(sIn)} {
				got, err := FinishECDSA(pubC, digest, rIn, s)
				if err != nil {
					t.Fatalf("%s: FinishECDSA: %v", name, err)
				}
				if !bytes.Equal(got.R[:], wantR) || !bytes.Equal(got.S[:], wantS) {
					t.Errorf("%s: R,S = %x,%x want %x,%x", name, got.R, got.S, wantR, wantS)
				}
				if got.V != v.V {
					t.Errorf("%s: V = %d want %d", name, got.V, v.V)
				}
				if !bytes.Equal(got.DER, wantDER) {
					t.Errorf("%s: DER = %x want %x", name, got.DER, wantDER)
				}
				if !bytes.Equal(got.RSV[:], wantRSV) {
					t.Errorf("%s: RSV = %x want %x", name, got.RSV, wantRSV)
				}
			}
			if err := VerifyDER(pubC, digest, wantDER); err != nil {
				t.Fatalf("VerifyDER: %v", err)
			}
		})
	}
}
