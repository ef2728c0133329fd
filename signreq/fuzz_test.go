package signreq

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// fuzzBodies are valid bodies of several shapes (deterministic, so that
// every fuzz worker builds the same ones).
func fuzzBodies() []Body {
	digest := newBody()
	message := newBody()
	message.Kind, message.Items, message.Path = KindMessage, []string{ItemOf(KindMessage, []byte("m"))}, ""
	odd := newBody()
	odd.KeyID, odd.Path, odd.RequestID = "a.b_c:d-E", "m/0", "<\"é\">&x"
	var many []string
	for i := range MaxItems {
		many = append(many, ItemOf(KindMessage, []byte{byte(i)}))
	}
	big := newBody()
	big.Items, big.RequestID = many, strings.Repeat("r", MaxRequestID)
	return []Body{digest, message, odd, big}
}

// FuzzDecode: Decode never panics, refuses with ErrMalformed only, and
// whatever it accepts is the canonical encoding of what it decoded (Encode
// takes it and gives the same bytes back).
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzBodies() {
		b.Requester = strings.Repeat("0f", 16)
		raw, err := Encode(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		s := string(raw)
		f.Add([]byte(strings.Replace(s, `"v":1`, `"v": 1`, 1)))
		f.Add([]byte(strings.Replace(s, `"key_id"`, `"Key_id"`, 1)))
		f.Add([]byte(strings.Replace(s, `,"nonce"`, `,"path":"","nonce"`, 1)))
		f.Add([]byte(strings.ToUpper(s)))
	}
	f.Add([]byte(`{"v":1,"items":null,"expires":1e3}`))
	f.Add([]byte(`{"v":1,"requester":"\u0030"}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q): %v, not ErrMalformed", data, err)
			}
			return
		}
		again, err := Encode(b)
		if err != nil {
			t.Fatalf("decoded %q but Encode refuses it: %v", data, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("not canonical:\n in  %q\n out %q", data, again)
		}
		// What Decode takes, Check and CheckTime take without panicking.
		_ = CheckTime(b, t0)
		_ = Check(b, roster.Requester{Keys: []string{roster.AllKeysGrant}}, Session{KeyID: b.KeyID, Path: b.Path, Item: len(b.Items) - 1}, t0)
	})
}

// FuzzVerify gives Verify arbitrary bodies and signatures against a fixed
// roster. It must never panic, and it must accept only a body that one of
// the roster's active requesters signed: the fuzzer holds no key, so any
// other body it gets accepted is a forgery.
func FuzzVerify(f *testing.F) {
	w := newWorld(f)
	signers := []crypto.Signer{w.wallet, w.kms, w.old, w.stranger, w.strangerP256}
	signed := map[string]string{} // body -> requester id, for active requesters
	for _, s := range signers {
		id := idOf(f, s.Public())
		r, ok := w.st.Requester(id)
		for _, b := range fuzzBodies() {
			sr := mustSign(f, s, b)
			if ok && r.Active {
				signed[string(sr.Body)] = id
			}
			f.Add(sr.Body, sr.Signature)
			f.Add(sr.Body, sr.Signature[:len(sr.Signature)-1])
		}
	}
	// Mismatched pairs: a wallet body with the KMS's signature, and so on.
	a, b := mustSign(f, w.wallet, newBody()), mustSign(f, w.kms, newBody())
	f.Add(a.Body, b.Signature)
	f.Add(b.Body, a.Signature)
	f.Add([]byte{}, a.Signature)
	f.Add(a.Body, []byte{})
	f.Fuzz(func(t *testing.T, body, sig []byte) {
		sr := &mpcv1.SignedRequest{Body: body, Signature: sig}
		got, r, err := Verify(w.st, sr)
		if err != nil {
			for _, e := range []error{ErrMissing, ErrMalformed, ErrUnknownRequester, ErrRevokedRequester, ErrBadSignature} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("Verify: %v is none of the package's errors", err)
		}
		id, ok := signed[string(body)]
		if !ok {
			t.Fatalf("Verify accepted a body no requester signed: %q (signature %x)", body, sig)
		}
		if r.ID != id || got.Requester != id || !r.Active {
			t.Fatalf("Verify: requester %s (active %v) for a body %s signed", r.ID, r.Active, id)
		}
		// And the signature is one the key makes.
		switch k := mustPublic(t, w, id).(type) {
		case ed25519.PublicKey:
			if !ed25519.Verify(k, hashOf(body), sig) {
				t.Fatal("accepted an Ed25519 signature that does not verify")
			}
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(k, hashOf(body), sig) {
				t.Fatal("accepted a P-256 signature that does not verify")
			}
		}
		for i := range got.Items {
			_ = Check(got, r.Requester, Session{KeyID: got.KeyID, Path: got.Path, Item: i}, time.Unix(got.Expires, 0))
		}
	})
}

func hashOf(body []byte) []byte {
	h := Hash(body)
	return h[:]
}

// mustPublic is the public key of the world's requester id.
func mustPublic(t *testing.T, w *world, id string) crypto.PublicKey {
	for _, s := range []crypto.Signer{w.wallet, w.kms, w.old} {
		if idOf(t, s.Public()) == id {
			return s.Public()
		}
	}
	t.Fatalf("no key for requester %s", id)
	return nil
}
