package signreq

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// opKey is a roster operator's key (roster.Signer).
type opKey struct{ priv ed25519.PrivateKey }

func (k opKey) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }
func (k opKey) Sign(msg []byte) []byte       { return ed25519.Sign(k.priv, msg) }

// edKey is a deterministic Ed25519 key.
func edKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("signreq-test-ed25519\x00" + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

// p256Key is a deterministic P-256 key (GenerateKey ignores its reader since
// Go 1.26, and the fuzz workers must build the same roster).
func p256Key(t testing.TB, label string) *ecdsa.PrivateKey {
	t.Helper()
	for i := 0; ; i++ {
		d := sha256.Sum256(fmt.Appendf(nil, "signreq-test-p256\x00%s\x00%d", label, i))
		if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:]); err == nil {
			return k
		}
	}
}

// t0 is the requests' clock in the tests.
var t0 = time.Unix(1_700_000_000, 0)

// world is a roster (two operators, quorum 2, device approval) with
// requesters:
//
//	wallet  Ed25519, keys k1 and k2, paths m/44/60 and m/0
//	kms     P-256, every key, any path
//	old     Ed25519, revoked
//
// and two keys that were never on it.
type world struct {
	st  *roster.State
	ops []opKey
	now time.Time

	wallet, old, stranger ed25519.PrivateKey
	kms, strangerP256     *ecdsa.PrivateKey
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{
		ops:          []opKey{{edKey("op0")}, {edKey("op1")}},
		now:          t0.Add(-24 * time.Hour),
		wallet:       edKey("wallet"),
		old:          edKey("old"),
		stranger:     edKey("stranger"),
		kms:          p256Key(t, "kms"),
		strangerP256: p256Key(t, "stranger"),
	}
	ops := []roster.Operator{{Name: "alice", Key: w.ops[0].PublicKey()}, {Name: "bob", Key: w.ops[1].PublicKey()}}
	g, err := roster.NewGenesis(ops, 2, true, w.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range w.ops {
		g.Sign(op)
	}
	if w.st, err = roster.Open(g); err != nil {
		t.Fatal(err)
	}
	w.addRequester(t, w.wallet.Public(), "wallet", []string{"k1", "k2"}, []string{"m/44/60", "m/0"})
	w.addRequester(t, w.kms.Public(), "kms", []string{roster.AllKeysGrant}, nil)
	w.addRequester(t, w.old.Public(), "old", []string{roster.AllKeysGrant}, nil)
	w.revokeRequester(t, w.old.Public())
	return w
}

func (w *world) apply(t testing.TB, b roster.Body) {
	t.Helper()
	raw, err := roster.EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	e := roster.Entry{Body: raw}
	for _, op := range w.ops {
		e.Sign(op)
	}
	if err := w.st.Apply(e); err != nil {
		t.Fatalf("apply %s: %v", b.Kind, err)
	}
}

// addRequester adds (or re-adds) the requester of the key.
func (w *world) addRequester(t testing.TB, pub crypto.PublicKey, name string, keys, paths []string) {
	t.Helper()
	alg, key, id, err := KeyOf(pub)
	if err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(time.Minute)
	b := w.st.Next(roster.KindAddRequester, w.now)
	b.Requester = &roster.Requester{ID: id, Name: name, Algorithm: alg, PublicKey: key, Keys: keys, Paths: paths}
	w.apply(t, b)
}

func (w *world) revokeRequester(t testing.TB, pub crypto.PublicKey) {
	t.Helper()
	w.now = w.now.Add(time.Minute)
	b := w.st.Next(roster.KindRevokeRequester, w.now)
	b.RequesterID = idOf(t, pub)
	w.apply(t, b)
}

func idOf(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	_, _, id, err := KeyOf(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// requester is the roster's record of the key's requester.
func (w *world) requester(t testing.TB, pub crypto.PublicKey) roster.Requester {
	t.Helper()
	r, ok := w.st.Requester(idOf(t, pub))
	if !ok {
		t.Fatal("no such requester")
	}
	return r.Requester
}

// The digests and message of the test requests.
var (
	digest0 = sha256.Sum256([]byte("tx 0"))
	digest1 = sha256.Sum256([]byte("tx 1"))
	message = []byte("an Ed25519 transaction")
)

// testNonce is a fixed nonce, so that bodies are the same in every process.
const testNonce = "00112233445566778899aabbccddeeff"

// newBody is a digest request of two items for key k1 at m/44/60/0/0/7,
// expiring DefaultLifetime after t0. Its Requester is unset (Sign sets it).
func newBody() Body {
	return Body{
		Version:   Version,
		KeyID:     "k1",
		Kind:      KindDigest,
		Items:     []string{hex.EncodeToString(digest0[:]), hex.EncodeToString(digest1[:])},
		Path:      "m/44/60/0/0/7",
		RequestID: "pay-1",
		Expires:   t0.Add(DefaultLifetime).Unix(),
		Nonce:     testNonce,
	}
}

// signRaw signs raw bytes (which Encode may refuse to produce) as Sign
// would.
func signRaw(t testing.TB, signer crypto.Signer, raw []byte) *mpcv1.SignedRequest {
	t.Helper()
	h := Hash(raw)
	var opts crypto.SignerOpts = crypto.SHA256
	if _, ok := signer.Public().(ed25519.PublicKey); ok {
		opts = crypto.Hash(0)
	}
	sig, err := signer.Sign(rand.Reader, h[:], opts)
	if err != nil {
		t.Fatal(err)
	}
	return &mpcv1.SignedRequest{Body: raw, Signature: sig}
}

// encodeFor is the encoding of b as the signer's request.
func encodeFor(t testing.TB, signer crypto.Signer, b Body) []byte {
	t.Helper()
	b.Requester = idOf(t, signer.Public())
	raw, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// mustSign is Sign, failing the test on an error.
func mustSign(t testing.TB, signer crypto.Signer, b Body) *mpcv1.SignedRequest {
	t.Helper()
	sr, err := Sign(signer, b)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

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
