package guard

import (
	"crypto/rand"
	"errors"
	"math/big"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// These tests cover the checks that mirror tss-lib v3/v4 (upstream.go; the
// list is in doc.go). Each crafted message passes every other check, so each
// test fails without the check it is about.

var (
	bigPrimeOnce sync.Once
	bigPrime     *big.Int
)

// primeAboveModuli is a 2048-bit prime, 1 mod 4, above every Paillier N and
// NTilde of the real keygen and resharing runs: put in place of one of them,
// every value that must lie below the modulus still does, so the only rule
// the message breaks is "composite". It is an ordinary prime (about a
// hundred Miller-Rabin tests to find), not a safe prime.
func primeAboveModuli(tb testing.TB, r *realRun) *big.Int {
	tb.Helper()
	bigPrimeOnce.Do(func() {
		max := new(big.Int)
		for _, p := range []Protocol{KeygenECDSA, ReshareECDSA} {
			for _, m := range r.msgs[p] {
				var ns [][]byte
				switch c := contentOf(tb, m).(type) {
				case *keygen.KGRound1Message:
					ns = [][]byte{c.GetPaillierN(), c.GetNTilde()}
				case *resharing.DGRound2Message1:
					ns = [][]byte{c.GetPaillierN(), c.GetNTilde()}
				}
				for _, n := range ns {
					if v := bi(n); v.Cmp(max) > 0 {
						max = v
					}
				}
			}
		}
		p := new(big.Int).Add(max, one)
		for p.Bit(0) == 0 || p.Bit(1) == 1 {
			p.Add(p, one)
		}
		gcd := new(big.Int)
		for gcd.GCD(nil, nil, p, smallPrimes()).Cmp(one) != 0 || !p.ProbablyPrime(20) {
			p.Add(p, big.NewInt(4))
		}
		bigPrime = p
	})
	if bigPrime.BitLen() != modulusBits {
		tb.Fatalf("no 2048-bit prime above the fixtures' moduli")
	}
	return bigPrime
}

// threeMod4Above is the smallest value above b that is 3 mod 4 and has no
// prime factor below 1000: a modulus that passes every older check.
func threeMod4Above(b []byte) []byte {
	v := new(big.Int).Add(bi(b), one)
	for v.Bit(0) == 0 || v.Bit(1) == 0 {
		v.Add(v, one)
	}
	gcd := new(big.Int)
	for gcd.GCD(nil, nil, v, smallPrimes()).Cmp(one) != 0 {
		v.Add(v, big.NewInt(4))
	}
	return v.Bytes()
}

// TestUpstreamModulus: a prime or 3 mod 4 Paillier N or NTilde, in keygen
// round 1 and resharing round 2 (upstreamModulus).
func TestUpstreamModulus(t *testing.T) {
	r := runs(t)
	prime := primeAboveModuli(t, r).Bytes()
	type r1 = *keygen.KGRound1Message
	type d21 = *resharing.DGRound2Message1
	k1, g21 := (r1)(nil), (d21)(nil)
	runTamper(t, KeygenECDSA, []tamperCase{
		{"NTilde prime", k1, edit(func(m r1) { m.NTilde = prime }), "NTilde: modulus is prime"},
		{"N prime", k1, edit(func(m r1) { m.PaillierN = prime }), "PaillierN: modulus is prime"},
		{"NTilde 3 mod 4", k1, edit(func(m r1) { m.NTilde = threeMod4Above(m.NTilde) }), "NTilde: modulus is 3 mod 4"},
		{"N 3 mod 4", k1, edit(func(m r1) { m.PaillierN = threeMod4Above(m.PaillierN) }), "PaillierN: modulus is 3 mod 4"},
	})
	runTamper(t, ReshareECDSA, []tamperCase{
		{"NTilde prime", g21, edit(func(m d21) { m.NTilde = prime }), "NTilde: modulus is prime"},
		{"N prime", g21, edit(func(m d21) { m.PaillierN = prime }), "PaillierN: modulus is prime"},
		{"NTilde 3 mod 4", g21, edit(func(m d21) { m.NTilde = threeMod4Above(m.NTilde) }), "NTilde: modulus is 3 mod 4"},
	})
}

// TestLibraryAcceptsPrimeNTilde: v2.0.2's dlnproof.Verify accepts DLN proofs
// over a prime NTilde, where the prover knows every discrete logarithm it
// wants (v4's Verify refuses the modulus first). A keygen round 1 message
// built on one passes every check of the guard but the new one.
func TestLibraryAcceptsPrimeNTilde(t *testing.T) {
	r := runs(t)
	p := primeAboveModuli(t, r)
	order := new(big.Int).Sub(p, one) // the group order, known to the prover
	h1 := big.NewInt(9)
	var x, y *big.Int
	for y == nil {
		var err error
		if x, err = rand.Int(rand.Reader, order); err != nil {
			t.Fatal(err)
		}
		y = new(big.Int).ModInverse(x, order)
	}
	h2 := new(big.Int).Exp(h1, x, p)
	pf1 := dlnproof.NewDLNProof(h1, h2, x, order, one, p, rand.Reader)
	pf2 := dlnproof.NewDLNProof(h2, h1, y, order, one, p, rand.Reader)
	if !pf1.Verify(h1, h2, p) || !pf2.Verify(h2, h1, p) {
		t.Fatal("v2.0.2 should accept DLN proofs over a prime NTilde")
	}
	b1, err1 := pf1.Serialize()
	b2, err2 := pf2.Serialize()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	c := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
	msg := tamper(t, c, edit(func(m *keygen.KGRound1Message) {
		m.NTilde, m.H1, m.H2, m.Dlnproof_1, m.Dlnproof_2 = p.Bytes(), h1.Bytes(), h2.Bytes(), b1, b2
	}))
	wantViolation(t, Check(r.params[KeygenECDSA], msg), c.typ, "NTilde: modulus is prime")

	// Every other check on these values passes.
	f := fields{typ: c.typ}
	if bad := f.ringPedersen("H1", "H2", h1.Bytes(), h2.Bytes(), p); bad != nil {
		t.Fatal(bad)
	}
	for _, b := range [][][]byte{b1, b2} {
		if bad := f.dlnProof("Dlnproof", b, p); bad != nil {
			t.Fatal(bad)
		}
	}
}

// TestUpstreamDLNAlpha: a DLN commitment alpha_i that shares a factor with
// NTilde (dlnAlphaUnits).
func TestUpstreamDLNAlpha(t *testing.T) {
	r := runs(t)
	factor := func(c captured) []byte {
		pre := preParamsOf(t, r, c)
		return new(big.Int).Add(new(big.Int).Lsh(pre.P, 1), one).Bytes() // the safe prime 2p+1 | NTilde
	}
	kc := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
	rc := firstOf(t, r, ReshareECDSA, (*resharing.DGRound2Message1)(nil))
	for _, tc := range []struct {
		c      captured
		mutate func(proto.Message)
		want   string
	}{
		{kc, edit(func(m *keygen.KGRound1Message) { m.Dlnproof_1[5] = factor(kc) }), "Dlnproof_1[5] (alpha): gcd with NTilde != 1"},
		{kc, edit(func(m *keygen.KGRound1Message) { m.Dlnproof_2[128] = factor(kc) }), "Dlnproof_2[128] (alpha): gcd with NTilde != 1"},
		{rc, edit(func(m *resharing.DGRound2Message1) { m.Dlnproof_2[3] = factor(rc) }), "Dlnproof_2[3] (alpha): gcd with NTilde != 1"},
	} {
		wantViolation(t, Check(r.params[tc.c.protocol], tamper(t, tc.c, tc.mutate)), tc.c.typ, tc.want)
	}
}

// TestUpstreamSigningLocalRing: the MtA values made under the recipient's
// own N and NTilde, which a Session knows after LearnKey (localRing).
func TestUpstreamSigningLocalRing(t *testing.T) {
	r := runs(t)
	p := r.params[SignECDSA]
	alice := firstOf(t, r, SignECDSA, (*signing.SignRound1Message1)(nil))
	bob := firstOf(t, r, SignECDSA, (*signing.SignRound2Message)(nil))
	ring := func(local string) (n, n2, bound *big.Int) {
		key, i := r.keys[local], indexOf(t, r, local)
		n = key.PaillierPKs[i].N
		bound = new(big.Int).Lsh(new(big.Int).Mul(q3, key.NTildej[i]), 1)
		return n, new(big.Int).Mul(n, n), bound
	}
	_, _, aBound := ring(alice.to[0])
	bN, bN2, bBound := ring(bob.to[0])
	minus1 := func(v *big.Int) []byte { return new(big.Int).Sub(v, one).Bytes() }
	type a = *signing.SignRound1Message1
	type b = *signing.SignRound2Message
	for _, tc := range []struct {
		name   string
		c      captured
		mutate func(proto.Message)
		want   string // "" if the message must pass
	}{
		{"Alice S2 at the bound", alice, edit(func(m a) { m.RangeProofAlice[5] = aBound.Bytes() }), "RangeProofAlice[5] (S2): not below 2*q^3*NTilde"},
		{"Alice S2 just below the bound", alice, edit(func(m a) { m.RangeProofAlice[5] = minus1(aBound) }), ""},
		{"Bob C1 == N", bob, edit(func(m b) { m.C1 = bN.Bytes() }), "C1: gcd with the recipient's N^2 != 1"},
		{"Bob C2 == N^2", bob, edit(func(m b) { m.C2 = bN2.Bytes() }), "C2: not below the recipient's N^2"},
		{"Bob C2 == N^2 + C2", bob, edit(func(m b) { m.C2 = new(big.Int).Add(bN2, bi(m.C2)).Bytes() }), "C2: not below"},
		{"ProofBob S2 at the bound", bob, edit(func(m b) { m.ProofBob[7] = bBound.Bytes() }), "ProofBob[7] (S2): not below 2*q^3*NTilde"},
		{"ProofBob T2 at the bound", bob, edit(func(m b) { m.ProofBob[9] = bBound.Bytes() }), "ProofBob[9] (T2): not below"},
		{"ProofBobWc S2 at the bound", bob, edit(func(m b) { m.ProofBobWc[7] = bBound.Bytes() }), "ProofBobWc[7] (S2): not below"},
		{"ProofBobWc T2 at the bound", bob, edit(func(m b) { m.ProofBobWc[9] = bBound.Bytes() }), "ProofBobWc[9] (T2): not below"},
		{"ProofBobWc T2 just below the bound", bob, edit(func(m b) { m.ProofBobWc[9] = minus1(bBound) }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tamper(t, tc.c, tc.mutate)
			if err := Check(p, bad); err != nil {
				t.Fatalf("this case needs the recipient's key data, the stateless check should pass it: %v", err)
			}
			without, _ := NewSession(p)
			if err := without.Check(bad); err != nil {
				t.Fatalf("a Session without LearnKey should pass it: %v", err)
			}
			err := signingSession(t, r, tc.c.to[0]).Check(bad)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("an in-range value: %v", err)
				}
				return
			}
			wantViolation(t, err, tc.c.typ, tc.want)
		})
	}
	t.Run("LearnKey needs the local party among Ks", func(t *testing.T) {
		s, _ := NewSession(p)
		key, err := copyKey(r.keys[alice.to[0]])
		if err != nil {
			t.Fatal(err)
		}
		key.ShareID = big.NewInt(424242)
		if err := s.LearnKey(key); !errors.Is(err, ErrBadParams) {
			t.Fatalf("ShareID not among Ks: %v", err)
		}
		key.ShareID = nil
		if err := s.LearnKey(key); !errors.Is(err, ErrBadParams) {
			t.Fatalf("no ShareID: %v", err)
		}
	})
}

