package roster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

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

func TestApplyRequester(t *testing.T) {
	type build = func(t *testing.T, r *rbase) Entry
	// addNew with an edit, signed by a quorum.
	addNew := func(edit func(*Requester)) build {
		return func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(edit), r.ops[0], r.ops[1])
		}
	}
	keys := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("k%d", i))
		}
		return out
	}
	paths := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("m/44/%d", i))
		}
		return out
	}
	tests := []struct {
		name  string
		build build
		want  error
	}{
		// Valid additions.
		{"add ed25519", addNew(func(*Requester) {}), nil},
		{"add p256", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.add(p256Requester(t, "kms", "kms", "k1")), r.ops[0], r.ops[1])
		}, nil},
		{"add with everything", addNew(func(q *Requester) {
			q.Keys, q.Paths, q.MaxPerHour = []string{AllKeysGrant}, []string{"m", "m/44/60/0/0/7"}, 1
		}), nil},
		{"add with a reason", func(t *testing.T, r *rbase) Entry {
			b := r.addNew(func(*Requester) {})
			b.Reason = "payments backend, ticket #12"
			return entry(t, b, r.ops[1], r.ops[2])
		}, nil},
		{"add signed by all", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(func(*Requester) {}), r.ops[0], r.ops[1], r.ops[2])
		}, nil},
		{"name with @", addNew(func(q *Requester) { q.Name = "pay@example.com" }), nil},
		{"name of 64 characters", addNew(func(q *Requester) { q.Name = strings.Repeat("a", 64) }), nil},
		{"64 keys", addNew(func(q *Requester) { q.Keys = keys(MaxRequesterKeys) }), nil},
		{"64 paths", addNew(func(q *Requester) { q.Paths = paths(MaxRequesterPaths) }), nil},
		{"key id of 128", addNew(func(q *Requester) { q.Keys = []string{strings.Repeat("k", 128)} }), nil},

		// The id and the key.
		{"id of another key", addNew(func(q *Requester) { q.ID = edRequester("wallet", "", "").ID }), ErrRule},
		{"id in upper case", addNew(func(q *Requester) { q.ID = strings.ToUpper(q.ID) }), ErrRule},
		{"id of the whole hash", addNew(func(q *Requester) {
			h := sha256.Sum256([]byte("mpcsign/v1/requester-id\x00" + q.Algorithm + "\x00" + string(q.PublicKey)))
			q.ID = hex.EncodeToString(h[:])
		}), ErrRule},
		{"id of the key under the other algorithm", func(t *testing.T, r *rbase) Entry {
			q := p256Requester(t, "kms", "kms", "k1")
			q.ID = RequesterID(AlgEd25519, q.PublicKey)
			return entry(t, r.add(q), r.ops[0], r.ops[1])
		}, ErrRule},
		{"no id", addNew(func(q *Requester) { q.ID = "" }), ErrRule},
		{"ed25519 key of 31 bytes", addNew(func(q *Requester) { *q = withKey(*q, AlgEd25519, q.PublicKey[:31]) }), ErrRule},
		{"ed25519 key of 33 bytes", addNew(func(q *Requester) { *q = withKey(*q, AlgEd25519, append(bytes.Clone(q.PublicKey), 0)) }), ErrRule},
		{"no key", addNew(func(q *Requester) { *q = withKey(*q, AlgEd25519, nil) }), ErrRule},
		{"p256 key labelled ed25519", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.add(withKey(edRequester("x", "kms", "k1"), AlgEd25519, p256Key(t, "kms"))), r.ops[0], r.ops[1])
		}, ErrRule},
		{"ed25519 key labelled p256", addNew(func(q *Requester) { *q = withKey(*q, AlgP256, q.PublicKey) }), ErrRule},
		{"p256 key compressed", func(t *testing.T, r *rbase) Entry {
			pub := p256Key(t, "kms")
			x, y := pub[1:33], pub[33:]
			c := append([]byte{2 + y[31]&1}, x...)
			return entry(t, r.add(withKey(edRequester("x", "kms", "k1"), AlgP256, c)), r.ops[0], r.ops[1])
		}, ErrRule},
		{"p256 key without the 04 prefix", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.add(withKey(edRequester("x", "kms", "k1"), AlgP256, p256Key(t, "kms")[1:])), r.ops[0], r.ops[1])
		}, ErrRule},
		{"p256 key with prefix 05", func(t *testing.T, r *rbase) Entry {
			pub := p256Key(t, "kms")
			pub[0] = 5
			return entry(t, r.add(withKey(edRequester("x", "kms", "k1"), AlgP256, pub)), r.ops[0], r.ops[1])
		}, ErrRule},
		{"p256 point not on the curve", func(t *testing.T, r *rbase) Entry {
			pub := p256Key(t, "kms")
			pub[64] ^= 1
			return entry(t, r.add(withKey(edRequester("x", "kms", "k1"), AlgP256, pub)), r.ops[0], r.ops[1])
		}, ErrRule},
		{"p256 zero point", func(t *testing.T, r *rbase) Entry {
			pub := append([]byte{4}, make([]byte, 64)...)
			return entry(t, r.add(withKey(edRequester("x", "kms", "k1"), AlgP256, pub)), r.ops[0], r.ops[1])
		}, ErrRule},
		{"p256 coordinate above the field", func(t *testing.T, r *rbase) Entry {
			// A point on the curve with x small enough that x + p, the same
			// field element, still fits in 32 bytes.
			params := elliptic.P256().Params()
			p, x := params.P, new(big.Int)
			var y *big.Int
			for ; ; x.Add(x, big.NewInt(1)) {
				rhs := new(big.Int).Exp(x, big.NewInt(3), p)
				rhs.Sub(rhs, new(big.Int).Mul(big.NewInt(3), x))
				rhs.Add(rhs, params.B)
				rhs.Mod(rhs, p)
				if y = new(big.Int).ModSqrt(rhs, p); y != nil {
					break
				}
			}
			pub := make([]byte, 65)
			pub[0] = 4
			y.FillBytes(pub[33:])
			x.FillBytes(pub[1:33])
			if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub); err != nil {
				t.Fatalf("the canonical point: %v", err)
			}
			new(big.Int).Add(x, p).FillBytes(pub[1:33])
			return entry(t, r.add(withKey(edRequester("x", "kms", "k1"), AlgP256, pub)), r.ops[0], r.ops[1])
		}, ErrRule},
		{"unknown algorithm", addNew(func(q *Requester) { *q = withKey(*q, "ed448", q.PublicKey) }), ErrRule},
		{"algorithm in upper case", addNew(func(q *Requester) { *q = withKey(*q, "Ed25519", q.PublicKey) }), ErrRule},
		{"no algorithm", addNew(func(q *Requester) { *q = withKey(*q, "", q.PublicKey) }), ErrRule},

		// The name.
		{"no name", addNew(func(q *Requester) { q.Name = "" }), ErrRule},
		{"name starting with a dash", addNew(func(q *Requester) { q.Name = "-exchange" }), ErrRule},
		{"name with a space", addNew(func(q *Requester) { q.Name = "ex change" }), ErrRule},
		{"name with a slash", addNew(func(q *Requester) { q.Name = "ex/change" }), ErrRule},
		{"name of 65 characters", addNew(func(q *Requester) { q.Name = strings.Repeat("a", 65) }), ErrRule},
		{"name of an active requester", addNew(func(q *Requester) { q.Name = "wallet" }), ErrRule},
		{"name of a revoked requester", addNew(func(q *Requester) { q.Name = "old" }), nil},
		{"name of an active device", addNew(func(q *Requester) { q.Name = "phone" }), nil},

		// The keys.
		{"no keys", addNew(func(q *Requester) { q.Keys = nil }), ErrRule},
		{"empty keys", addNew(func(q *Requester) { q.Keys = []string{} }), ErrRule},
		{"65 keys", addNew(func(q *Requester) { q.Keys = keys(MaxRequesterKeys + 1) }), ErrRule},
		{"all keys and a key", addNew(func(q *Requester) { q.Keys = []string{AllKeysGrant, "k1"} }), ErrRule},
		{"a key and all keys", addNew(func(q *Requester) { q.Keys = []string{"k1", AllKeysGrant} }), ErrRule},
		{"all keys twice", addNew(func(q *Requester) { q.Keys = []string{AllKeysGrant, AllKeysGrant} }), ErrRule},
		{"key twice", addNew(func(q *Requester) { q.Keys = []string{"k1", "k1"} }), ErrRule},
		{"key twice apart", addNew(func(q *Requester) { q.Keys = []string{"k1", "k2", "k1"} }), ErrRule},
		{"empty key id", addNew(func(q *Requester) { q.Keys = []string{""} }), ErrRule},
		{"key id with a space", addNew(func(q *Requester) { q.Keys = []string{"k 1"} }), ErrRule},
		{"key id with a star", addNew(func(q *Requester) { q.Keys = []string{"k*"} }), ErrRule},
		{"key id of 129", addNew(func(q *Requester) { q.Keys = []string{strings.Repeat("k", 129)} }), ErrRule},

		// The paths.
		{"hardened path", addNew(func(q *Requester) { q.Paths = []string{"m/44'/60"} }), ErrRule},
		{"hardened path with h", addNew(func(q *Requester) { q.Paths = []string{"m/44h"} }), ErrRule},
		{"hardened index", addNew(func(q *Requester) { q.Paths = []string{"m/2147483648"} }), ErrRule},
		{"path without m/", addNew(func(q *Requester) { q.Paths = []string{"44/60"} }), ErrRule},
		{"path with a leading zero", addNew(func(q *Requester) { q.Paths = []string{"m/044"} }), ErrRule},
		{"path with a trailing slash", addNew(func(q *Requester) { q.Paths = []string{"m/44/"} }), ErrRule},
		{"path with an empty step", addNew(func(q *Requester) { q.Paths = []string{"m//44"} }), ErrRule},
		{"path in upper case", addNew(func(q *Requester) { q.Paths = []string{"M/44"} }), ErrRule},
		{"empty path", addNew(func(q *Requester) { q.Paths = []string{""} }), ErrRule},
		{"path twice", addNew(func(q *Requester) { q.Paths = []string{"m/44/60", "m/44/60"} }), ErrRule},
		{"path twice apart", addNew(func(q *Requester) { q.Paths = []string{"m/44/60", "m/44/0", "m/44/60"} }), ErrRule},
		{"65 paths", addNew(func(q *Requester) { q.Paths = paths(MaxRequesterPaths + 1) }), ErrRule},
		{"negative max_per_hour", addNew(func(q *Requester) { q.MaxPerHour = -1 }), ErrRule},

		// Re-adding and revoking.
		{"re-add active with new grants", func(t *testing.T, r *rbase) Entry {
			q := r.wallet
			q.Keys, q.Paths, q.MaxPerHour = []string{"k3"}, nil, 0
			return entry(t, r.add(q), r.ops[0], r.ops[1])
		}, nil},
		{"re-add active under a new name", func(t *testing.T, r *rbase) Entry {
			q := r.wallet
			q.Name = "wallet2"
			return entry(t, r.add(q), r.ops[0], r.ops[1])
		}, nil},
		{"re-add active under the name of another active", func(t *testing.T, r *rbase) Entry {
			r.addRequester(t, edRequester("exchange", "exchange", "k1"))
			q := r.wallet
			q.Name = "exchange"
			return entry(t, r.add(q), r.ops[0], r.ops[1])
		}, ErrRule},
		{"re-add active with a bad grant", func(t *testing.T, r *rbase) Entry {
			q := r.wallet
			q.Keys = []string{"k1", "k1"}
			return entry(t, r.add(q), r.ops[0], r.ops[1])
		}, ErrRule},
		{"re-add revoked", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.add(r.old), r.ops[0], r.ops[1])
		}, ErrRule},
		{"re-add revoked under a new name", func(t *testing.T, r *rbase) Entry {
			q := r.old
			q.Name = "old2"
			return entry(t, r.add(q), r.ops[0], r.ops[1])
		}, ErrRule},
		{"revoke", func(t *testing.T, r *rbase) Entry {
			b := r.revokeBody(r.wallet.ID)
			b.Reason = "key leaked"
			return entry(t, b, r.ops[1], r.ops[2])
		}, nil},
		{"revoke unknown", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody(edRequester("nobody", "", "").ID), r.ops[0], r.ops[1])
		}, ErrRule},
		{"revoke revoked", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody(r.old.ID), r.ops[0], r.ops[1])
		}, ErrRule},
		{"revoke by a device id", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody(r.phoneDev.ID), r.ops[0], r.ops[1])
		}, ErrRule},
		{"revoke by id in upper case", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody(strings.ToUpper(r.wallet.ID)), r.ops[0], r.ops[1])
		}, ErrRule},
		{"revoke by name", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody("wallet"), r.ops[0], r.ops[1])
		}, ErrRule},
		{"reason too long", func(t *testing.T, r *rbase) Entry {
			b := r.revokeBody(r.wallet.ID)
			b.Reason = strings.Repeat("x", MaxReason+1)
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrRule},

		// Fields of other kinds.
		{"add without a requester", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.next(KindAddRequester), r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"add with a requester id", func(t *testing.T, r *rbase) Entry {
			b := r.addNew(func(*Requester) {})
			b.RequesterID = b.Requester.ID
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"add with a device", func(t *testing.T, r *rbase) Entry {
			b := r.addNew(func(*Requester) {})
			d := r.laptopDev
			b.Device = &d
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"revoke without an id", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.next(KindRevokeRequester), r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"revoke with a requester", func(t *testing.T, r *rbase) Entry {
			b := r.revokeBody(r.wallet.ID)
			q := r.wallet
			b.Requester = &q
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"revoke with a device id", func(t *testing.T, r *rbase) Entry {
			b := r.revokeBody(r.wallet.ID)
			b.DeviceID = r.phoneDev.ID
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"add device with a requester", func(t *testing.T, r *rbase) Entry {
			b := r.addLaptop()
			q := edRequester("new", "exchange", "k1")
			b.Requester = &q
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"revoke device with a requester id", func(t *testing.T, r *rbase) Entry {
			b := r.next(KindRevokeDevice)
			b.DeviceID, b.RequesterID = r.phoneDev.ID, r.wallet.ID
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrMalformed},
		{"set operators with a requester", func(t *testing.T, r *rbase) Entry {
			b := r.next(KindSetOperators)
			b.Operators, b.Quorum = operators(r.ops), 2
			q := edRequester("new", "exchange", "k1")
			b.Requester = &q
			return entry(t, b, r.ops[0], r.ops[1])
		}, ErrMalformed},

		// Signatures: a quorum of operators, never a device.
		{"add unsigned", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(func(*Requester) {}))
		}, ErrQuorum},
		{"add below quorum", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(func(*Requester) {}), r.ops[2])
		}, ErrQuorum},
		{"re-add below quorum", func(t *testing.T, r *rbase) Entry {
			q := r.wallet
			q.Keys = []string{AllKeysGrant}
			return entry(t, r.add(q), r.ops[0])
		}, ErrQuorum},
		{"revoke unsigned", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody(r.wallet.ID))
		}, ErrQuorum},
		{"revoke below quorum", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody(r.wallet.ID), r.ops[1])
		}, ErrQuorum},
		{"add with a bad signature", func(t *testing.T, r *rbase) Entry {
			e := entry(t, r.addNew(func(*Requester) {}), r.ops[0], r.ops[1])
			e.Signatures[0].Sig = bytes.Clone(e.Signatures[0].Sig)
			e.Signatures[0].Sig[9] ^= 4
			return e
		}, ErrBadSignature},
		{"add by a stranger", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(func(*Requester) {}), r.ops[0], r.ops[1], newKey("stranger"))
		}, ErrUnknownSigner},
		{"add signed by the requester's own key", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(func(*Requester) {}), r.ops[0], newKey("requester:new"))
		}, ErrUnknownSigner},
		{"add approved by an active device", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(func(*Requester) {}), r.phone)
		}, ErrUnknownSigner},
		{"add approved by an operator and a device", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.addNew(func(*Requester) {}), r.ops[0], r.phone)
		}, ErrUnknownSigner},
		{"re-add approved by an active device", func(t *testing.T, r *rbase) Entry {
			q := r.wallet
			q.Keys = []string{AllKeysGrant}
			return entry(t, r.add(q), r.phone)
		}, ErrUnknownSigner},
		{"revoke approved by an active device", func(t *testing.T, r *rbase) Entry {
			return entry(t, r.revokeBody(r.wallet.ID), r.phone)
		}, ErrUnknownSigner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRBase(t)
			if !r.st.DeviceApproval() {
				t.Fatal("the fixture has no device approval")
			}
			e := tc.build(t, r)
			height, head := r.st.Height(), r.st.Head()
			before := r.st.Requesters()

			_, err := r.st.Check(e)
			wantErr(t, err, tc.want)
			if r.st.Height() != height || r.st.Head() != head || !reflect.DeepEqual(r.st.Requesters(), before) {
				t.Fatal("Check changed the state")
			}

			err = r.st.Apply(e)
			wantErr(t, err, tc.want)
			if tc.want != nil {
				if r.st.Height() != height || r.st.Head() != head || !reflect.DeepEqual(r.st.Requesters(), before) {
					t.Fatal("a failed Apply changed the state")
				}
				return
			}
			if r.st.Height() != height+1 || r.st.Head() != e.Hash() {
				t.Fatalf("Apply: height %d head %s, want %d %s", r.st.Height(), r.st.Head(), height+1, e.Hash())
			}
			// The chain verifies from the pinned genesis to the same
			// requesters.
			st, err := Verify(r.st.GenesisHash(), append(r.entries, e))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(st.Requesters(), r.st.Requesters()) {
				t.Fatalf("Verify: requesters\n%+v\nwant\n%+v", st.Requesters(), r.st.Requesters())
			}
		})
	}
}

