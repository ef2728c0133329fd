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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

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

// TestEncodeFormat pins the encoding the package documents.
func TestEncodeFormat(t *testing.T) {
	b := newBody()
	b.Requester = strings.Repeat("ab", 16)
	raw, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"requester":"` + b.Requester + `","key_id":"k1","kind":"digest","items":["` + b.Items[0] + `","` + b.Items[1] +
		`"],"path":"m/44/60/0/0/7","request_id":"pay-1","expires":1700000300,"nonce":"` + testNonce + `"}`
	if string(raw) != want {
		t.Fatalf("Encode:\n%s\nwant\n%s", raw, want)
	}
	got, err := Decode(raw)
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("Decode: %+v %v", got, err)
	}
	// No path: the field is left out.
	b.Path = ""
	raw, err = Encode(b)
	if err != nil || strings.Contains(string(raw), "path") {
		t.Fatalf("Encode without a path: %s %v", raw, err)
	}
	if got, err := Decode(raw); err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("Decode without a path: %+v %v", got, err)
	}
}

func TestEncode(t *testing.T) {
	items := func(n int) []string {
		var out []string
		for i := range n {
			d := sha256.Sum256([]byte{byte(i)})
			out = append(out, hex.EncodeToString(d[:]))
		}
		return out
	}
	valid := func(b Body) Body {
		b.Requester = strings.Repeat("0a", 16)
		return b
	}
	tests := []struct {
		name string
		edit func(*Body)
		ok   bool
	}{
		{"valid", func(*Body) {}, true},
		{"message", func(b *Body) { b.Kind = KindMessage }, true},
		{"no path", func(b *Body) { b.Path = "" }, true},
		{"path of one step", func(b *Body) { b.Path = "m/0" }, true},
		{"64 items", func(b *Body) { b.Items = items(MaxItems) }, true},
		{"request id of 128 bytes", func(b *Body) { b.RequestID = strings.Repeat("r", MaxRequestID) }, true},
		{"request id of 128 bytes in 2-byte runes", func(b *Body) { b.RequestID = strings.Repeat("é", MaxRequestID/2) }, true},
		{"request id with HTML", func(b *Body) { b.RequestID = `<a href="x">&amp;</a>` }, true},
		{"request id with a space", func(b *Body) { b.RequestID = "pay 1" }, true},
		{"key id of 128", func(b *Body) { b.KeyID = strings.Repeat("k", 128) }, true},
		{"key id with . _ : -", func(b *Body) { b.KeyID = "a.b_c:d-E9" }, true},

		{"version 0", func(b *Body) { b.Version = 0 }, false},
		{"version 2", func(b *Body) { b.Version = 2 }, false},
		{"no requester", func(b *Body) { b.Requester = "" }, false},
		{"requester of 31", func(b *Body) { b.Requester = b.Requester[:31] }, false},
		{"requester of 33", func(b *Body) { b.Requester += "0" }, false},
		{"requester in upper case", func(b *Body) { b.Requester = strings.Repeat("0A", 16) }, false},
		{"requester not hex", func(b *Body) { b.Requester = strings.Repeat("0g", 16) }, false},
		{"no key id", func(b *Body) { b.KeyID = "" }, false},
		{"key id of 129", func(b *Body) { b.KeyID = strings.Repeat("k", 129) }, false},
		{"key id with a space", func(b *Body) { b.KeyID = "k 1" }, false},
		{"key id with a slash", func(b *Body) { b.KeyID = "k/1" }, false},
		{"key id all keys", func(b *Body) { b.KeyID = roster.AllKeysGrant }, false},
		{"no kind", func(b *Body) { b.Kind = "" }, false},
		{"kind in upper case", func(b *Body) { b.Kind = "Digest" }, false},
		{"unknown kind", func(b *Body) { b.Kind = "signature" }, false},
		{"no items", func(b *Body) { b.Items = nil }, false},
		{"empty items", func(b *Body) { b.Items = []string{} }, false},
		{"65 items", func(b *Body) { b.Items = items(MaxItems + 1) }, false},
		{"item of 63", func(b *Body) { b.Items[1] = b.Items[1][:63] }, false},
		{"item of 66", func(b *Body) { b.Items[1] += "00" }, false},
		{"item in upper case", func(b *Body) { b.Items[1] = strings.ToUpper(b.Items[1]) }, false},
		{"item not hex", func(b *Body) { b.Items[0] = "g" + b.Items[0][1:] }, false},
		{"empty item", func(b *Body) { b.Items[0] = "" }, false},
		{"root path", func(b *Body) { b.Path = "m" }, false},
		{"hardened path", func(b *Body) { b.Path = "m/44'/60" }, false},
		{"hardened index", func(b *Body) { b.Path = "m/2147483648" }, false},
		{"path without m/", func(b *Body) { b.Path = "44/60" }, false},
		{"path with a leading zero", func(b *Body) { b.Path = "m/44/060" }, false},
		{"path with a trailing slash", func(b *Body) { b.Path = "m/44/" }, false},
		{"path of 33 steps", func(b *Body) { b.Path = "m" + strings.Repeat("/1", 33) }, false},
		{"no request id", func(b *Body) { b.RequestID = "" }, false},
		{"request id of 129 bytes", func(b *Body) { b.RequestID = strings.Repeat("r", MaxRequestID+1) }, false},
		{"request id of 129 bytes in runes", func(b *Body) { b.RequestID = "r" + strings.Repeat("é", MaxRequestID/2) }, false},
		{"request id with a newline", func(b *Body) { b.RequestID = "pay\n1" }, false},
		{"request id with a tab", func(b *Body) { b.RequestID = "pay\t1" }, false},
		{"request id with NUL", func(b *Body) { b.RequestID = "pay\x001" }, false},
		{"request id with U+2028", func(b *Body) { b.RequestID = "pay\u20281" }, false},
		{"request id not UTF-8", func(b *Body) { b.RequestID = "pay\xff" }, false},
		{"expires 0", func(b *Body) { b.Expires = 0 }, false},
		{"expires negative", func(b *Body) { b.Expires = -1 }, false},
		{"no nonce", func(b *Body) { b.Nonce = "" }, false},
		{"nonce of 31", func(b *Body) { b.Nonce = b.Nonce[:31] }, false},
		{"nonce of 64", func(b *Body) { b.Nonce += b.Nonce }, false},
		{"nonce in upper case", func(b *Body) { b.Nonce = strings.ToUpper(b.Nonce) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := valid(newBody())
			tc.edit(&b)
			raw, err := Encode(b)
			if !tc.ok {
				wantErr(t, err, ErrMalformed)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode(%s): %v", raw, err)
			}
			if !reflect.DeepEqual(got, b) {
				t.Fatalf("round trip: %+v, want %+v", got, b)
			}
		})
	}
}

