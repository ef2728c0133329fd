package keystore

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

func testAEAD(t testing.TB) cipher.AEAD {
	a, err := chacha20poly1305.NewX(bytes.Repeat([]byte{7}, dataKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRecordSealOpen(t *testing.T) {
	a := testAEAD(t)
	rec := sealRecord(a, "k", []byte("value"))
	if len(rec) != recordOverhead+len("value") || rec[0] != recordVersion1 {
		t.Fatalf("sealed record has length %d, version %d", len(rec), rec[0])
	}
	if bytes.Contains(rec, []byte("value")) {
		t.Fatal("sealed record contains the plaintext")
	}
	if again := sealRecord(a, "k", []byte("value")); bytes.Equal(again, rec) {
		t.Fatal("two seals of the same value are identical (nonce reuse)")
	}
	got, err := openRecord(a, "k", rec)
	if err != nil || string(got) != "value" {
		t.Fatalf("openRecord = %q, %v", got, err)
	}
	other, _ := chacha20poly1305.NewX(bytes.Repeat([]byte{8}, dataKeySize))
	if _, err := openRecord(other, "k", rec); !errors.Is(err, ErrTampered) {
		t.Fatalf("open under another data key: %v, want ErrTampered", err)
	}
}

// FuzzOpenRecord checks that the record decoder never panics on arbitrary
// bytes, only ever fails with ErrTampered, and that seal/open round-trips and
// binds the record key.
func FuzzOpenRecord(f *testing.F) {
	a := testAEAD(f)
	f.Add("k", []byte{})
	f.Add("share/k1/epoch/1", []byte("share"))
	f.Add("k", []byte{recordVersion1})
	f.Add("k", make([]byte, recordOverhead))
	f.Add("k", sealRecord(a, "k", []byte("sealed")))
	f.Add("\x00keystore/header", bytes.Repeat([]byte{0xff}, 200))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		// Decoding arbitrary bytes: no panic, ErrTampered or (for a seed
		// that really is a record for key) success.
		if pt, err := openRecord(a, key, data); err != nil {
			if !errors.Is(err, ErrTampered) || pt != nil {
				t.Fatalf("openRecord error %v with plaintext %q", err, pt)
			}
			// The error names the key (quoted); it must not echo the record
			// (a record that spells the quoted key is the key, not an echo).
			if msg := strings.ReplaceAll(err.Error(), strconv.Quote(key), ""); len(data) > 8 &&
				!strings.Contains(key, string(data)) && strings.Contains(msg, string(data)) {
				t.Fatalf("error %q contains the record bytes", err)
			}
		}

		// Round trip: data as a plaintext.
		rec := sealRecord(a, key, data)
		got, err := openRecord(a, key, rec)
		if err != nil || !bytes.Equal(got, data) || got == nil {
			t.Fatalf("round trip: %q, %v; want %q", got, err, data)
		}
		// Bound to its key.
		if _, err := openRecord(a, key+"x", rec); !errors.Is(err, ErrTampered) {
			t.Fatalf("record opened under another key: %v", err)
		}
		// Any single flipped bit, anywhere, is caught.
		i := len(data) % len(rec)
		rec[i] ^= 0x80
		if _, err := openRecord(a, key, rec); !errors.Is(err, ErrTampered) {
			t.Fatalf("record with byte %d flipped opened: %v", i, err)
		}
	})
}

// FuzzParseHeader checks that the header decoder never panics and that a
// header survives marshal/parse.
func FuzzParseHeader(f *testing.F) {
	h := &header{version: headerVersion1, kdf: testKDF}
	f.Add(h.marshal())
	f.Add([]byte{})
	f.Add([]byte{headerVersion1, kdfArgon2id})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader(data)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("parseHeader error %v does not wrap ErrTampered", err)
			}
			return
		}
		if !bytes.Equal(h.marshal(), data) {
			t.Fatalf("marshal(parse(x)) != x")
		}
	})
}
