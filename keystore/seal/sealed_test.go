package seal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestSealedBlobRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		ad, msg []byte
	}{
		{"empty plaintext, no ad", nil, nil},
		{"seed", []byte("mpcsign-keyfile-v1/operator/alice"), bytes.Repeat([]byte{7}, 32)},
		{"binary ad", []byte{0, 1, 2, 0xff}, []byte("secret")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob, err := SealBlob(testPass(), testKDF, tt.ad, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(blob) != blobMinSize+len(tt.msg) {
				t.Fatalf("blob is %d bytes, want %d", len(blob), blobMinSize+len(tt.msg))
			}
			if len(tt.msg) > 0 && bytes.Contains(blob, tt.msg) {
				t.Fatal("the blob holds the plaintext in clear")
			}
			got, err := OpenBlob(testPass(), tt.ad, blob)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !bytes.Equal(got, tt.msg) {
				t.Fatalf("OpenBlob = %q, want %q", got, tt.msg)
			}
			again, err := SealBlob(testPass(), testKDF, tt.ad, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(again[:blobHeaderLen], blob[:blobHeaderLen]) {
				t.Fatal("two seals share salt and nonce")
			}
		})
	}
}

func TestSealedBlobKDF(t *testing.T) {
	blob, err := SealBlob(testPass(), KDFParams{}, nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if kdf, err := parseBlob(blob); err != nil || kdf != DefaultKDF() {
		t.Fatalf("zero KDF params sealed with %+v (%v), want DefaultKDF() %+v", kdf, err, DefaultKDF())
	}
	if _, err := SealBlob(testPass(), KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}, nil, []byte("x")); err == nil ||
		!strings.Contains(err.Error(), "memory") {
		t.Fatalf("SealBlob with 1 MiB of memory: %v, want a KDF range error", err)
	}
	blob, err = SealBlob(testPass(), testKDF, nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if kdf, err := parseBlob(blob); err != nil || kdf != testKDF {
		t.Fatalf("blob records %+v (%v), want %+v", kdf, err, testKDF)
	}
}

func TestSealedBlobErrors(t *testing.T) {
	ad := []byte("operator/alice")
	msg := []byte("private key seed")
	blob, err := SealBlob(testPass(), testKDF, ad, msg)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(blob)) }
	flip := func(i int) []byte { return mutate(func(b []byte) []byte { b[i] ^= 0x01; return b }) }
	setMemory := func(kib uint32) []byte {
		return mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[6:], kib); return b })
	}
	tests := []struct {
		name    string
		pass    Passphrase
		ad      []byte
		blob    []byte
		wantErr error
	}{
		{"wrong passphrase", NewPassphrase([]byte("wrong horse battery staple")), ad, blob, ErrWrongPassphrase},
		{"empty passphrase", Passphrase{}, ad, blob, ErrNoPassphrase},
		{"other ad", testPass(), []byte("operator/mallory"), blob, ErrTampered},
		{"no ad", testPass(), nil, blob, ErrTampered},
		{"empty blob", testPass(), ad, nil, ErrTampered},
		{"version", testPass(), ad, flip(0), ErrTampered},
		{"kdf id", testPass(), ad, flip(1), ErrTampered},
		{"kdf time out of range", testPass(), ad, mutate(func(b []byte) []byte { b[5] = 0; return b }), ErrTampered},
		{"kdf memory out of range", testPass(), ad, setMemory(1 << 30), ErrTampered},
		{"kdf threads out of range", testPass(), ad, mutate(func(b []byte) []byte { b[10] = 0; return b }), ErrTampered},
		// Another valid cost derives another KEK: indistinguishable from a
		// wrong passphrase.
		{"kdf memory changed", testPass(), ad, setMemory(testKDF.MemoryKiB + 1024), ErrWrongPassphrase},
		{"salt", testPass(), ad, flip(11), ErrWrongPassphrase},
		{"key check", testPass(), ad, flip(blobAuthLen), ErrWrongPassphrase},
		{"nonce", testPass(), ad, flip(blobAuthLen + blobCheckSize), ErrTampered},
		{"ciphertext", testPass(), ad, flip(blobHeaderLen), ErrTampered},
		{"tag", testPass(), ad, flip(len(blob) - 1), ErrTampered},
		{"truncated header", testPass(), ad, blob[:blobHeaderLen], ErrTampered},
		{"truncated tag", testPass(), ad, blob[:len(blob)-1], ErrTampered},
		{"appended byte", testPass(), ad, append(bytes.Clone(blob), 0), ErrTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenBlob(tt.pass, tt.ad, tt.blob)
			if !errors.Is(err, tt.wantErr) || got != nil {
				t.Fatalf("OpenBlob = %q, %v; want %v", got, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), string(msg)) || strings.Contains(err.Error(), "horse") {
				t.Fatalf("error %q leaks a secret", err)
			}
		})
	}
	if _, err := SealBlob(Passphrase{}, testKDF, nil, msg); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("SealBlob with an empty passphrase: %v, want ErrNoPassphrase", err)
	}
}