func TestDecodeIsCanonical(t *testing.T) {
	b := newBody()
	b.Requester = strings.Repeat("0a", 16)
	b.RequestID = "<pay>&1"
	good, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	if !strings.Contains(s, `"request_id":"\u003cpay\u003e\u00261"`) {
		t.Fatalf("the HTML characters are not escaped: %s", s)
	}
	for _, tc := range []struct{ name, raw string }{
		{"space after a colon", strings.Replace(s, `"v":1`, `"v": 1`, 1)},
		{"space after a comma", strings.Replace(s, `,"key_id"`, `, "key_id"`, 1)},
		{"leading whitespace", " " + s},
		{"trailing newline", s + "\n"},
		{"pretty", strings.ReplaceAll(s, `,"`, ",\n  \"")},
		{"trailing data", s + "{}"},
		{"two values", s + s},
		{"fields reordered", strings.Replace(s, `"key_id":"k1","kind":"digest"`, `"kind":"digest","key_id":"k1"`, 1)},
		{"nonce first", `{"nonce":"` + testNonce + `",` + strings.Replace(s[1:], `,"nonce":"`+testNonce+`"`, ``, 1)},
		{"upper-case item hex", strings.Replace(s, b.Items[0], strings.ToUpper(b.Items[0]), 1)},
		{"upper-case requester hex", strings.Replace(s, b.Requester, strings.ToUpper(b.Requester), 1)},
		{"upper-case nonce hex", strings.Replace(s, testNonce, strings.ToUpper(testNonce), 1)},
		{"unknown field", strings.Replace(s, `{"v":1`, `{"v":1,"admin":true`, 1)},
		{"unknown field at the end", strings.TrimSuffix(s, "}") + `,"x":1}`},
		{"duplicate key", strings.Replace(s, `"key_id":"k1"`, `"key_id":"k2","key_id":"k1"`, 1)},
		{"upper-case field name", strings.Replace(s, `"key_id"`, `"Key_ID"`, 1)},
		{"escaped letter", strings.Replace(s, `"k1"`, `"\u006b1"`, 1)},
		{"unescaped HTML", strings.Replace(s, `\u003cpay\u003e\u00261`, `<pay>&1`, 1)},
		{"other escape of HTML", strings.Replace(s, `\u003cpay`, `\u003Cpay`, 1)},
		{"explicit empty path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":""`, 1)},
		{"null path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":null`, 1)},
		{"null items", strings.Replace(s, `"items":["`+b.Items[0]+`","`+b.Items[1]+`"]`, `"items":null`, 1)},
		{"expires with an exponent", strings.Replace(s, `"expires":1700000300`, `"expires":1.7000003e9`, 1)},
		{"expires with a fraction", strings.Replace(s, `"expires":1700000300`, `"expires":1700000300.0`, 1)},
		{"expires as a string", strings.Replace(s, `"expires":1700000300`, `"expires":"1700000300"`, 1)},
		{"expires with a leading zero", strings.Replace(s, `"expires":1700000300`, `"expires":01700000300`, 1)},
		{"version 2", strings.Replace(s, `"v":1`, `"v":2`, 1)},
		{"version as 1.0", strings.Replace(s, `"v":1`, `"v":1.0`, 1)},
		{"no version", strings.Replace(s, `"v":1,`, ``, 1)},
		{"root path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":"m"`, 1)},
		{"hardened path", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":"m/44'/60/0/0/7"`, 1)},
		{"path without m/", strings.Replace(s, `"path":"m/44/60/0/0/7"`, `"path":"44/60/0/0/7"`, 1)},
		{"no nonce", strings.Replace(s, `,"nonce":"`+testNonce+`"`, ``, 1)},
		{"null", "null"},
		{"empty object", "{}"},
		{"array", "[]"},
		{"not JSON", "{"},
		{"oversize", s + strings.Repeat(" ", MaxBodySize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.raw == s {
				t.Fatal("the test case did not change the encoding")
			}
			if _, err := Decode([]byte(tc.raw)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%.80q): %v, want ErrMalformed", tc.raw, err)
			}
		})
	}
	if _, err := Decode(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode(nil): %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	w := newWorld(t)
	// bodyFor is the canonical body of newBody as the signer's request.
	bodyFor := func(t *testing.T, signer crypto.Signer) []byte { return encodeFor(t, signer, newBody()) }
	// reSigned is the wallet's valid request with its encoding edited, and
	// signed again: only the encoding is wrong.
	reSigned := func(edit func(string) string) func(t *testing.T) *mpcv1.SignedRequest {
		return func(t *testing.T) *mpcv1.SignedRequest {
			s := string(bodyFor(t, w.wallet))
			raw := edit(s)
			if raw == s {
				t.Fatal("the test case did not change the encoding")
			}
			return signRaw(t, w.wallet, []byte(raw))
		}
	}
	edited := func(edit func(*Body)) func(t *testing.T) *mpcv1.SignedRequest {
		return func(t *testing.T) *mpcv1.SignedRequest {
			b := newBody()
			b.Requester = idOf(t, w.wallet.Public())
			edit(&b)
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			return signRaw(t, w.wallet, raw)
		}
	}
	flip := func(signer crypto.Signer, i int) func(t *testing.T) *mpcv1.SignedRequest {
		return func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, signer, newBody())
			if i < 0 {
				i += len(sr.Signature)
			}
			sr.Signature[i] ^= 1
			return sr
		}
	}
	tests := []struct {
		name  string
		build func(t *testing.T) *mpcv1.SignedRequest
		want  error
	}{
		{"ed25519", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.wallet, newBody()) }, nil},
		{"p256", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.kms, newBody()) }, nil},

		{"nil", func(*testing.T) *mpcv1.SignedRequest { return nil }, ErrMissing},
		{"empty", func(*testing.T) *mpcv1.SignedRequest { return &mpcv1.SignedRequest{} }, ErrMissing},
		{"signature without a body", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Body = nil
			return sr
		}, ErrMissing},

		{"not JSON", func(t *testing.T) *mpcv1.SignedRequest { return signRaw(t, w.wallet, []byte("{")) }, ErrMalformed},
		{"null", func(t *testing.T) *mpcv1.SignedRequest { return signRaw(t, w.wallet, []byte("null")) }, ErrMalformed},
		{"no items", edited(func(b *Body) { b.Items = nil }), ErrMalformed},
		{"root path", edited(func(b *Body) { b.Path = "m" }), ErrMalformed},
		{"bad request id", edited(func(b *Body) { b.RequestID = "a\x01" }), ErrMalformed},
		{"expires 0", edited(func(b *Body) { b.Expires = 0 }), ErrMalformed},
		{"version 2", edited(func(b *Body) { b.Version = 2 }), ErrMalformed},
		{"whitespace", reSigned(func(s string) string { return strings.Replace(s, `":`, `": `, -1) }), ErrMalformed},
		{"trailing newline", reSigned(func(s string) string { return s + "\n" }), ErrMalformed},
		{"reordered fields", reSigned(func(s string) string {
			return strings.Replace(s, `"request_id":"pay-1","expires":1700000300`, `"expires":1700000300,"request_id":"pay-1"`, 1)
		}), ErrMalformed},
		{"upper-case item hex", reSigned(func(s string) string {
			it := hex.EncodeToString(digest1[:])
			return strings.Replace(s, it, strings.ToUpper(it), 1)
		}), ErrMalformed},
		{"upper-case requester hex", reSigned(func(s string) string {
			id := idOf(t, w.wallet.Public())
			return strings.Replace(s, id, strings.ToUpper(id), 1)
		}), ErrMalformed},
		{"unknown field", reSigned(func(s string) string { return strings.Replace(s, `{"v":1`, `{"v":1,"admin":true`, 1) }), ErrMalformed},
		{"duplicate field", reSigned(func(s string) string {
			return strings.Replace(s, `"key_id":"k1"`, `"key_id":"k2","key_id":"k1"`, 1)
		}), ErrMalformed},
		{"escaped letter", reSigned(func(s string) string { return strings.Replace(s, `"pay-1"`, `"p\u0061y-1"`, 1) }), ErrMalformed},

		{"unknown requester", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.stranger, newBody()) }, ErrUnknownRequester},
		{"unknown p256 requester", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.strangerP256, newBody()) }, ErrUnknownRequester},
		{"unknown requester with a bad signature", func(t *testing.T) *mpcv1.SignedRequest {
			return &mpcv1.SignedRequest{Body: bodyFor(t, w.stranger)}
		}, ErrUnknownRequester},
		{"revoked requester", func(t *testing.T) *mpcv1.SignedRequest { return mustSign(t, w.old, newBody()) }, ErrRevokedRequester},

		{"ed25519 bit flipped in R", flip(w.wallet, 0), ErrBadSignature},
		{"ed25519 bit flipped in S", flip(w.wallet, -1), ErrBadSignature},
		{"p256 bit flipped", flip(w.kms, -1), ErrBadSignature},
		{"p256 bit flipped in r", flip(w.kms, 6), ErrBadSignature},
		{"body bit flipped", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			other := newBody()
			other.RequestID = "pay-2"
			sr.Body = encodeFor(t, w.wallet, other)
			return sr
		}, ErrBadSignature},
		{"signature of another request", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			other := newBody()
			other.Items = other.Items[:1]
			sr.Signature = mustSign(t, w.wallet, other).Signature
			return sr
		}, ErrBadSignature},
		{"ed25519 signature by another key", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.stranger, bodyFor(t, w.wallet))
		}, ErrBadSignature},
		{"ed25519 signature by another requester", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.old, bodyFor(t, w.wallet))
		}, ErrBadSignature},
		{"p256 signature by another key", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.strangerP256, bodyFor(t, w.kms))
		}, ErrBadSignature},
		{"p256 signature for an ed25519 requester", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.kms, bodyFor(t, w.wallet))
		}, ErrBadSignature},
		{"ed25519 signature for a p256 requester", func(t *testing.T) *mpcv1.SignedRequest {
			return signRaw(t, w.wallet, bodyFor(t, w.kms))
		}, ErrBadSignature},
		{"ed25519 signature of the bare body", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.wallet)
			return &mpcv1.SignedRequest{Body: raw, Signature: ed25519.Sign(w.wallet, raw)}
		}, ErrBadSignature},
		{"ed25519 signature of the hash without the domain", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.wallet)
			h := sha256.Sum256(raw)
			return &mpcv1.SignedRequest{Body: raw, Signature: ed25519.Sign(w.wallet, h[:])}
		}, ErrBadSignature},
		{"p256 signature of SHA-256 of the hash", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.kms)
			h := Hash(raw)
			hh := sha256.Sum256(h[:])
			sig, err := ecdsa.SignASN1(rand.Reader, w.kms, hh[:])
			if err != nil {
				t.Fatal(err)
			}
			return &mpcv1.SignedRequest{Body: raw, Signature: sig}
		}, ErrBadSignature},
		{"empty signature", func(t *testing.T) *mpcv1.SignedRequest {
			return &mpcv1.SignedRequest{Body: bodyFor(t, w.wallet)}
		}, ErrBadSignature},
		{"empty p256 signature", func(t *testing.T) *mpcv1.SignedRequest {
			return &mpcv1.SignedRequest{Body: bodyFor(t, w.kms)}
		}, ErrBadSignature},
		{"ed25519 signature with a byte more", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Signature = append(sr.Signature, 0)
			return sr
		}, ErrBadSignature},
		{"ed25519 signature with a byte less", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Signature = sr.Signature[:63]
			return sr
		}, ErrBadSignature},
		{"p256 signature with a byte more", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.kms, newBody())
			sr.Signature = append(sr.Signature, 0)
			return sr
		}, ErrBadSignature},
		{"p256 signature as raw r||s", func(t *testing.T) *mpcv1.SignedRequest {
			raw := bodyFor(t, w.kms)
			h := Hash(raw)
			r, s, err := ecdsa.Sign(rand.Reader, w.kms, h[:])
			if err != nil {
				t.Fatal(err)
			}
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
			return &mpcv1.SignedRequest{Body: raw, Signature: sig}
		}, ErrBadSignature},
		{"too long signature", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.kms, newBody())
			sr.Signature = append(sr.Signature, make([]byte, MaxSignatureSize+1-len(sr.Signature))...)
			return sr
		}, ErrBadSignature},
		{"huge signature", func(t *testing.T) *mpcv1.SignedRequest {
			sr := mustSign(t, w.wallet, newBody())
			sr.Signature = bytes.Repeat(sr.Signature, 1000)
			return sr
		}, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := tc.build(t)
			b, r, err := Verify(w.st, sr)
			wantErr(t, err, tc.want)
			if err != nil {
				if !reflect.DeepEqual(b, Body{}) || !reflect.DeepEqual(r, roster.RequesterState{}) {
					t.Fatalf("a refused request returned %+v %+v", b, r)
				}
				return
			}
			if r.ID != b.Requester || !r.Active {
				t.Fatalf("requester %+v for body %+v", r, b)
			}
		})
	}
}

