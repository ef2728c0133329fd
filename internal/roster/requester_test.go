package roster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

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
