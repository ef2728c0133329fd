package roster

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
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