// cheapKDF rewrites valid but costly KDF parameters in a fuzzed blob to
// testKDF, so that the fuzzer does not spend its time in Argon2id (the
// bounds allow 4 GiB). Parameters out of bounds are kept: they exercise the
// parser.
func cheapKDF(blob []byte) []byte {
	if len(blob) < blobAuthLen {
		return blob
	}
	kdf := KDFParams{Time: binary.BigEndian.Uint32(blob[2:]), MemoryKiB: binary.BigEndian.Uint32(blob[6:]), Threads: blob[10]}
	if kdf.Validate() != nil || kdf == testKDF {
		return blob
	}
	b := bytes.Clone(blob)
	binary.BigEndian.PutUint32(b[2:], testKDF.Time)
	binary.BigEndian.PutUint32(b[6:], testKDF.MemoryKiB)
	b[10] = testKDF.Threads
	return b
}

func FuzzOpenBlob(f *testing.F) {
	sealed, err := SealBlob(testPass(), testKDF, []byte("ad"), []byte("sealed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("ad"), sealed)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{}, []byte{blobVersion1})
	f.Add([]byte("ad"), make([]byte, blobMinSize))
	f.Add([]byte("ad"), sealed[:blobMinSize])
	f.Fuzz(func(t *testing.T, ad, data []byte) {
		// Arbitrary bytes: no panic; an error is one of the two, never
		// with a plaintext.
		data = cheapKDF(data)
		if pt, err := OpenBlob(testPass(), ad, data); err != nil {
			if pt != nil || !(errors.Is(err, ErrTampered) || errors.Is(err, ErrWrongPassphrase)) {
				t.Fatalf("OpenBlob: %q, %v", pt, err)
			}
		}

		// Round trip: data as a plaintext, bound to ad.
		blob, err := SealBlob(testPass(), testKDF, ad, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenBlob(testPass(), ad, blob)
		if err != nil || got == nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, data)
		}
		if _, err := OpenBlob(testPass(), append(bytes.Clone(ad), 0), blob); !errors.Is(err, ErrTampered) {
			t.Fatalf("blob opened with another ad: %v", err)
		}
		// A flipped bit in the ciphertext or tag is caught.
		i := blobHeaderLen + len(ad)%(len(blob)-blobHeaderLen)
		blob[i] ^= 0x80
		if _, err := OpenBlob(testPass(), ad, blob); !errors.Is(err, ErrTampered) {
			t.Fatalf("blob with byte %d flipped: %v", i, err)
		}
	})
}

// TestSealedBlobGolden opens a blob sealed by the code before it moved from
// package keystore: the format (and its domain strings) must not change.
func TestSealedBlobGolden(t *testing.T) {
	const golden = "01010000000100002000018dcf4143c745417b4071f7d1c8057ea10b406c5e4c893a497070190c274a48178d043e1d671171c57bd03d334d39e7b8d097e44d2468fb860107188a510932abbb34cb6787a814bf964f0e99cf250546de0f6977c48768cc"
	blob, err := hex.DecodeString(golden)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenBlob(testPass(), []byte("operator/alice"), blob)
	if err != nil || string(got) != "golden plaintext" {
		t.Fatalf("OpenBlob(golden) = %q, %v", got, err)
	}
	if _, err := OpenBlob(testPass(), []byte("operator/bob"), blob); !errors.Is(err, ErrTampered) {
		t.Fatalf("golden blob under another ad: %v, want ErrTampered", err)
	}
}
