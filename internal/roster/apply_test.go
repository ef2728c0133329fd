package roster

import (
	"bytes"
	"strings"
	"testing"
)

// base is a 2-of-3 roster with an active phone and a revoked tablet.
type base struct {
	*fixture
	phone, tablet, laptop          key
	phoneDev, tabletDev, laptopDev Device
}

func newBase(t testing.TB, approval bool) *base {
	t.Helper()
	b := &base{fixture: newFixture(t, 3, 2, approval)}
	b.phone, b.phoneDev = device("phone", "phone")
	b.tablet, b.tabletDev = device("tablet", "tablet")
	b.laptop, b.laptopDev = device("laptop", "laptop")
	b.addDevice(t, b.phoneDev)
	b.addDevice(t, b.tabletDev)
	b.revoke(t, b.tabletDev.ID)
	return b
}

func (b *base) addLaptop() Body {
	body := b.next(KindAddDevice)
	d := b.laptopDev
	body.Device = &d
	return body
}

func TestApply(t *testing.T) {
	otherKey := newKey("stranger")
	tests := []struct {
		name       string
		noApproval bool // a genesis without device approval
		build      func(t *testing.T, b *base) Entry
		want       error
	}{
		{"add device", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.ops[0], b.ops[2])
		}, nil},
		{"add device signed by all", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.ops[0], b.ops[1], b.ops[2])
		}, nil},
		{"revoke device", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindRevokeDevice)
			body.DeviceID = b.phoneDev.ID
			body.Reason = "lost on a train"
			return entry(t, body, b.ops[1], b.ops[2])
		}, nil},
		{"set operators", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindSetOperators)
			body.Operators = operators([]key{b.ops[0], newKey("new")})
			body.Quorum = 2
			return entry(t, body, b.ops[0], b.ops[1])
		}, nil},
		{"bad signature", false, func(t *testing.T, b *base) Entry {
			e := entry(t, b.addLaptop(), b.ops[0], b.ops[1])
			e.Signatures[1].Sig = bytes.Clone(e.Signatures[1].Sig)
			e.Signatures[1].Sig[5] ^= 1
			return e
		}, ErrBadSignature},
		{"signature over the bare hash", false, func(t *testing.T, b *base) Entry {
			e := entry(t, b.addLaptop(), b.ops[0])
			h := e.Hash()
			e.Signatures = append(e.Signatures, Signature{Key: b.ops[1].PublicKey(), Sig: b.ops[1].Sign(h[:])})
			return e
		}, ErrBadSignature},
		{"signature of another entry", false, func(t *testing.T, b *base) Entry {
			e := entry(t, b.addLaptop(), b.ops[0])
			other := b.entries[len(b.entries)-1]
			other.Sign(b.ops[1])
			for _, s := range other.Signatures {
				if bytes.Equal(s.Key, b.ops[1].PublicKey()) {
					e.Signatures = append(e.Signatures, s)
				}
			}
			return e
		}, ErrBadSignature},
		{"quorum not met", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.ops[2])
		}, ErrQuorum},
		{"no signatures", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop())
		}, ErrQuorum},
		{"unknown signer", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.ops[0], b.ops[1], otherKey)
		}, ErrUnknownSigner},
		{"same signer twice", false, func(t *testing.T, b *base) Entry {
			e := entry(t, b.addLaptop(), b.ops[0])
			e.Signatures = append(e.Signatures, e.Signatures[0])
			return e
		}, ErrMalformed},
		{"short signer key", false, func(t *testing.T, b *base) Entry {
			e := entry(t, b.addLaptop(), b.ops[0], b.ops[1])
			e.Signatures[0].Key = e.Signatures[0].Key[:31]
			return e
		}, ErrMalformed},
		{"wrong prev", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			h, _ := b.st.HashAt(b.st.Height() - 1)
			body.Prev = h.String()
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrChain},
		{"prev in upper case", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Prev = strings.ToUpper(body.Prev)
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrChain},
		{"wrong height", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Height++
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrChain},
		{"replayed entry", false, func(t *testing.T, b *base) Entry {
			return b.entries[len(b.entries)-1]
		}, ErrChain},
		{"second genesis", false, func(t *testing.T, b *base) Entry {
			g, err := NewGenesis(operators(b.ops), 2, false, t0)
			if err != nil {
				t.Fatal(err)
			}
			g.Sign(b.ops[0])
			g.Sign(b.ops[1])
			return g
		}, ErrChain},
		{"time goes back", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Time = t0.Unix()
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"revoked device re-added", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindAddDevice)
			d := b.tabletDev
			d.Name = "tablet2"
			body.Device = &d
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"active device re-added", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindAddDevice)
			d := b.phoneDev
			d.Name = "phone2"
			body.Device = &d
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"name of an active device", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Device.Name = "phone"
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"name of a revoked device", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Device.Name = "tablet"
			return entry(t, body, b.ops[0], b.ops[1])
		}, nil},
		{"device id of another key", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Device.ID = b.phoneDev.ID[:30] + "00"
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"bad device name", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Device.Name = "-laptop"
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"short encryption key", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Device.EncryptionKey = body.Device.EncryptionKey[:31]
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"reason too long", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Reason = strings.Repeat("x", MaxReason+1)
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"add device without device", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.next(KindAddDevice), b.ops[0], b.ops[1])
		}, ErrMalformed},
		{"add device with a device id", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.DeviceID = b.laptopDev.ID
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrMalformed},
		{"add device with a nonce", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Nonce = strings.Repeat("ab", 16)
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrMalformed},
		{"revoke with operators", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindRevokeDevice)
			body.DeviceID = b.phoneDev.ID
			body.Operators = operators(b.ops)
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrMalformed},
		{"set operators changing device approval", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindSetOperators)
			body.Operators, body.Quorum, body.DeviceApproval = operators(b.ops), 2, true
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrMalformed},
		{"unknown kind", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.next("promote_device"), b.ops[0], b.ops[1])
		}, ErrMalformed},
		{"version 2", false, func(t *testing.T, b *base) Entry {
			body := b.addLaptop()
			body.Version = 2
			return rawEntry(t, body, b.ops[0], b.ops[1])
		}, ErrMalformed},
		{"non-canonical body", false, func(t *testing.T, b *base) Entry {
			e := entry(t, b.addLaptop())
			e.Body = append(e.Body, ' ')
			e.Sign(b.ops[0])
			e.Sign(b.ops[1])
			return e
		}, ErrMalformed},
		{"revoke unknown device", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindRevokeDevice)
			body.DeviceID = b.laptopDev.ID
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrNotActive},
		{"revoke revoked device", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindRevokeDevice)
			body.DeviceID = b.tabletDev.ID
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"set operators with quorum above the set", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindSetOperators)
			body.Operators, body.Quorum = operators(b.ops[:2]), 3
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"set operators with a key twice", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindSetOperators)
			body.Operators, body.Quorum = operators([]key{b.ops[0], b.ops[0]}), 1
			return entry(t, body, b.ops[0], b.ops[1])
		}, ErrRule},
		{"set operators signed by the new set", false, func(t *testing.T, b *base) Entry {
			n1, n2 := newKey("new1"), newKey("new2")
			body := b.next(KindSetOperators)
			body.Operators, body.Quorum = operators([]key{n1, n2}), 2
			return entry(t, body, n1, n2)
		}, ErrUnknownSigner},
		{"device approval by an active device", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.phone)
		}, nil},
		{"device approval without approval in genesis", true, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.phone)
		}, ErrUnknownSigner},
		{"device approval by a revoked device", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.tablet)
		}, ErrUnknownSigner},
		{"device approving itself", false, func(t *testing.T, b *base) Entry {
			return entry(t, b.addLaptop(), b.laptop)
		}, ErrUnknownSigner},
		{"device approval of a revocation", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindRevokeDevice)
			body.DeviceID = b.phoneDev.ID
			return entry(t, body, b.phone)
		}, ErrUnknownSigner},
		{"device approval of new operators", false, func(t *testing.T, b *base) Entry {
			body := b.next(KindSetOperators)
			body.Operators, body.Quorum = operators(b.ops), 1
			return entry(t, body, b.ops[0], b.phone)
		}, ErrUnknownSigner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBase(t, !tc.noApproval)
			e := tc.build(t, b)
			height, head := b.st.Height(), b.st.Head()

			_, err := b.st.Check(e)
			wantErr(t, err, tc.want)
			if b.st.Height() != height || b.st.Head() != head {
				t.Fatal("Check changed the state")
			}

			err = b.st.Apply(e)
			wantErr(t, err, tc.want)
			if tc.want != nil {
				if b.st.Height() != height || b.st.Head() != head {
					t.Fatal("a failed Apply changed the state")
				}
				return
			}
			if b.st.Height() != height+1 || b.st.Head() != e.Hash() {
				t.Fatalf("Apply: height %d head %s, want %d %s", b.st.Height(), b.st.Head(), height+1, e.Hash())
			}
			// The chain verifies from the pinned genesis too.
			if _, err := Verify(b.st.GenesisHash(), append(b.entries, e)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}