func TestRequesterState(t *testing.T) {
	r := newRBase(t)
	addedWallet := r.st.Height() - 2

	w, ok := r.st.Requester(r.wallet.ID)
	if !ok || !w.Active || w.AddedAt != addedWallet || w.RevokedAt != 0 || !reflect.DeepEqual(w.Requester, r.wallet) {
		t.Fatalf("wallet: %+v %v", w, ok)
	}
	o, ok := r.st.Requester(r.old.ID)
	if !ok || o.Active || o.AddedAt != r.st.Height()-1 || o.RevokedAt != r.st.Height() || !reflect.DeepEqual(o.Requester, r.old) {
		t.Fatalf("old: %+v %v", o, ok)
	}
	if _, ok := r.st.Requester(edRequester("nobody", "", "").ID); ok {
		t.Fatal("an unknown requester was found")
	}
	if _, ok := r.st.Requester(""); ok {
		t.Fatal("the empty id was found")
	}
	if got, ok := r.st.ActiveRequesterByName("wallet"); !ok || got.ID != r.wallet.ID {
		t.Fatalf("ActiveRequesterByName(wallet): %+v %v", got, ok)
	}
	if _, ok := r.st.ActiveRequesterByName("old"); ok {
		t.Fatal("a revoked requester was found by name")
	}
	if _, ok := r.st.ActiveRequesterByName("phone"); ok {
		t.Fatal("a device was found as a requester")
	}
	ids := func() []string {
		var out []string
		for _, q := range r.st.Requesters() {
			out = append(out, q.ID)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []string{r.wallet.ID, r.old.ID}) {
		t.Fatalf("Requesters: %v", got)
	}

	// Re-adding the active wallet replaces its grants, name and AddedAt,
	// and keeps its place in the order.
	q := r.wallet
	q.Name, q.Keys, q.Paths, q.MaxPerHour = "wallet2", []string{AllKeysGrant}, nil, 0
	r.addRequester(t, q)
	w, ok = r.st.Requester(r.wallet.ID)
	if !ok || !w.Active || w.AddedAt != r.st.Height() || w.RevokedAt != 0 || !reflect.DeepEqual(w.Requester, q) {
		t.Fatalf("re-added wallet: %+v %v", w, ok)
	}
	if !w.AllowsKey("k9") || !w.AllowsPath("") || !w.AllowsPath("m/1") {
		t.Fatalf("the new grants do not apply: %+v", w)
	}
	if _, ok := r.st.ActiveRequesterByName("wallet"); ok {
		t.Fatal("the old name still finds the re-added requester")
	}
	if got, ok := r.st.ActiveRequesterByName("wallet2"); !ok || got.ID != r.wallet.ID {
		t.Fatalf("ActiveRequesterByName(wallet2): %+v %v", got, ok)
	}
	if got := ids(); !slices.Equal(got, []string{r.wallet.ID, r.old.ID}) {
		t.Fatalf("Requesters after the re-add: %v", got)
	}
	// The old name is free for another key.
	other := edRequester("other", "wallet", "k1")
	r.addRequester(t, other)
	if got := ids(); !slices.Equal(got, []string{r.wallet.ID, r.old.ID, other.ID}) {
		t.Fatalf("Requesters after a new one: %v", got)
	}

	// Revoking it.
	r.revokeRequester(t, r.wallet.ID)
	w, _ = r.st.Requester(r.wallet.ID)
	if w.Active || w.RevokedAt != r.st.Height() {
		t.Fatalf("revoked wallet: %+v", w)
	}
	if _, ok := r.st.ActiveRequesterByName("wallet2"); ok {
		t.Fatal("a revoked requester was found by name")
	}
}

func TestRequesterStateIsCopied(t *testing.T) {
	r := newRBase(t)
	want := r.st.Requesters()

	// What the state returns is a copy.
	w, _ := r.st.Requester(r.wallet.ID)
	w.PublicKey[0] ^= 1
	w.Keys[0] = AllKeysGrant
	w.Paths[0] = "m"
	w.Active = false
	all := r.st.Requesters()
	all[0].Keys[1] = "k9"
	all[0].PublicKey[1] ^= 1
	byName, _ := r.st.ActiveRequesterByName("wallet")
	byName.Paths[0] = "m/1"
	if got := r.st.Requesters(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the state changed through a returned value:\n%+v\nwant\n%+v", got, want)
	}

	// What the state was given is copied.
	q := edRequester("new", "exchange", "k1", "k2")
	q.Paths = []string{"m/44/60"}
	r.addRequester(t, q)
	q.Keys[0], q.Paths[0], q.PublicKey[0] = "k9", "m/1", q.PublicKey[0]^1
	got, _ := r.st.Requester(edRequester("new", "", "").ID)
	if got.Keys[0] != "k1" || got.Paths[0] != "m/44/60" || !bytes.Equal(got.PublicKey, edRequester("new", "", "").PublicKey) {
		t.Fatalf("the state changed through the applied body: %+v", got)
	}
	want = r.st.Requesters()

	// A clone is independent both ways.
	c := r.st.Clone()
	cw := r.wallet
	cw.Keys = []string{AllKeysGrant}
	b := c.Next(KindAddRequester, r.now.Add(time.Minute))
	b.Requester = &cw
	if err := c.Apply(entry(t, b, r.ops[0], r.ops[1])); err != nil {
		t.Fatal(err)
	}
	b = c.Next(KindRevokeRequester, r.now.Add(2*time.Minute))
	b.RequesterID = q.ID
	if err := c.Apply(entry(t, b, r.ops[0], r.ops[1])); err != nil {
		t.Fatal(err)
	}
	b = c.Next(KindAddRequester, r.now.Add(3*time.Minute))
	third := edRequester("third", "third", "k1")
	b.Requester = &third
	if err := c.Apply(entry(t, b, r.ops[0], r.ops[1])); err != nil {
		t.Fatal(err)
	}
	if got := r.st.Requesters(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the original changed with its clone:\n%+v\nwant\n%+v", got, want)
	}
	if got, _ := c.Requester(r.wallet.ID); !got.AllowsKey("k9") {
		t.Fatalf("the clone did not change: %+v", got)
	}
	if got, _ := c.Requester(q.ID); got.Active {
		t.Fatal("the clone did not revoke")
	}
	if len(c.Requesters()) != len(want)+1 {
		t.Fatalf("the clone has %d requesters", len(c.Requesters()))
	}
	// And the other way: the original moves on, the clone stays.
	cwant := c.Requesters()
	r.revokeRequester(t, r.wallet.ID)
	if got := c.Requesters(); !reflect.DeepEqual(got, cwant) {
		t.Fatal("the clone changed with its original")
	}
}

func TestRequesterAllows(t *testing.T) {
	keys := []struct {
		keys []string
		key  string
		want bool
	}{
		{[]string{"k1", "k2"}, "k1", true},
		{[]string{"k1", "k2"}, "k2", true},
		{[]string{"k1", "k2"}, "k3", false},
		{[]string{"k1", "k2"}, "K1", false},
		{[]string{"k1", "k2"}, "", false},
		{[]string{"k1", "k2"}, AllKeysGrant, false},
		{[]string{AllKeysGrant}, "k1", true},
		{[]string{AllKeysGrant}, "anything", true},
		{nil, "k1", false},
	}
	for _, tc := range keys {
		if got := (Requester{Keys: tc.keys}).AllowsKey(tc.key); got != tc.want {
			t.Errorf("keys %q: AllowsKey(%q) = %v, want %v", tc.keys, tc.key, got, tc.want)
		}
	}
	paths := []struct {
		paths []string
		path  string
		want  bool
	}{
		{[]string{"m/44/60"}, "m/44/60", true},
		{[]string{"m/44/60"}, "m/44/60/0", true},
		{[]string{"m/44/60"}, "m/44/60/0/0/7", true},
		{[]string{"m/44/60"}, "m/44/600", false},
		{[]string{"m/44/60"}, "m/44/6", false},
		{[]string{"m/44/60"}, "m/44", false},
		{[]string{"m/44/60"}, "m/45/60", false},
		{[]string{"m/44/60"}, "m/1/44/60", false},
		{[]string{"m/44/60"}, "", false},
		{[]string{"m/44/60"}, "m", false},
		{[]string{"m/44/60", "m/44/0"}, "m/44/0/1", true},
		{[]string{"m/44/60", "m/44/0"}, "m/44/1", false},
		{[]string{"m"}, "", true},
		{[]string{"m"}, "m", true},
		{[]string{"m"}, "m/0", true},
		{[]string{"m"}, "m/44/60/0/0/7", true},
		{[]string{"m/0"}, "m/0/1", true},
		{[]string{"m/0"}, "m/00", false},
		{nil, "", true},
		{nil, "m/44/60/0", true},
		{[]string{}, "", true},
	}
	for _, tc := range paths {
		if got := (Requester{Paths: tc.paths}).AllowsPath(tc.path); got != tc.want {
			t.Errorf("paths %q: AllowsPath(%q) = %v, want %v", tc.paths, tc.path, got, tc.want)
		}
	}
}

// TestRequesterID pins the id derivation the package documents.
func TestRequesterID(t *testing.T) {
	ed := []byte(newKey("requester:wallet").PublicKey())
	p := p256Key(t, "kms")
	for _, tc := range []struct {
		alg string
		key []byte
	}{{AlgEd25519, ed}, {AlgP256, p}} {
		h := sha256.Sum256(append([]byte("mpcsign/v1/requester-id\x00"+tc.alg+"\x00"), tc.key...))
		if got, want := RequesterID(tc.alg, tc.key), hex.EncodeToString(h[:16]); got != want {
			t.Errorf("%s: %s, want %s", tc.alg, got, want)
		}
	}
	if RequesterID(AlgEd25519, ed) == RequesterID(AlgP256, ed) {
		t.Error("the id does not depend on the algorithm")
	}
	if err := ParseRequesterKey(AlgEd25519, ed); err != nil {
		t.Error(err)
	}
	if err := ParseRequesterKey(AlgP256, p); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct {
		alg string
		key []byte
	}{{AlgEd25519, p}, {AlgP256, ed}, {"rsa", ed}, {AlgEd25519, nil}, {AlgP256, nil}} {
		if err := ParseRequesterKey(bad.alg, bad.key); !errorsIsRule(err) {
			t.Errorf("ParseRequesterKey(%s, %d bytes): %v, want ErrRule", bad.alg, len(bad.key), err)
		}
	}
}

func errorsIsRule(err error) bool { return err != nil && errors.Is(err, ErrRule) }

func TestRequesterEncoding(t *testing.T) {
	q := p256Requester(t, "kms", "kms@example.com", "k1", "k:2")
	q.Paths, q.MaxPerHour = []string{"m/44/60", "m/0"}, 7
	b := Body{Version: 1, Height: 5, Prev: Hash{7}.String(), Time: 1700000000, Kind: KindAddRequester, Requester: &q, Reason: "<new> & \u2028"}
	raw, err := EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	// The documented shape: fields in struct order.
	wantPrefix := `{"v":1,"height":5,"prev":"` + Hash{7}.String() + `","time":1700000000,"kind":"add_requester","reason":"\u003cnew\u003e \u0026 \u2028",` +
		`"requester":{"id":"` + q.ID + `","name":"kms@example.com","algorithm":"ecdsa-p256","public_key":"` + base64.StdEncoding.EncodeToString(q.PublicKey) +
		`","keys":["k1","k:2"],"paths":["m/44/60","m/0"],"max_per_hour":7}}`
	if string(raw) != wantPrefix {
		t.Fatalf("encoding\n%s\nwant\n%s", raw, wantPrefix)
	}
	got, err := DecodeBody(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("round trip\n%+v\nwant\n%+v", got, b)
	}
	rb := Body{Version: 1, Height: 6, Prev: Hash{8}.String(), Time: 1700000001, Kind: KindRevokeRequester, RequesterID: q.ID}
	raw2, err := EncodeBody(rb)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"height":6,"prev":"` + (Hash{8}).String() + `","time":1700000001,"kind":"revoke_requester","requester_id":"` + q.ID + `"}`; string(raw2) != want {
		t.Fatalf("encoding\n%s\nwant\n%s", raw2, want)
	}
	if got, err := DecodeBody(raw2); err != nil || !reflect.DeepEqual(got, rb) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Optional requester fields are omitted when empty.
	minimal := edRequester("x", "x", AllKeysGrant)
	b.Requester, b.Reason = &minimal, ""
	raw3, err := EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(raw3); strings.Contains(s, "paths") || strings.Contains(s, "max_per_hour") || strings.Contains(s, "requester_id") || !strings.HasSuffix(s, `"keys":["*"]}}`) {
		t.Fatalf("encoding %s", s)
	}

	s := string(raw)
	for _, tc := range []struct{ name, raw string }{
		{"unknown field in the requester", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":7,"admin":true`, 1)},
		{"unknown field beside the requester", strings.Replace(s, `"requester":{`, `"requester_key":1,"requester":{`, 1)},
		{"requester fields reordered", strings.Replace(s, `"id":"`+q.ID+`","name":"kms@example.com"`, `"name":"kms@example.com","id":"`+q.ID+`"`, 1)},
		{"requester field in upper case", strings.Replace(s, `"public_key"`, `"Public_Key"`, 1)},
		{"duplicate requester field", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":8,"max_per_hour":7`, 1)},
		{"empty paths", strings.Replace(s, `"paths":["m/44/60","m/0"]`, `"paths":[]`, 1)},
		{"null paths", strings.Replace(s, `"paths":["m/44/60","m/0"]`, `"paths":null`, 1)},
		{"zero max_per_hour", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":0`, 1)},
		{"max_per_hour as a string", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":"7"`, 1)},
		{"max_per_hour with an exponent", strings.Replace(s, `"max_per_hour":7`, `"max_per_hour":7e0`, 1)},
		{"public key unpadded", strings.Replace(s, `=",`, `",`, 1)},
		{"public key in url base64", strings.Replace(s, base64.StdEncoding.EncodeToString(q.PublicKey), base64.URLEncoding.EncodeToString(q.PublicKey), 1)},
		{"escaped key id", strings.Replace(s, `"k1"`, `"\u006b1"`, 1)},
		{"space in the requester", strings.Replace(s, `"keys":[`, `"keys": [`, 1)},
		{"explicit null requester id", strings.TrimSuffix(s, "}") + `,"requester_id":null}`},
		{"empty requester id", strings.TrimSuffix(s, "}") + `,"requester_id":""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.raw == s {
				t.Fatal("the test case did not change the encoding")
			}
			if _, err := DecodeBody([]byte(tc.raw)); !errorsIsMalformed(err) {
				t.Fatalf("DecodeBody(%.80q): %v, want ErrMalformed", tc.raw, err)
			}
		})
	}
	// A null requester decodes to none, which encodes without it.
	if _, err := DecodeBody([]byte(`{"v":1,"height":1,"time":1,"kind":"add_requester","requester":null}`)); !errorsIsMalformed(err) {
		t.Fatalf("null requester: %v", err)
	}

	// EncodeBody refuses requester text that is not UTF-8.
	for name, edit := range map[string]func(*Requester){
		"name":      func(r *Requester) { r.Name = "a\xffb" },
		"id":        func(r *Requester) { r.ID = "a\xffb" },
		"algorithm": func(r *Requester) { r.Algorithm = "a\xffb" },
		"key":       func(r *Requester) { r.Keys = []string{"a\xffb"} },
		"path":      func(r *Requester) { r.Paths = []string{"m/\xff"} },
	} {
		r := edRequester("x", "x", "k1")
		edit(&r)
		if _, err := EncodeBody(Body{Version: 1, Time: 1, Kind: KindAddRequester, Requester: &r}); !errorsIsMalformed(err) {
			t.Errorf("requester %s not UTF-8: %v", name, err)
		}
	}
	if _, err := EncodeBody(Body{Version: 1, Time: 1, Kind: KindRevokeRequester, RequesterID: "a\xffb"}); !errorsIsMalformed(err) {
		t.Errorf("requester id not UTF-8: %v", err)
	}
}
