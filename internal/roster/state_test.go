package roster

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestChainOfEveryKind(t *testing.T) {
	b := newBase(t, true)
	body := b.next(KindSetOperators)
	newOp := newKey("new")
	body.Operators, body.Quorum = operators([]key{b.ops[0], newOp}), 1
	b.apply(t, body, b.ops[0], b.ops[1])
	b.apply(t, b.addLaptop(), newOp)

	st, err := Verify(b.entries[0].Hash(), b.entries)
	if err != nil {
		t.Fatal(err)
	}
	if st.Height() != 5 || st.Head() != b.entries[5].Hash() || st.GenesisHash() != b.entries[0].Hash() {
		t.Fatalf("height %d head %s genesis %s", st.Height(), st.Head(), st.GenesisHash())
	}
	for i, e := range b.entries {
		if h, ok := st.HashAt(uint64(i)); !ok || h != e.Hash() {
			t.Fatalf("HashAt(%d) = %s %v", i, h, ok)
		}
	}
	if _, ok := st.HashAt(6); ok {
		t.Fatal("HashAt beyond the head")
	}
	if ops := st.Operators(); len(ops) != 2 || !bytes.Equal(ops[1].Key, newOp.PublicKey()) || st.Quorum() != 1 || !st.DeviceApproval() {
		t.Fatalf("operators %v quorum %d", ops, st.Quorum())
	}
	var names []string
	for _, d := range st.Devices() {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, []string{"phone", "tablet", "laptop"}) {
		t.Fatalf("devices %v", names)
	}
	tab, ok := st.Device(b.tabletDev.ID)
	if !ok || tab.Active || tab.AddedAt != 2 || tab.RevokedAt != 3 || st.Active(b.tabletDev.ID) {
		t.Fatalf("tablet %+v", tab)
	}
	if d, ok := st.ActiveByName("laptop"); !ok || d.ID != b.laptopDev.ID || d.AddedAt != 5 || !st.Active(d.ID) {
		t.Fatalf("laptop %+v %v", d, ok)
	}
	if _, ok := st.ActiveByName("tablet"); ok {
		t.Fatal("a revoked device is active by name")
	}
}

func TestRemovedOperator(t *testing.T) {
	b := newBase(t, false)
	body := b.next(KindSetOperators)
	newOp := newKey("new")
	body.Operators, body.Quorum = operators([]key{b.ops[0], b.ops[1], newOp}), 2
	b.apply(t, body, b.ops[0], b.ops[2]) // ops[2] signs its own removal

	_, err := b.st.Check(entry(t, b.addLaptop(), b.ops[0], b.ops[2]))
	wantErr(t, err, ErrUnknownSigner)
	_, err = b.st.Check(entry(t, b.addLaptop(), b.ops[0], newOp))
	wantErr(t, err, nil)
}

func TestForkAndRollback(t *testing.T) {
	a := newBase(t, false)
	b := a.st.Clone()
	left := entry(t, a.addLaptop(), a.ops[0], a.ops[1])
	rb := a.next(KindRevokeDevice)
	rb.DeviceID = a.phoneDev.ID
	right := entry(t, rb, a.ops[0], a.ops[1])
	if err := a.st.Apply(left); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(right); err != nil {
		t.Fatal(err)
	}
	// A device that saw a's head is shown b: same height, another entry.
	wantErr(t, b.CheckHead(a.st.Height(), a.st.Head()), ErrFork)
	wantErr(t, a.st.Apply(right), ErrChain)
	// An earlier head that both share is fine; the same head is fine.
	h, _ := a.st.HashAt(2)
	wantErr(t, b.CheckHead(2, h), nil)
	wantErr(t, a.st.CheckHead(a.st.Height(), a.st.Head()), nil)
	// A device that saw a longer chain is shown a shorter one.
	old, err := Verify(a.entries[0].Hash(), a.entries[:3])
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, old.CheckHead(a.st.Height(), a.st.Head()), ErrRollback)
	wantErr(t, old.CheckHead(3, Hash{}), ErrRollback)
}

func TestVerify(t *testing.T) {
	b := newBase(t, false)
	other := newFixture(t, 3, 2, false) // same operators, another nonce
	if other.entries[0].Hash() == b.entries[0].Hash() {
		t.Fatal("two geneses hash the same")
	}
	_, err := Verify(other.entries[0].Hash(), b.entries)
	wantErr(t, err, ErrGenesisMismatch)
	_, err = Verify(b.entries[0].Hash(), nil)
	wantErr(t, err, ErrMalformed)
	_, err = Verify(b.entries[0].Hash(), append(slices.Clone(b.entries[:2]), b.entries[3]))
	wantErr(t, err, ErrChain)
	_, err = Verify(b.entries[0].Hash(), b.entries)
	wantErr(t, err, nil)
}