// TestVerifyUsesTheRoster: a request signed while its requester was active
// is refused once the roster revokes it, and a re-grant applies at once.
func TestVerifyUsesTheRoster(t *testing.T) {
	w := newWorld(t)
	sr := mustSign(t, w.wallet, newBody())
	b, r, err := Verify(w.st, sr)
	if err != nil {
		t.Fatal(err)
	}
	s := Session{KeyID: "k1", Path: "m/44/60/0/0/7", Data: digest0[:]}
	if err := Check(b, r.Requester, s, t0); err != nil {
		t.Fatal(err)
	}
	before := w.st.Clone()

	// New grants without k1.
	w.addRequester(t, w.wallet.Public(), "wallet", []string{"k2"}, nil)
	b, r, err = Verify(w.st, sr)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, Check(b, r.Requester, s, t0), ErrNotAllowed)

	w.revokeRequester(t, w.wallet.Public())
	_, _, err = Verify(w.st, sr)
	wantErr(t, err, ErrRevokedRequester)

	// The earlier state still accepts it (the device's state is what counts).
	if _, _, err := Verify(before, sr); err != nil {
		t.Fatal(err)
	}
}

func TestVerifySignature(t *testing.T) {
	w := newWorld(t)
	raw := bodyOf(t, w.wallet)
	sig := signRaw(t, w.wallet, raw).Signature
	good := w.requester(t, w.wallet.Public())
	if err := VerifySignature(good, raw, sig); err != nil {
		t.Fatal(err)
	}
	// A requester record that the roster would not hold refuses, without
	// panicking (ed25519.Verify panics on a short key).
	for name, r := range map[string]roster.Requester{
		"short ed25519 key":   {Algorithm: roster.AlgEd25519, PublicKey: good.PublicKey[:31]},
		"no key":              {Algorithm: roster.AlgEd25519},
		"unknown algorithm":   {Algorithm: "ed448", PublicKey: good.PublicKey},
		"no algorithm":        {PublicKey: good.PublicKey},
		"ed25519 key as p256": {Algorithm: roster.AlgP256, PublicKey: good.PublicKey},
		"p256 point off the curve": {Algorithm: roster.AlgP256, PublicKey: func() []byte {
			k := w.requester(t, w.kms.Public()).PublicKey
			k[64] ^= 1
			return k
		}()},
	} {
		if err := VerifySignature(r, raw, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The P-256 requester's signature does not verify under its key with
	// another body.
	kraw := bodyOf(t, w.kms)
	ksig := signRaw(t, w.kms, kraw).Signature
	kms := w.requester(t, w.kms.Public())
	if err := VerifySignature(kms, kraw, ksig); err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(kms, raw, ksig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another body: %v", err)
	}
}

func bodyOf(t testing.TB, signer crypto.Signer) []byte { return encodeFor(t, signer, newBody()) }

func TestKeyOf(t *testing.T) {
	w := newWorld(t)
	alg, key, id, err := KeyOf(w.wallet.Public())
	if err != nil || alg != roster.AlgEd25519 || !bytes.Equal(key, w.wallet.Public().(ed25519.PublicKey)) || id != roster.RequesterID(alg, key) {
		t.Fatalf("ed25519: %s %x %s %v", alg, key, id, err)
	}
	alg, key, id, err = KeyOf(w.kms.Public())
	want, _ := w.kms.PublicKey.Bytes()
	if err != nil || alg != roster.AlgP256 || !bytes.Equal(key, want) || len(key) != 65 || id != roster.RequesterID(alg, key) {
		t.Fatalf("p256: %s %x %s %v", alg, key, id, err)
	}
	// The key is a copy.
	pub := w.wallet.Public().(ed25519.PublicKey)
	_, key, _, _ = KeyOf(pub)
	key[0] ^= 1
	if pub[0] == key[0] {
		t.Fatal("KeyOf returned the caller's key")
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, pub := range map[string]crypto.PublicKey{
		"p384":                 p384.Public(),
		"ecdsa value":          w.kms.PublicKey,
		"ed25519 private key":  w.wallet,
		"short ed25519 key":    ed25519.PublicKey(pub[:31]),
		"nil":                  nil,
		"bytes":                []byte(pub),
		"p256 off the curve":   &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)},
		"p256 without a point": &ecdsa.PublicKey{Curve: elliptic.P256()},
		"p256 without y":       &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1)},
		"nil ecdsa key":        (*ecdsa.PublicKey)(nil),
		"no curve":             &ecdsa.PublicKey{X: big.NewInt(1), Y: big.NewInt(1)},
	} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: panic %v", name, p)
				}
			}()
			if _, _, _, err := KeyOf(pub); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}()
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

