package resharing

import (
	"crypto/ed25519"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/identity"
)

const testKeyID = "wallet-7"

// dirMap is a Directory backed by a map.
type dirMap map[string][]byte

func (d dirMap) IdentityKey(id string) ([]byte, bool) { k, ok := d[id]; return k, ok }

// device is a new holder with its identity key.
type device struct {
	id   string
	priv ed25519.PrivateKey
}

// fixture is one key, a new committee and everything a certificate needs.
type fixture struct {
	curve string
	keyID string
	epoch uint64
	// the key: a secp256k1 private key or an Ed25519 one
	secp  *secp256k1.PrivateKey
	ed    ed25519.PrivateKey
	pub   []byte
	chain []byte
	t     int
	devs  []device // sorted by id
	dir   dirMap
	nonce []byte
}

// seed makes deterministic test bytes.
func seed(label string) []byte { h := sha256.Sum256([]byte(label)); return h[:] }

func newFixture(curve string, n, threshold int) *fixture {
	f := &fixture{curve: curve, keyID: testKeyID, epoch: 3, t: threshold, dir: dirMap{}, nonce: seed("nonce")[:16]}
	switch curve {
	case CurveSecp256k1:
		f.secp = secp256k1.PrivKeyFromBytes(seed("secp key"))
		f.pub = f.secp.PubKey().SerializeCompressed()
		f.chain = seed("chain code")
	case CurveEd25519:
		f.ed = ed25519.NewKeyFromSeed(seed("ed key"))
		f.pub = f.ed.Public().(ed25519.PublicKey)
	}
	for i := range n {
		priv := ed25519.NewKeyFromSeed(seed("device " + string(rune('a'+i))))
		d := device{id: identity.DeviceID(priv.Public().(ed25519.PublicKey)), priv: priv}
		f.devs = append(f.devs, d)
		f.dir[d.id] = priv.Public().(ed25519.PublicKey)
	}
	slices.SortFunc(f.devs, func(a, b device) int {
		if a.id < b.id {
			return -1
		}
		return 1
	})
	return f
}

func (f *fixture) committee() []string {
	ids := make([]string, len(f.devs))
	for i, d := range f.devs {
		ids[i] = d.id
	}
	return ids
}

// attestation is what device i attests.
func (f *fixture) attestation(i int) Attestation {
	return Attestation{
		Version:         1,
		KeyID:           f.keyID,
		Curve:           f.curve,
		Epoch:           f.epoch,
		PublicKey:       f.pub,
		ChainCode:       f.chain,
		Threshold:       f.t,
		Committee:       f.committee(),
		Holder:          f.devs[i].id,
		ShareCommitment: f.pub, // any point of the right length
	}
}

// signAs signs a with device d's identity key.
func signAs(t testing.TB, a Attestation, d device) SignedAttestation {
	t.Helper()
	sa, err := Attest(a, func(msg []byte) []byte { return ed25519.Sign(d.priv, msg) })
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	return sa
}

// testSig signs TestDigest(keyID, epoch, f.nonce) with the key (derived
// along path when path is not "").
func (f *fixture) testSig(t testing.TB, keyID string, epoch uint64, path string) []byte {
	t.Helper()
	digest, err := TestDigest(keyID, epoch, f.nonce)
	if err != nil {
		t.Fatalf("TestDigest: %v", err)
	}
	if f.curve == CurveEd25519 {
		return ed25519.Sign(f.ed, digest)
	}
	return secpSign(t, f.childKey(t, path), digest)
}

// childKey is the private key derived along path ("" : the key itself).
func (f *fixture) childKey(t testing.TB, path string) *secp256k1.PrivateKey {
	t.Helper()
	if path == "" {
		return f.secp
	}
	steps, err := hd.ParsePath(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := hd.Derive(f.pub, f.chain, steps)
	if err != nil {
		t.Fatal(err)
	}
	var delta secp256k1.ModNScalar
	delta.SetByteSlice(d.Delta.Bytes())
	k := f.secp.Key
	k.Add(&delta)
	return secp256k1.NewPrivateKey(&k)
}

// secpSign is a real ECDSA signature as r||s (decred signs with low s).
func secpSign(t testing.TB, key *secp256k1.PrivateKey, digest []byte) []byte {
	t.Helper()
	sig := ecdsa.Sign(key, digest)
	r, s := sig.R(), sig.S()
	rb, sb := r.Bytes(), s.Bytes()
	if !ecdsa.NewSignature(&r, &s).Verify(digest, key.PubKey()) {
		t.Fatal("the test's own signature does not verify")
	}
	return append(rb[:], sb[:]...)
}

// cert is a valid certificate of f.
func (f *fixture) cert(t testing.TB) *Certificate {
	t.Helper()
	c := &Certificate{KeyID: f.keyID, Epoch: f.epoch, TestNonce: f.nonce}
	f.resign(t, c)
	c.TestSignature = f.testSig(t, f.keyID, f.epoch, "")
	return c
}

// resign replaces c's attestations by fresh ones of f's current content.
func (f *fixture) resign(t testing.TB, c *Certificate) {
	t.Helper()
	c.Attestations = nil
	for i, d := range f.devs {
		c.Attestations = append(c.Attestations, signAs(t, f.attestation(i), d))
	}
}
