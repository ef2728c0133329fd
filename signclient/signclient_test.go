package signclient

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// requesterOf is the roster entry the operators would make for key.
func requesterOf(t *testing.T, key crypto.Signer) roster.Requester {
	t.Helper()
	alg, pub, id, err := signreq.KeyOf(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return roster.Requester{ID: id, Name: "wallet", Algorithm: alg, PublicKey: pub, Keys: []string{roster.AllKeysGrant}}
}

func testKeys(t *testing.T) map[string]crypto.Signer {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{roster.AlgEd25519: ed, roster.AlgP256: p256}
}

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// verify decodes and verifies req's signed request against r and checks
// that the call matches it item by item, as a device does.
func verify(t *testing.T, r roster.Requester, req *mpcv1.SignRequest, now time.Time) signreq.Body {
	t.Helper()
	sr := req.GetSigned()
	b, err := signreq.Decode(sr.GetBody())
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := signreq.VerifySignature(r, sr.GetBody(), sr.GetSignature()); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if b.Requester != r.ID || b.KeyID != req.GetKeyId() || b.Path != req.GetPath() || b.RequestID != req.GetRequestId() {
		t.Fatalf("body %+v does not match the call %v", b, req)
	}
	var data [][]byte
	switch {
	case req.GetDigest() != nil:
		data = [][]byte{req.GetDigest()}
	case req.GetMessage() != nil:
		data = [][]byte{req.GetMessage()}
	case len(req.GetDigests()) > 0:
		data = req.GetDigests()
	default:
		data = req.GetMessages()
	}
	if len(data) != len(b.Items) {
		t.Fatalf("%d items signed, %d in the call", len(b.Items), len(data))
	}
	for i, d := range data {
		s := signreq.Session{KeyID: req.GetKeyId(), Path: req.GetPath(), Item: i, Data: d, Message: b.Kind == signreq.KindMessage}
		if err := signreq.Check(b, r, s, now); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	return b
}

func TestNewSignRequest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for alg, key := range testKeys(t) {
		t.Run(alg, func(t *testing.T) {
			r := requesterOf(t, key)

			// One digest, a path in a non-canonical spelling, a request id.
			d := digest("one")
			req, err := NewSignRequest(key, Request{KeyID: "k1", Digests: [][]byte{d}, Path: "44/60/0/0/7", RequestID: "pay-1"}, now)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(req.GetDigest(), d) || req.GetDigests() != nil || req.GetMessage() != nil || req.GetPath() != "m/44/60/0/0/7" || req.GetRequestId() != "pay-1" {
				t.Fatalf("request: %v", req)
			}
			b := verify(t, r, req, now)
			if b.Kind != signreq.KindDigest || len(b.Items) != 1 || b.Items[0] != hex.EncodeToString(d) || b.Path != "m/44/60/0/0/7" || b.RequestID != "pay-1" {
				t.Fatalf("body: %+v", b)
			}
			if b.Expires != now.Add(signreq.DefaultLifetime).Unix() {
				t.Fatalf("expires %d, want now + %s", b.Expires, signreq.DefaultLifetime)
			}

			// A batch of digests, no path, a random request id.
			ds := [][]byte{digest("a"), digest("b"), digest("c")}
			req, err = NewSignRequest(key, Request{KeyID: "k1", Digests: ds, Lifetime: signreq.MaxLifetime}, now)
			if err != nil {
				t.Fatal(err)
			}
			if req.GetDigest() != nil || len(req.GetDigests()) != 3 || req.GetPath() != "" || len(req.GetRequestId()) != 32 {
				t.Fatalf("batch request: %v", req)
			}
			b = verify(t, r, req, now)
			if b.Expires != now.Add(signreq.MaxLifetime).Unix() || b.Path != "" {
				t.Fatalf("batch body: %+v", b)
			}
			again, err := NewSignRequest(key, Request{KeyID: "k1", Digests: ds}, now)
			if err != nil {
				t.Fatal(err)
			}
			if again.GetRequestId() == req.GetRequestId() {
				t.Fatal("two requests without a RequestID got the same id")
			}

			// Messages: the body has their SHA-256.
			m := []byte("hello ed25519")
			req, err = NewSignRequest(key, Request{KeyID: "e1", Messages: [][]byte{m}}, now)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(req.GetMessage(), m) || req.GetMessages() != nil {
				t.Fatalf("message request: %v", req)
			}
			if b = verify(t, r, req, now); b.Kind != signreq.KindMessage || b.Items[0] != signreq.ItemOf(signreq.KindMessage, m) {
				t.Fatalf("message body: %+v", b)
			}
			req, err = NewSignRequest(key, Request{KeyID: "e1", Messages: [][]byte{m, []byte("second")}}, now)
			if err != nil {
				t.Fatal(err)
			}
			if req.GetMessage() != nil || len(req.GetMessages()) != 2 {
				t.Fatalf("message batch: %v", req)
			}
			verify(t, r, req, now)

			// The signature covers the content: a changed call no longer matches.
			req, _ = NewSignRequest(key, Request{KeyID: "k1", Digests: [][]byte{d}}, now)
			b = verify(t, r, req, now)
			if err := signreq.Check(b, r, signreq.Session{KeyID: "k1", Data: digest("other")}, now); !errors.Is(err, signreq.ErrMismatch) {
				t.Fatalf("another digest: %v", err)
			}
		})
	}
}

func TestNewSignRequestErrors(t *testing.T) {
	now := time.Now()
	key := testKeys(t)[roster.AlgEd25519]
	d := [][]byte{digest("x")}
	for name, tc := range map[string]struct {
		r    Request
		want string
	}{
		"both":          {Request{KeyID: "k1", Digests: d, Messages: [][]byte{[]byte("m")}}, "not both"},
		"neither":       {Request{KeyID: "k1"}, "nothing to sign"},
		"no key id":     {Request{Digests: d}, "no KeyID"},
		"too long":      {Request{KeyID: "k1", Digests: d, Lifetime: signreq.MaxLifetime + time.Second}, "expires too far ahead"},
		"negative":      {Request{KeyID: "k1", Digests: d, Lifetime: -time.Minute}, "negative"},
		"short digest":  {Request{KeyID: "k1", Digests: [][]byte{{1, 2, 3}}}, "want 32"},
		"empty message": {Request{KeyID: "k1", Messages: [][]byte{{}}}, "want 1 to"},
		"root path":     {Request{KeyID: "k1", Digests: d, Path: "m"}, "root key"},
		"bad path":      {Request{KeyID: "k1", Digests: d, Path: "m/x"}, "Path"},
		"too many":      {Request{KeyID: "k1", Digests: make([][]byte, signreq.MaxItems+1)}, "at most"},
		"bad id":        {Request{KeyID: "k1", Digests: d, RequestID: "a\x00b"}, "request id"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewSignRequest(key, tc.r, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one that says %q", err, tc.want)
			}
		})
	}
	_, err := NewSignRequest(key, Request{KeyID: "k1", Digests: d, Lifetime: time.Hour}, now)
	if !errors.Is(err, signreq.ErrTooLong) {
		t.Fatalf("a lifetime of an hour: %v, want signreq.ErrTooLong", err)
	}
	// Only Ed25519 and P-256 keys.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewSignRequest(p384, Request{KeyID: "k1", Digests: d}, now); err == nil {
		t.Fatal("a P-384 key signed a request")
	}
	if _, err := New(fakeConn{}, p384); err == nil {
		t.Fatal("New took a P-384 key")
	}
}