func TestOpen(t *testing.T) {
	ops := []key{newKey("a"), newKey("b"), newKey("c")}
	good := func() Body {
		return Body{Version: 1, Time: t0.Unix(), Kind: KindGenesis, Nonce: strings.Repeat("0f", 16), Operators: operators(ops), Quorum: 2}
	}
	tests := []struct {
		name    string
		edit    func(*Body)
		signers []Signer
		want    error
	}{
		{"good", func(*Body) {}, []Signer{ops[0], ops[2]}, nil},
		{"device approval", func(b *Body) { b.DeviceApproval = true }, []Signer{ops[0], ops[1]}, nil},
		{"quorum not met", func(*Body) {}, []Signer{ops[0]}, ErrQuorum},
		{"unsigned", func(*Body) {}, nil, ErrQuorum},
		{"signed by a stranger", func(*Body) {}, []Signer{ops[0], ops[1], newKey("x")}, ErrUnknownSigner},
		{"height 1", func(b *Body) { b.Height = 1 }, []Signer{ops[0], ops[1]}, ErrChain},
		{"with prev", func(b *Body) { b.Prev = Hash{1}.String() }, []Signer{ops[0], ops[1]}, ErrChain},
		{"not genesis", func(b *Body) { b.Kind = KindSetOperators; b.Nonce = "" }, []Signer{ops[0], ops[1]}, ErrRule},
		{"no nonce", func(b *Body) { b.Nonce = "" }, []Signer{ops[0], ops[1]}, ErrMalformed},
		{"upper-case nonce", func(b *Body) { b.Nonce = strings.Repeat("0F", 16) }, []Signer{ops[0], ops[1]}, ErrMalformed},
		{"with a device", func(b *Body) { _, d := device("x", "x"); b.Device = &d }, []Signer{ops[0], ops[1]}, ErrMalformed},
		{"no time", func(b *Body) { b.Time = 0 }, []Signer{ops[0], ops[1]}, ErrRule},
		{"quorum 0", func(b *Body) { b.Quorum = 0 }, []Signer{ops[0], ops[1]}, ErrRule},
		{"quorum above the set", func(b *Body) { b.Quorum = 4 }, []Signer{ops[0], ops[1], ops[2]}, ErrRule},
		{"bad operator name", func(b *Body) { b.Operators[1].Name = "bob smith" }, []Signer{ops[0], ops[1]}, ErrRule},
		{"operator name twice", func(b *Body) { b.Operators[1].Name = b.Operators[0].Name }, []Signer{ops[0], ops[1]}, ErrRule},
		{"short operator key", func(b *Body) { b.Operators[2].Key = b.Operators[2].Key[:16] }, []Signer{ops[0], ops[1]}, ErrRule},
		{"too many operators", func(b *Body) {
			for i := range MaxOperators {
				b.Operators = append(b.Operators, Operator{Name: "extra" + strings.Repeat("x", i), Key: newKey(strings.Repeat("x", i)).PublicKey()})
			}
		}, []Signer{ops[0], ops[1]}, ErrRule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := good()
			tc.edit(&body)
			e := entry(t, body, tc.signers...)
			st, err := Open(e)
			wantErr(t, err, tc.want)
			if err == nil && (st.Height() != 0 || st.Head() != e.Hash() || st.GenesisHash() != e.Hash() || st.Quorum() != 2) {
				t.Fatalf("state %d %s %d", st.Height(), st.Head(), st.Quorum())
			}
		})
	}
}

