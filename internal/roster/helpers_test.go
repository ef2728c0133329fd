package roster

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// key is a deterministic Ed25519 Signer for tests.
type key struct{ priv ed25519.PrivateKey }

func newKey(label string) key {
	seed := sha256.Sum256([]byte("roster-test-key\x00" + label))
	return key{ed25519.NewKeyFromSeed(seed[:])}
}

func (k key) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }
func (k key) Sign(msg []byte) []byte       { return ed25519.Sign(k.priv, msg) }

// device is a test device: its identity key and roster record.
func device(label, name string) (key, Device) {
	k := newKey("device:" + label)
	enc := sha256.Sum256([]byte("enc:" + label))
	return k, Device{ID: identity.DeviceID(k.PublicKey()), Name: name, IdentityKey: k.PublicKey(), EncryptionKey: enc[:]}
}

var t0 = time.Unix(1_700_000_000, 0)

// fixture is a roster under construction with its operators' keys.
type fixture struct {
	ops     []key
	entries []Entry
	st      *State
	now     time.Time
}

func operators(keys []key) []Operator {
	var ops []Operator
	for i, k := range keys {
		ops = append(ops, Operator{Name: "op" + string(rune('a'+i)) + "@example.com", Key: k.PublicKey()})
	}
	return ops
}

// newFixture opens a roster of n operators ("op0".."opN-1") with quorum q,
// its genesis signed by all of them.
func newFixture(t testing.TB, n, q int, approval bool) *fixture {
	t.Helper()
	f := &fixture{now: t0}
	for i := range n {
		f.ops = append(f.ops, newKey("op"+string(rune('0'+i))))
	}
	g, err := NewGenesis(operators(f.ops), q, approval, f.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range f.ops {
		g.Sign(k)
	}
	f.st, err = Open(g)
	if err != nil {
		t.Fatal(err)
	}
	f.entries = []Entry{g}
	return f
}

// next is the next body of kind, a minute after the last.
func (f *fixture) next(kind Kind) Body {
	f.now = f.now.Add(time.Minute)
	return f.st.Next(kind, f.now)
}

// apply signs b with signers and applies it, failing the test on error.
func (f *fixture) apply(t testing.TB, b Body, signers ...Signer) Entry {
	t.Helper()
	e := entry(t, b, signers...)
	if err := f.st.Apply(e); err != nil {
		t.Fatalf("apply %s: %v", b.Kind, err)
	}
	f.entries = append(f.entries, e)
	return e
}

func (f *fixture) addDevice(t testing.TB, d Device) Entry {
	b := f.next(KindAddDevice)
	b.Device = &d
	return f.apply(t, b, f.ops[0], f.ops[1])
}

func (f *fixture) revoke(t testing.TB, id string) Entry {
	b := f.next(KindRevokeDevice)
	b.DeviceID = id
	return f.apply(t, b, f.ops[0], f.ops[1])
}

// entry encodes b and signs it.
func entry(t testing.TB, b Body, signers ...Signer) Entry {
	t.Helper()
	raw, err := EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Body: raw}
	for _, s := range signers {
		e.Sign(s)
	}
	return e
}

// rawEntry signs raw bytes that EncodeBody would refuse to produce.
func rawEntry(t testing.TB, v any, signers ...Signer) Entry {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Body: raw}
	for _, s := range signers {
		e.Sign(s)
	}
	return e
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

func errorsIsMalformed(err error) bool { return errors.Is(err, ErrMalformed) }

// p256Key is a deterministic P-256 public key (65-byte uncompressed).
func p256Key(t testing.TB, label string) []byte {
	t.Helper()
	for i := 0; ; i++ {
		d := sha256.Sum256([]byte(fmt.Sprintf("roster-test-p256\x00%s\x00%d", label, i)))
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
		if err != nil {
			continue // the scalar is >= n (or 0): try the next one
		}
		pub, err := priv.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
}

// edRequester is a valid Ed25519 requester allowed the keys.
func edRequester(label, name string, keys ...string) Requester {
	pub := []byte(newKey("requester:" + label).PublicKey())
	return Requester{ID: RequesterID(AlgEd25519, pub), Name: name, Algorithm: AlgEd25519, PublicKey: pub, Keys: keys}
}

// p256Requester is a valid P-256 requester allowed the keys.
func p256Requester(t testing.TB, label, name string, keys ...string) Requester {
	pub := p256Key(t, label)
	return Requester{ID: RequesterID(AlgP256, pub), Name: name, Algorithm: AlgP256, PublicKey: pub, Keys: keys}
}

// withKey is r with another key and the id that matches it.
func withKey(r Requester, alg string, key []byte) Requester {
	r.Algorithm, r.PublicKey, r.ID = alg, key, RequesterID(alg, key)
	return r
}

func (f *fixture) addRequester(t testing.TB, r Requester) Entry {
	t.Helper()
	b := f.next(KindAddRequester)
	b.Requester = &r
	return f.apply(t, b, f.ops[0], f.ops[1])
}

func (f *fixture) revokeRequester(t testing.TB, id string) Entry {
	t.Helper()
	b := f.next(KindRevokeRequester)
	b.RequesterID = id
	return f.apply(t, b, f.ops[0], f.ops[1])
}

// rbase is a 2-of-3 roster with device approval (an active phone, a revoked
// tablet), an active requester "wallet" (Ed25519; keys k1 and k2; paths
// m/44/60; 100 an hour) and a revoked requester "old".
type rbase struct {
	*base
	wallet, old Requester
}

func newRBase(t testing.TB) *rbase {
	t.Helper()
	r := &rbase{base: newBase(t, true)}
	r.wallet = edRequester("wallet", "wallet", "k1", "k2")
	r.wallet.Paths = []string{"m/44/60"}
	r.wallet.MaxPerHour = 100
	r.addRequester(t, r.wallet)
	r.old = edRequester("old", "old", AllKeysGrant)
	r.addRequester(t, r.old)
	r.revokeRequester(t, r.old.ID)
	return r
}

// add is the next add_requester body for req.
func (r *rbase) add(req Requester) Body {
	b := r.next(KindAddRequester)
	b.Requester = &req
	return b
}

// addNew is the next add_requester body for a new valid requester, changed
// by edit.
func (r *rbase) addNew(edit func(*Requester)) Body {
	req := edRequester("new", "exchange", "k1")
	edit(&req)
	return r.add(req)
}

func (r *rbase) revokeBody(id string) Body {
	b := r.next(KindRevokeRequester)
	b.RequesterID = id
	return b
}
