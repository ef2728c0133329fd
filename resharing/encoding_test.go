package resharing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestDecodeAttestation(t *testing.T) {
	t.Parallel()
	f := newFixture(CurveSecp256k1, 3, 1)
	good, err := EncodeAttestation(f.attestation(1))
	if err != nil {
		t.Fatal(err)
	}
	// re-encode a generic JSON object after change (keys in sorted order,
	// so also not canonical unless the change is on the struct).
	field := func(change func(*Attestation)) []byte {
		a := f.attestation(1)
		change(&a)
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{name: "canonical", raw: good, ok: true},
		{name: "ed25519 without chain code", raw: mustEncode(t, newFixture(CurveEd25519, 2, 1).attestation(0)), ok: true},
		{name: "trailing newline", raw: append(bytes.Clone(good), '\n')},
		{name: "second value", raw: append(bytes.Clone(good), good...)},
		{name: "space after a comma", raw: bytes.Replace(good, []byte(`,"epoch"`), []byte(`, "epoch"`), 1)},
		{name: "upper-case key", raw: bytes.Replace(good, []byte(`"epoch"`), []byte(`"EPOCH"`), 1)},
		{name: "duplicate key", raw: bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":1,"v":1,`), 1)},
		{name: "unknown field", raw: bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":1,"x":1,`), 1)},
		{name: "escaped character", raw: bytes.Replace(good, []byte(`"wallet-7"`), []byte(`"wallet\u002d7"`), 1)},
		{name: "too large", raw: append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxAttestationSize)...)},
		{name: "version 2", raw: field(func(a *Attestation) { a.Version = 2 })},
		{name: "unknown curve", raw: field(func(a *Attestation) { a.Curve = "p256" })},
		{name: "public key length", raw: field(func(a *Attestation) { a.PublicKey = a.PublicKey[:32] })},
		{name: "chain code length", raw: field(func(a *Attestation) { a.ChainCode = a.ChainCode[:31] })},
		{name: "chain code on ed25519", raw: field(func(a *Attestation) {
			a.Curve, a.PublicKey, a.ShareCommitment = CurveEd25519, a.PublicKey[:32], a.PublicKey[:32]
		})},
		{name: "negative threshold", raw: field(func(a *Attestation) { a.Threshold = -1 })},
		{name: "committee not above threshold", raw: field(func(a *Attestation) { a.Threshold = 3 })},
		{name: "committee unsorted", raw: field(func(a *Attestation) { a.Committee[0], a.Committee[1] = a.Committee[1], a.Committee[0] })},
		{name: "committee repeats", raw: field(func(a *Attestation) { a.Committee[0] = a.Committee[1] })},
		{name: "bad device id", raw: field(func(a *Attestation) { a.Committee[0] = "a b" })},
		{name: "holder outside the committee", raw: field(func(a *Attestation) { a.Holder = "zzz" })},
		{name: "share commitment length", raw: field(func(a *Attestation) { a.ShareCommitment = nil })},
		{name: "empty key id", raw: field(func(a *Attestation) { a.KeyID = "" })},
		{name: "key id with a slash", raw: field(func(a *Attestation) { a.KeyID = "a/b" })},
		{name: "key id too long", raw: field(func(a *Attestation) { a.KeyID = strings.Repeat("k", MaxKeyIDLen+1) })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := DecodeAttestation(tc.raw)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if again, err := EncodeAttestation(a); err != nil || !bytes.Equal(again, tc.raw) {
					t.Fatalf("round trip: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func mustEncode(t *testing.T, a Attestation) []byte {
	t.Helper()
	b, err := EncodeAttestation(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCertificateEncoding(t *testing.T) {
	t.Parallel()
	f := newFixture(CurveSecp256k1, 3, 1)
	c := f.cert(t)
	c.TestPath = testPath
	good, err := EncodeCertificate(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCertificate(good)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, c)
	}
	bad := map[string][]byte{
		"version 2":      bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":2,`), 1),
		"unknown field":  bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":1,"x":1,`), 1),
		"trailing space": append(bytes.Clone(good), ' '),
		"empty path":     bytes.Replace(good, []byte(`"test_path":"`+testPath+`",`), []byte(`"test_path":"",`), 1),
		"too large":      append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxCertificateSize)...),
		"null":           []byte("null"),
	}
	for name, raw := range bad {
		if _, err := DecodeCertificate(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	if _, err := EncodeCertificate(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil certificate: got %v", err)
	}
	for name, change := range map[string]func(*Certificate){
		"short test signature":   func(c *Certificate) { c.TestSignature = c.TestSignature[:63] },
		"short attestation sig":  func(c *Certificate) { c.Attestations[1].Signature = c.Attestations[1].Signature[:63] },
		"empty attestation body": func(c *Certificate) { c.Attestations[1].Body = nil },
		"no attestations":        func(c *Certificate) { c.Attestations = nil },
		"too many attestations":  func(c *Certificate) { c.Attestations = manyAttestations(MaxCommittee+1, 1) },
		"epoch 0":                func(c *Certificate) { c.Epoch = 0 },
		"short nonce":            func(c *Certificate) { c.TestNonce = c.TestNonce[:MinTestNonce-1] },
		"long nonce":             func(c *Certificate) { c.TestNonce = make([]byte, MaxTestNonce+1) },
		"bad key id":             func(c *Certificate) { c.KeyID = "a b" },
		"hardened path":          func(c *Certificate) { c.TestPath = "m/0'" },
		"larger than the limit":  func(c *Certificate) { c.Attestations = manyAttestations(MaxCommittee, 5<<10) },
	} {
		d := *c
		d.Attestations = slices.Clone(c.Attestations)
		change(&d)
		if _, err := EncodeCertificate(&d); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

// manyAttestations is n attestations of the right shape (not content).
func manyAttestations(n, bodyLen int) []SignedAttestation {
	out := make([]SignedAttestation, n)
	for i := range out {
		out[i] = SignedAttestation{Body: bytes.Repeat([]byte("x"), bodyLen), Signature: make([]byte, 64)}
	}
	return out
}

func TestAttest(t *testing.T) {
	t.Parallel()
	f := newFixture(CurveEd25519, 2, 1)
	sa := signAs(t, f.attestation(0), f.devs[0])
	if !ed25519.Verify(f.dir[f.devs[0].id], AttestationMessage(sa.Body), sa.Signature) {
		t.Fatal("Attest's signature does not verify")
	}
	if _, err := Attest(f.attestation(0), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil signer: got %v", err)
	}
	short := func([]byte) []byte { return make([]byte, 63) }
	if _, err := Attest(f.attestation(0), short); !errors.Is(err, ErrMalformed) {
		t.Errorf("short signature: got %v", err)
	}
	bad := f.attestation(0)
	bad.Holder = "not-a-member"
	if _, err := Attest(bad, func(m []byte) []byte { return ed25519.Sign(f.devs[0].priv, m) }); !errors.Is(err, ErrMalformed) {
		t.Errorf("invalid attestation: got %v", err)
	}
}

// TestMaxCommitteeFits checks the size arithmetic of MaxCommittee: a
// certificate of the largest committee, with device ids of the form
// identity.DeviceID makes and the longest key id, encodes within
// MaxCertificateSize, decodes and verifies.
func TestMaxCommitteeFits(t *testing.T) {
	t.Parallel()
	f := newFixture(CurveSecp256k1, MaxCommittee, MaxCommittee-1)
	f.keyID = strings.Repeat("k", MaxKeyIDLen)
	f.epoch = 1<<64 - 1
	c := f.cert(t)
	raw, err := EncodeCertificate(c)
	if err != nil {
		t.Fatalf("a %d-member certificate does not encode: %v", MaxCommittee, err)
	}
	t.Logf("%d-member certificate: %d bytes of %d", MaxCommittee, len(raw), MaxCertificateSize)
	dec, err := DecodeCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Verify(f.keyID, f.curve, f.pub, f.dir); err != nil {
		t.Fatal(err)
	}
	big := newFixture(CurveSecp256k1, MaxCommittee+1, 1)
	if _, err := EncodeAttestation(big.attestation(0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a committee above MaxCommittee: got %v", err)
	}
}

func TestTestDigest(t *testing.T) {
	t.Parallel()
	nonce := seed("nonce")[:16]
	d, err := TestDigest("k", 1, nonce)
	if err != nil {
		t.Fatal(err)
	}
	// Known answer, computed independently (Python hashlib):
	// sha256(b"mpcsign/v1/reshare-test-signature\x00" + b"k" + b"\x00" + (1).to_bytes(8, "big") + nonce)
	if got := hex.EncodeToString(d); got != "b3a9edc7969a68d939d7454bf03a48c94b4ff85e0fbaa1f26393abf90bf436d8" {
		t.Fatalf("TestDigest = %s", got)
	}
	// and the attestation message: label || SHA-256(body)
	msg := AttestationMessage([]byte(`{"v":1}`))
	if got := string(msg[:31]) + hex.EncodeToString(msg[31:]); got != "mpcsign/v1/reshare-attestation\x00afbf9d0f3560b0fd7795e81c42a0a79ee6b6fc67e064f77826aee642cad28d91" {
		t.Fatalf("AttestationMessage = %q", got)
	}
	for _, other := range []struct {
		key   string
		epoch uint64
		nonce []byte
	}{{"k", 2, nonce}, {"l", 1, nonce}, {"k", 1, seed("other")[:16]}} {
		o, err := TestDigest(other.key, other.epoch, other.nonce)
		if err != nil || bytes.Equal(o, d) {
			t.Errorf("%v: same digest or error %v", other, err)
		}
	}
	for name, call := range map[string]func() ([]byte, error){
		"epoch 0":      func() ([]byte, error) { return TestDigest("k", 0, nonce) },
		"short nonce":  func() ([]byte, error) { return TestDigest("k", 1, nonce[:15]) },
		"long nonce":   func() ([]byte, error) { return TestDigest("k", 1, make([]byte, 65)) },
		"key id 0x00":  func() ([]byte, error) { return TestDigest("k\x00", 1, nonce) },
		"empty key id": func() ([]byte, error) { return TestDigest("", 1, nonce) },
	} {
		if _, err := call(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}