// fakeConn answers Sign calls with a fixed response and records them.
type fakeConn struct{ got *[]*mpcv1.SignRequest }

func (f fakeConn) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	if method != mpcv1.SignerService_Sign_FullMethodName {
		return errors.New("unexpected method " + method)
	}
	*f.got = append(*f.got, proto.Clone(args.(*mpcv1.SignRequest)).(*mpcv1.SignRequest))
	proto.Merge(reply.(*mpcv1.SignResponse), &mpcv1.SignResponse{KeyId: args.(*mpcv1.SignRequest).GetKeyId()})
	return nil
}

func (fakeConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errors.New("no streams")
}

func TestClientSign(t *testing.T) {
	var got []*mpcv1.SignRequest
	key := testKeys(t)[roster.AlgP256]
	r := requesterOf(t, key)
	c, err := New(fakeConn{got: &got}, key)
	if err != nil {
		t.Fatal(err)
	}
	if c.RequesterID() != r.ID {
		t.Fatalf("RequesterID %s, want %s", c.RequesterID(), r.ID)
	}
	ctx := context.Background()
	if resp, err := c.SignDigest(ctx, "k1", digest("d"), "m/44/60/0/0/1"); err != nil || resp.GetKeyId() != "k1" {
		t.Fatalf("SignDigest: %v, %v", resp, err)
	}
	if _, err := c.SignMessage(ctx, "e1", []byte("msg")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sign(ctx, Request{KeyID: "k1", Digests: [][]byte{digest("1"), digest("2")}, RequestID: "batch-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sign(ctx, Request{KeyID: "k1"}); err == nil {
		t.Fatal("an empty request was sent")
	}
	if len(got) != 3 {
		t.Fatalf("%d calls sent, want 3", len(got))
	}
	now := time.Now()
	if b := verify(t, r, got[0], now); b.Path != "m/44/60/0/0/1" || b.Kind != signreq.KindDigest {
		t.Fatalf("SignDigest sent %+v", b)
	}
	if b := verify(t, r, got[1], now); b.Kind != signreq.KindMessage || got[1].GetMessage() == nil {
		t.Fatalf("SignMessage sent %+v", b)
	}
	if b := verify(t, r, got[2], now); b.RequestID != "batch-1" || len(got[2].GetDigests()) != 2 {
		t.Fatalf("Sign sent %+v", b)
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	kdf := keystore.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	pass := []byte("requester passphrase")
	write := func(kind, name string) (string, *keyfile.Key) {
		k, err := keyfile.Generate(kind, name)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".json")
		if err := keyfile.Write(path, k, keystore.NewPassphrase(pass), kdf); err != nil {
			t.Fatal(err)
		}
		return path, k
	}
	path, k := write(keyfile.KindRequester, "wallet")
	signer, err := LoadKeyFile(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signer.Public().(ed25519.PublicKey), k.PublicKey()) {
		t.Fatal("LoadKeyFile returned another key")
	}
	req, err := NewSignRequest(signer, Request{KeyID: "k1", Digests: [][]byte{digest("x")}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	verify(t, requesterOf(t, signer), req, time.Now())

	if _, err := LoadKeyFile(path, []byte("wrong passphrase")); !errors.Is(err, keystore.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	opPath, _ := write(keyfile.KindOperator, "alice")
	if _, err := LoadKeyFile(opPath, pass); err == nil || !strings.Contains(err.Error(), "not a requester key") {
		t.Fatalf("an operator key: %v", err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "none.json"), pass); err == nil || !strings.Contains(err.Error(), "mpcctl requesters create") {
		t.Fatalf("no file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "junk.json"), pass); !errors.Is(err, keyfile.ErrMalformed) {
		t.Fatalf("junk: %v", err)
	}
}

func TestDialRefusesMissingPins(t *testing.T) {
	if _, err := Dial("127.0.0.1:1", "", []string{strings.Repeat("ab", 32)}); err == nil {
		t.Fatal("Dial without a token")
	}
	if _, err := Dial("127.0.0.1:1", "token", nil); err == nil {
		t.Fatal("Dial without a fingerprint")
	}
	conn, err := Dial("127.0.0.1:1", "token", []string{strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
