package party

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/identity"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Protocol tests on the memnet (memnet_test.go): real tss-lib between real
// sessions, without the coordinator and gRPC.

var memnetCurves = map[string]mpcv1.Curve{"secp256k1": mpcv1.Curve_CURVE_SECP256K1, "ed25519": mpcv1.Curve_CURVE_ED25519}

// memKey is a key made on the memnet.
type memKey struct {
	id        string
	curve     mpcv1.Curve
	pub       []byte
	chainCode []byte
}

// memKeygen makes a threshold-t key among the named devices and checks that
// every member stored its share of the same key.
func memKeygen(t *testing.T, n *memnet, curve mpcv1.Curve, threshold uint32, names ...string) memKey {
	t.Helper()
	out := n.run(&mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_KEYGEN, Curve: curve, Threshold: threshold}, names...)
	res := wantResults(t, out, names...)
	k := memKey{curve: curve, pub: res[0].GetPublicKey(), chainCode: res[0].GetChainCode()}
	k.id = identity.KeyID(k.pub)
	wantLen, wantCC := 33, 32
	if curve == mpcv1.Curve_CURVE_ED25519 {
		wantLen, wantCC = 32, 0
	}
	if len(k.pub) != wantLen || len(k.chainCode) != wantCC {
		t.Fatalf("keygen gave a %d-byte public key and a %d-byte chain code", len(k.pub), len(k.chainCode))
	}
	holders := slices.Sorted(slices.Values(n.ids(names...)))
	for i, r := range res {
		if !bytes.Equal(r.GetPublicKey(), k.pub) || !bytes.Equal(r.GetChainCode(), k.chainCode) || r.GetAttestation() == nil {
			t.Fatalf("%s reported another key or no attestation", names[i])
		}
		sh, err := loadCurrent(n.dev[names[i]].ks, k.id, 0)
		if err != nil {
			t.Fatalf("%s stored no share: %v", names[i], err)
		}
		if !bytes.Equal(sh.Meta.PublicKey, k.pub) || sh.Meta.Threshold != int(threshold) || !slices.Equal(sh.Meta.Holders, holders) {
			t.Fatalf("%s stored %+v", names[i], sh.Meta)
		}
	}
	return k
}

// memSign signs at epoch with the named signers and checks the signature
// under the key (or its child at path); it returns the key it verified under.
func memSign(t *testing.T, n *memnet, k memKey, epoch uint64, path string, names ...string) []byte {
	t.Helper()
	st := &mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_SIGN, Curve: k.curve, KeyId: k.id, Epoch: epoch, Threshold: uint32(len(names) - 1), DerivationPath: path}
	msg := []byte("memnet test message " + path)
	if k.curve == mpcv1.Curve_CURVE_ED25519 {
		st.Message = msg
	} else {
		st.Digest = memnetDigest(string(msg))
	}
	res := wantResults(t, n.run(st, names...), names...)
	want := k.pub
	if path != "" {
		p, err := hd.ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := hd.Derive(k.pub, k.chainCode, p)
		if err != nil {
			t.Fatal(err)
		}
		want = d.PublicKey
	}
	for i, r := range res {
		if !bytes.Equal(r.GetPublicKey(), want) {
			t.Fatalf("%s signed under %x, want %x", names[i], r.GetPublicKey(), want)
		}
		if k.curve == mpcv1.Curve_CURVE_ED25519 {
			if !ed25519.Verify(want, msg, r.GetSignature()) {
				t.Fatalf("%s: the Ed25519 signature does not verify", names[i])
			}
			continue
		}
		pk, err := secp256k1.ParsePubKey(want)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.Verify(pk.ToECDSA(), st.Digest, new(big.Int).SetBytes(r.GetR()), new(big.Int).SetBytes(r.GetS())) {
			t.Fatalf("%s: the ECDSA signature does not verify", names[i])
		}
	}
	return want
}

func TestMemnetKeygen(t *testing.T) {
	for name, curve := range memnetCurves {
		t.Run(name, func(t *testing.T) {
			n := newMemnet(t, []string{"a", "b", "c"}, []int{1, 2, 3})
			memKeygen(t, n, curve, 1, "a", "b", "c")
		})
	}
}

func TestMemnetSign(t *testing.T) {
	n := newMemnet(t, []string{"a", "b", "c"}, []int{1, 2, 3})
	t.Run("secp256k1", func(t *testing.T) {
		k := memKeygen(t, n, mpcv1.Curve_CURVE_SECP256K1, 1, "a", "b", "c")
		if got := memSign(t, n, k, 0, "", "a", "c"); !bytes.Equal(got, k.pub) {
			t.Fatal("signed under another key")
		}
		child := memSign(t, n, k, 0, "m/44/60/0/0/7", "c", "b")
		if bytes.Equal(child, k.pub) {
			t.Fatal("a derived signature verified under the root key")
		}
	})
	t.Run("ed25519", func(t *testing.T) {
		k := memKeygen(t, n, mpcv1.Curve_CURVE_ED25519, 1, "a", "b", "c")
		memSign(t, n, k, 0, "", "b", "a")
	})
}

// TestMemnetReshare moves a 2-of-3 key to a new committee with one holder
// in both (two parties on one device) and two newcomers, commits the new
// epoch as the coordinator's key sync would, and signs with newcomers only.
func TestMemnetReshare(t *testing.T) {
	for name, curve := range memnetCurves {
		t.Run(name, func(t *testing.T) {
			n := newMemnet(t, []string{"a", "b", "c", "d", "e"}, []int{1, 2, 3, 4, 5})
			k := memKeygen(t, n, curve, 1, "a", "b", "c")
			st := &mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_RESHARE, Curve: curve, KeyId: k.id, Epoch: 0, Threshold: 1,
				OldCommittee: n.ids("a", "b"), NewCommittee: n.ids("b", "d", "e"), NewThreshold: 1, NewEpoch: 1, ChainCode: k.chainCode}
			members := []string{"a", "b", "d", "e"}
			for i, r := range wantResults(t, n.run(st, members...), members...) {
				if !bytes.Equal(r.GetPublicKey(), k.pub) {
					t.Fatalf("%s reported public key %x after the reshare, want %x", members[i], r.GetPublicKey(), k.pub)
				}
			}
			for _, name := range []string{"b", "d", "e"} {
				ks := n.dev[name].ks
				sh, err := loadPendingShare(ks, k.id, 1)
				if err != nil || !bytes.Equal(sh.Meta.PublicKey, k.pub) || !bytes.Equal(sh.Meta.ChainCode, k.chainCode) {
					t.Fatalf("%s has no pending share of the same key: %v", name, err)
				}
				if _, err := applyKeyState(ks, KeyState{KeyID: k.id, Committed: 1, Next: 2}); err != nil {
					t.Fatal(err)
				}
			}
			memSign(t, n, k, 1, "", "d", "e")
			if curve == mpcv1.Curve_CURVE_SECP256K1 {
				memSign(t, n, k, 1, "m/1/2", "e", "b")
			}
			// c was left out: it holds no share of the new epoch.
			st = &mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_SIGN, Curve: curve, KeyId: k.id, Epoch: 1, Threshold: 1}
			if curve == mpcv1.Curve_CURVE_ED25519 {
				st.Message = []byte("x")
			} else {
				st.Digest = memnetDigest("x")
			}
			if out := n.run(st, "c", "d"); !strings.Contains(out["c"].refused, "no usable share of key") {
				t.Fatalf("c did not refuse to sign at the new epoch: %s", describe(out))
			}
		})
	}
}
