package resharing

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeAttestation: DecodeAttestation never panics, and what it accepts
// is exactly the encoding of what it returns.
func FuzzDecodeAttestation(f *testing.F) {
	for _, curve := range []string{CurveSecp256k1, CurveEd25519} {
		fx := newFixture(curve, 3, 1)
		for i := range fx.devs {
			b, err := EncodeAttestation(fx.attestation(i))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := DecodeAttestation(raw)
		if err != nil {
			return
		}
		again, err := EncodeAttestation(a)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", raw, err)
		}
		if !bytes.Equal(again, raw) {
			t.Fatalf("round trip changed the bytes:\n%q\n%q", raw, again)
		}
		b, err := DecodeAttestation(again)
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("second decode: %v", err)
		}
	})
}

// FuzzDecodeCertificate: DecodeCertificate never panics, what it accepts
// round-trips byte for byte, and verifying it never panics.
//
// The seeds are kilobytes of JSON, and Go's fuzzer minimizes every new
// interesting input for up to -fuzzminimizetime (60s by default), during
// which it reports no executions and looks stuck. Run it as
//
//	go test -run '^$' -fuzz FuzzDecodeCertificate -fuzzminimizetime 100x ./resharing
func FuzzDecodeCertificate(f *testing.F) {
	fx := newFixture(CurveSecp256k1, 3, 1)
	c := fx.cert(f)
	for _, path := range []string{"", testPath} {
		c.TestPath = path
		b, err := EncodeCertificate(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"key_id":"k","epoch":1,"attestations":[],"test_nonce":"","test_signature":""}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := DecodeCertificate(raw)
		if err != nil {
			return
		}
		again, err := EncodeCertificate(c)
		if err != nil {
			t.Fatalf("decoded but cannot encode: %v", err)
		}
		if !bytes.Equal(again, raw) {
			t.Fatalf("round trip changed the bytes:\n%q\n%q", raw, again)
		}
		d, err := DecodeCertificate(again)
		if err != nil || !reflect.DeepEqual(c, d) {
			t.Fatalf("second decode: %v", err)
		}
		_, _ = c.Verify(fx.keyID, fx.curve, fx.pub, fx.dir)
	})
}