// anotherSender is a captured message of type typ sent by a party other
// than from, with its own sender.
func anotherSender(tb testing.TB, r *realRun, p Protocol, typ proto.Message, from string) captured {
	tb.Helper()
	for _, m := range r.msgs[p] {
		if m.typ == name(typ) && m.from.Id != from {
			return m
		}
	}
	tb.Fatalf("%s: no %s from a party other than %s", p, name(typ), from)
	return captured{}
}

// TestResharingDeclarationsLeftToCaller pins why the guard does not mirror
// v4's resharing round 1 checks (SRC-2026-1155, oldSSIDUnanimous) itself:
// with only earlier messages to compare against, the first declaration to
// arrive would be the reference, and a lying old member that arrives first
// would get the honest ones refused. The honest declaration must pass after
// a lying one; the caller checks declarations against the key id and its
// own ssid (see doc.go).
func TestResharingDeclarationsLeftToCaller(t *testing.T) {
	r, ed := runs(t), edRuns(t)
	gx, gy := generator()
	egx, egy := edGenerator()
	type d1 = *resharing.DGRound1Message
	type e1 = *eddsaresharing.DGRound1Message
	for _, tc := range []struct {
		name   string
		r      *realRun
		proto  Protocol
		typ    proto.Message
		mutate func(proto.Message)
	}{
		{"ecdsa public key", r, ReshareECDSA, (d1)(nil), edit(func(m d1) { m.EcdsaPubX, m.EcdsaPubY = gx, gy })},
		{"ecdsa ssid", r, ReshareECDSA, (d1)(nil), edit(func(m d1) { m.Ssid = repeat(32) })},
		{"eddsa public key", ed.realRun, ReshareEdDSA, (e1)(nil), edit(func(m e1) { m.EddsaPubX, m.EddsaPubY = egx, egy })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.r.params[tc.proto]
			first := firstOf(t, tc.r, tc.proto, tc.typ)
			liar := tamper(t, anotherSender(t, tc.r, tc.proto, tc.typ, first.from.Id), tc.mutate)
			honest, _ := first.parse()
			s, _ := NewSession(p)
			for _, m := range []tss.ParsedMessage{liar, honest} {
				if err := s.Check(m); err != nil {
					t.Fatalf("%v", err)
				}
			}
		})
	}
}

// TestUpstreamHonestRuns: replaying the real signing run through Sessions
// (as TestRealMessagesPassSession does) reaches the local-ring checks: every
// signing Session learned its ring, and every honest message passed them.
func TestUpstreamHonestRuns(t *testing.T) {
	r := runs(t)
	sessions := map[string]*Session{}
	checked := 0
	for _, m := range r.msgs[SignECDSA] {
		msg, err := m.parse()
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range m.to {
			s := sessions[to]
			if s == nil {
				s = signingSession(t, r, to)
				if s.local == nil {
					t.Fatalf("%s: LearnKey learned no local ring", to)
				}
				sessions[to] = s
			}
			if err := s.Check(msg); err != nil {
				t.Fatalf("%s -> %s: %v", m.from.Id, to, err)
			}
			switch msg.Content().(type) {
			case *signing.SignRound1Message1, *signing.SignRound2Message:
				checked++
			}
		}
	}
	if want := 2 * runSigners * (runSigners - 1); checked != want {
		t.Fatalf("%d MtA messages checked against a local ring, want %d", checked, want)
	}
}