func TestCheck(t *testing.T) {
	w := newWorld(t)
	wallet := w.requester(t, w.wallet.Public()) // k1, k2; m/44/60, m/0
	kms := w.requester(t, w.kms.Public())       // every key and path
	exp := t0.Add(DefaultLifetime)
	msgItem := ItemOf(KindMessage, message)
	tests := []struct {
		name string
		edit func(*Body)       // the signed body (newBody)
		r    *roster.Requester // default: wallet
		s    func(*Session)    // default: item 1 of the body
		now  time.Time         // default: t0
		want error
	}{
		{"item 1", nil, nil, nil, time.Time{}, nil},
		{"item 0", nil, nil, func(s *Session) { s.Item, s.Data = 0, digest0[:] }, time.Time{}, nil},
		{"key k2", func(b *Body) { b.KeyID = "k2" }, nil, func(s *Session) { s.KeyID = "k2" }, time.Time{}, nil},
		{"granted path itself", func(b *Body) { b.Path = "m/44/60" }, nil, func(s *Session) { s.Path = "m/44/60" }, time.Time{}, nil},
		{"second granted path", func(b *Body) { b.Path = "m/0/5" }, nil, func(s *Session) { s.Path = "m/0/5" }, time.Time{}, nil},
		{"message", func(b *Body) { b.Kind, b.Items = KindMessage, []string{msgItem} },
			nil, func(s *Session) { s.Item, s.Data, s.Message = 0, message, true }, time.Time{}, nil},
		{"every key and path", func(b *Body) { b.KeyID, b.Path = "k9", "" }, &kms, func(s *Session) { s.KeyID, s.Path = "k9", "" }, time.Time{}, nil},

		// The session is not the request.
		{"other key", nil, nil, func(s *Session) { s.KeyID = "k2" }, time.Time{}, ErrMismatch},
		{"other path", nil, nil, func(s *Session) { s.Path = "m/44/60/0/0/8" }, time.Time{}, ErrMismatch},
		{"parent path", nil, nil, func(s *Session) { s.Path = "m/44/60/0/0" }, time.Time{}, ErrMismatch},
		{"root key for a path", nil, nil, func(s *Session) { s.Path = "" }, time.Time{}, ErrMismatch},
		{"path for the root key", func(b *Body) { b.Path = "" }, &kms, func(s *Session) { s.Path = "m/44/60/0/0/7" }, time.Time{}, ErrMismatch},
		{"other digest", nil, nil, func(s *Session) { d := sha256.Sum256([]byte("tx 2")); s.Data = d[:] }, time.Time{}, ErrMismatch},
		{"digest of another item", nil, nil, func(s *Session) { s.Data = digest0[:] }, time.Time{}, ErrMismatch},
		{"digest truncated", nil, nil, func(s *Session) { s.Data = digest1[:31] }, time.Time{}, ErrMismatch},
		{"no data", nil, nil, func(s *Session) { s.Data = nil }, time.Time{}, ErrMismatch},
		{"item past the end", nil, nil, func(s *Session) { s.Item = 2 }, time.Time{}, ErrMismatch},
		{"negative item", nil, nil, func(s *Session) { s.Item = -1 }, time.Time{}, ErrMismatch},
		{"digest session for a message request", func(b *Body) { b.Kind = KindMessage }, nil, nil, time.Time{}, ErrMismatch},
		{"message session for a digest request", nil, nil, func(s *Session) { s.Message = true }, time.Time{}, ErrMismatch},
		{"message session with the digest of a digest request", func(b *Body) { b.Items[1] = msgItem },
			nil, func(s *Session) { s.Message, s.Data = true, message }, time.Time{}, ErrMismatch},
		{"message session with the hash as its message", func(b *Body) { b.Kind, b.Items = KindMessage, []string{msgItem} },
			nil, func(s *Session) { h := sha256.Sum256(message); s.Item, s.Data, s.Message = 0, h[:], true }, time.Time{}, ErrMismatch},
		{"digest session with the message's hash", func(b *Body) { b.Kind, b.Items = KindMessage, []string{msgItem} },
			nil, func(s *Session) { h := sha256.Sum256(message); s.Item, s.Data = 0, h[:] }, time.Time{}, ErrMismatch},

		// The requester's grants.
		{"key not granted", func(b *Body) { b.KeyID = "k3" }, nil, func(s *Session) { s.KeyID = "k3" }, time.Time{}, ErrNotAllowed},
		{"key differing in case", func(b *Body) { b.KeyID = "K1" }, nil, func(s *Session) { s.KeyID = "K1" }, time.Time{}, ErrNotAllowed},
		{"path not granted", func(b *Body) { b.Path = "m/44/600/0" }, nil, func(s *Session) { s.Path = "m/44/600/0" }, time.Time{}, ErrNotAllowed},
		{"parent of a granted path", func(b *Body) { b.Path = "m/44" }, nil, func(s *Session) { s.Path = "m/44" }, time.Time{}, ErrNotAllowed},
		{"root key not granted", func(b *Body) { b.Path = "" }, nil, func(s *Session) { s.Path = "" }, time.Time{}, ErrNotAllowed},

		// The clock.
		{"at the expiry", nil, nil, nil, exp, nil},
		{"expired within the skew", nil, nil, nil, exp.Add(ClockSkew), nil},
		{"expired beyond the skew", nil, nil, nil, exp.Add(ClockSkew + time.Nanosecond), ErrExpired},
		{"expired long ago", nil, nil, nil, exp.Add(24 * time.Hour), ErrExpired},
		{"furthest ahead", nil, nil, nil, exp.Add(-MaxLifetime - ClockSkew), nil},
		{"too far ahead", nil, nil, nil, exp.Add(-MaxLifetime - ClockSkew - time.Nanosecond), ErrTooLong},
		{"a day ahead", func(b *Body) { b.Expires = t0.Add(24 * time.Hour).Unix() }, nil, nil, time.Time{}, ErrTooLong},
		{"expires at the end of time", func(b *Body) { b.Expires = math.MaxInt64 }, nil, nil, time.Time{}, errTimeRefused},
		{"expires at the end of unix time", func(b *Body) { b.Expires = math.MaxInt64 - 62135596800 }, nil, nil, time.Time{}, errTimeRefused},
		{"expires in year 10000", func(b *Body) { b.Expires = 253402300800 }, nil, nil, time.Time{}, ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBody()
			if tc.edit != nil {
				tc.edit(&b)
			}
			r := wallet
			if tc.r != nil {
				r = *tc.r
			}
			b.Requester = r.ID
			if _, err := Encode(b); err != nil {
				t.Fatalf("the test body: %v", err)
			}
			s := Session{KeyID: b.KeyID, Path: b.Path, Item: 1, Data: digest1[:]}
			if tc.s != nil {
				tc.s(&s)
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			err := Check(b, r, s, now)
			if tc.want == errTimeRefused {
				if !errors.Is(err, ErrExpired) && !errors.Is(err, ErrTooLong) {
					t.Fatalf("error %v, want ErrExpired or ErrTooLong", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

// errTimeRefused in TestCheck is ErrExpired or ErrTooLong.
var errTimeRefused = errors.New("refused for its time")

func TestCheckTime(t *testing.T) {
	b := Body{Expires: t0.Unix()}
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{t0, nil},
		{t0.Add(ClockSkew), nil},
		{t0.Add(ClockSkew + time.Nanosecond), ErrExpired},
		{t0.Add(-MaxLifetime - ClockSkew), nil},
		{t0.Add(-MaxLifetime - ClockSkew - time.Nanosecond), ErrTooLong},
		{t0.Add(-DefaultLifetime), nil},
		{time.Unix(0, 0), ErrTooLong},
		{time.Unix(1<<40, 0), ErrExpired},
	} {
		if err := CheckTime(b, tc.now); !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
			t.Errorf("now %s: %v, want %v", tc.now.Sub(t0), err, tc.want)
		}
	}
	if DefaultLifetime > MaxLifetime {
		t.Fatal("Sign's default lifetime is over the maximum")
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