func TestNewGenesis(t *testing.T) {
	ops := operators([]key{newKey("a"), newKey("b")})
	a, err := NewGenesis(ops, 2, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewGenesis(ops, 2, true, t0)
	if a.Hash() == b.Hash() {
		t.Fatal("two geneses of the same operators hash the same: no fresh nonce")
	}
	body, err := DecodeBody(a.Body)
	if err != nil || !validNonce(body.Nonce) || body.Quorum != 2 || !body.DeviceApproval || body.Time != t0.Unix() {
		t.Fatalf("%+v %v", body, err)
	}
	for _, bad := range []struct {
		ops []Operator
		q   int
		now time.Time
	}{{ops, 0, t0}, {ops, 3, t0}, {nil, 1, t0}, {ops[:1], 1, time.Unix(0, 0)}} {
		if _, err := NewGenesis(bad.ops, bad.q, false, bad.now); !errors.Is(err, ErrRule) {
			t.Fatalf("NewGenesis(%d ops, quorum %d): %v", len(bad.ops), bad.q, err)
		}
	}
}

func TestExtendIsAtomic(t *testing.T) {
	b := newBase(t, false)
	good1 := entry(t, b.addLaptop(), b.ops[0], b.ops[1])
	st := b.st.Clone()
	if err := st.Apply(good1); err != nil {
		t.Fatal(err)
	}
	rb := st.Next(KindRevokeDevice, t0.Add(time.Hour))
	rb.DeviceID = b.phoneDev.ID
	bad := entry(t, rb, b.ops[0]) // no quorum
	good2 := entry(t, rb, b.ops[0], b.ops[1])

	height, head := b.st.Height(), b.st.Head()
	wantErr(t, b.st.Extend([]Entry{good1, bad, good2}), ErrQuorum)
	if b.st.Height() != height || b.st.Head() != head || b.st.Active(b.laptopDev.ID) {
		t.Fatal("a failed Extend changed the state")
	}
	wantErr(t, b.st.Extend([]Entry{good1, good2}), nil)
	if b.st.Height() != height+2 || !b.st.Active(b.laptopDev.ID) || b.st.Active(b.phoneDev.ID) {
		t.Fatal("Extend did not apply the entries")
	}
}

func TestSigners(t *testing.T) {
	b := newBase(t, true)
	body := b.addLaptop()
	e := entry(t, body, b.ops[2])
	names, need, err := b.st.Signers(e)
	if err != nil || need != 2 || !slices.Equal(names, []string{"opc@example.com"}) {
		t.Fatalf("%v %d %v", names, need, err)
	}
	e.Sign(b.phone)
	e.Sign(b.ops[0])
	names, _, err = b.st.Signers(e)
	if err != nil || !slices.Equal(names, []string{"opa@example.com", "opc@example.com", "device:phone"}) {
		t.Fatalf("%v %v", names, err)
	}
	e.Signatures[0].Sig = make([]byte, 64)
	_, _, err = b.st.Signers(e)
	wantErr(t, err, ErrBadSignature)

	g, _ := NewGenesis(operators(b.ops), 3, false, t0)
	g.Sign(b.ops[1])
	names, need, err = GenesisSigners(g)
	if err != nil || need != 3 || !slices.Equal(names, []string{"opb@example.com"}) {
		t.Fatalf("genesis: %v %d %v", names, need, err)
	}
}

func TestSignIsIdempotentAndSorted(t *testing.T) {
	b := newBase(t, false)
	e := entry(t, b.addLaptop(), b.ops[2], b.ops[0], b.ops[1])
	n := len(e.Signatures)
	e.Sign(b.ops[0])
	if len(e.Signatures) != n || n != 3 {
		t.Fatalf("%d signatures", len(e.Signatures))
	}
	if !slices.IsSortedFunc(e.Signatures, func(a, b Signature) int { return bytes.Compare(a.Key, b.Key) }) {
		t.Fatal("signatures are not sorted by key")
	}
	wantErr(t, b.st.Apply(e), nil)
}

func TestCloneIsDeep(t *testing.T) {
	b := newBase(t, false)
	c := b.st.Clone()
	if err := c.Apply(entry(t, b.addLaptop(), b.ops[0], b.ops[1])); err != nil {
		t.Fatal(err)
	}
	rb := c.Next(KindRevokeDevice, t0.Add(time.Hour))
	rb.DeviceID = b.phoneDev.ID
	if err := c.Apply(entry(t, rb, b.ops[0], b.ops[1])); err != nil {
		t.Fatal(err)
	}
	if b.st.Height() != 3 || b.st.Active(b.laptopDev.ID) || !b.st.Active(b.phoneDev.ID) {
		t.Fatal("changing a clone changed the original")
	}
	d, _ := b.st.Device(b.phoneDev.ID)
	d.IdentityKey[0] ^= 1
	b.st.Operators()[0].Key[0] ^= 1
	b.st.Devices()[0].IdentityKey[0] ^= 1
	if d, _ := b.st.ActiveByName("phone"); d.IdentityKey != nil {
		d.IdentityKey[0] ^= 1
	}
	if d2, _ := b.st.Device(b.phoneDev.ID); !bytes.Equal(d2.IdentityKey, b.phoneDev.IdentityKey) || !bytes.Equal(b.st.Operators()[0].Key, b.ops[0].PublicKey()) {
		t.Fatal("a returned key aliases the state")
	}
}

func TestNext(t *testing.T) {
	b := newBase(t, false)
	last, _ := DecodeBody(b.entries[len(b.entries)-1].Body)
	n := b.st.Next(KindAddDevice, t0) // before the last entry
	if n.Version != 1 || n.Height != 4 || n.Prev != b.st.Head().String() || n.Time != last.Time || n.Kind != KindAddDevice {
		t.Fatalf("%+v", n)
	}
	if n := b.st.Next(KindAddDevice, t0.Add(time.Hour)); n.Time != t0.Add(time.Hour).Unix() {
		t.Fatalf("time %d", n.Time)
	}
}

func TestZeroStateDoesNotPanic(t *testing.T) {
	var s State
	b := newBase(t, false)
	_, err := s.Check(b.entries[1])
	wantErr(t, err, ErrChain)
	wantErr(t, s.CheckHead(0, Hash{}), ErrRollback)
	_ = s.Next(KindAddDevice, t0)
	_, err = s.VerifyCeremony(Authorization{}, t0)
	wantErr(t, err, ErrMalformed)
}
