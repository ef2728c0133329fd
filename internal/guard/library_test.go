package guard

import (
	"errors"
	"math/big"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/crypto/schnorr"
	"github.com/bnb-chain/tss-lib/v2/crypto/vss"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// panics reports whether f panics.
func panics(f func()) (did bool) {
	defer func() { did = recover() != nil }()
	f()
	return false
}

// TestLibraryPanicsWithoutTheGuard calls the v2.0.2 verifiers the way the
// rounds do, with values the guard rejects. In the library each of these runs
// in a goroutine the library starts, so the panic would end the process; here
// it runs in the test's goroutine and is recovered.
func TestLibraryPanicsWithoutTheGuard(t *testing.T) {
	r := runs(t)
	ec := tss.S256()
	g := crypto.ScalarBaseMult(ec, big.NewInt(1))
	alice := firstOf(t, r, SignECDSA, (*signing.SignRound1Message1)(nil))
	bob := firstOf(t, r, SignECDSA, (*signing.SignRound2Message)(nil))
	sender, recipient := r.keys[alice.from.Id], r.keys[alice.to[0]]
	senderIdx, recipientIdx := alice.from.Index, indexOf(t, r, alice.to[0])

	t.Run("short VSS vector (keygen round 3)", func(t *testing.T) {
		share := &vss.Share{Threshold: runThreshold, ID: big.NewInt(1000), Share: big.NewInt(5)}
		if !panics(func() { share.Verify(ec, runThreshold, vss.Vs{g}) }) {
			t.Fatal("no panic")
		}
		c := firstOf(t, r, KeygenECDSA, (*keygen.KGRound2Message2)(nil))
		bad := tamper(t, c, edit(func(m *keygen.KGRound2Message2) { m.DeCommitment = m.DeCommitment[:3] }))
		wantViolation(t, Check(r.params[KeygenECDSA], bad), "", "DeCommitment: 3 elements")
	})
	t.Run("even Paillier modulus (keygen round 3, resharing round 4)", func(t *testing.T) {
		pf := &modproof.ProofMod{W: big.NewInt(3), A: big.NewInt(1), B: big.NewInt(1)}
		for i := range pf.X {
			pf.X[i], pf.Z[i] = big.NewInt(2), big.NewInt(2)
		}
		even := new(big.Int).Lsh(one, modulusBits-1)
		if !panics(func() { pf.Verify([]byte("ssid"), even) }) {
			t.Fatal("no panic")
		}
		c := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
		bad := tamper(t, c, edit(func(m *keygen.KGRound1Message) { m.PaillierN = even.Bytes() }))
		wantViolation(t, Check(r.params[KeygenECDSA], bad), "", "PaillierN: even")
	})
	t.Run("DLN proof length prefix that wraps negative (keygen round 2, resharing round 4)", func(t *testing.T) {
		c := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
		content := contentOf(t, c).(*keygen.KGRound1Message)
		content.Dlnproof_1[0] = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // Int64() == -1
		if !content.ValidateBasic() {
			t.Fatal("the library's ValidateBasic should accept it")
		}
		if !panics(func() { _, _ = content.UnmarshalDLNProof1() }) {
			t.Fatal("no panic")
		}
		msg, _ := rebuild(t, c.from, content, true)
		wantViolation(t, Check(r.params[KeygenECDSA], msg), "", "Dlnproof_1[0] (length prefix): must be 128")
	})
	t.Run("Alice's ciphertext not a unit (signing round 2)", func(t *testing.T) {
		parts := contentOf(t, alice).(*signing.SignRound1Message1).GetRangeProofAlice()
		pf, err := mta.RangeProofAliceFromBytes(parts)
		if err != nil {
			t.Fatal(err)
		}
		pk := sender.PaillierPKs[senderIdx]
		if !panics(func() {
			pf.Verify(ec, pk, recipient.NTildej[recipientIdx], recipient.H1j[recipientIdx], recipient.H2j[recipientIdx], pk.N)
		}) {
			t.Fatal("no panic")
		}
		bad := tamper(t, alice, edit(func(m *signing.SignRound1Message1) { m.C = pk.N.Bytes() }))
		s := signingSession(t, r, alice.to[0])
		wantViolation(t, s.Check(bad), "", "C: gcd with N^2 != 1")
	})
	t.Run("Bob's S1 a multiple of q (signing round 3)", func(t *testing.T) {
		content := contentOf(t, bob).(*signing.SignRound2Message)
		parts := append([][]byte(nil), content.GetProofBobWc()...)
		parts[6] = curveOrder.Bytes()
		pf, err := mta.ProofBobWCFromBytes(ec, parts)
		if err != nil {
			t.Fatal(err)
		}
		// Bob's proof is checked by its recipient, under the recipient's keys.
		to := r.keys[bob.to[0]]
		i := indexOf(t, r, bob.to[0])
		pk := &paillier.PublicKey{N: to.PaillierPKs[i].N}
		if !panics(func() {
			pf.Verify([]byte("ssid"), ec, pk, to.NTildej[i], to.H1j[i], to.H2j[i], big.NewInt(2), big.NewInt(3), g)
		}) {
			t.Fatal("no panic")
		}
		bad := tamper(t, bob, edit(func(m *signing.SignRound2Message) { m.ProofBobWc[6] = curveOrder.Bytes() }))
		wantViolation(t, Check(r.params[SignECDSA], bad), "", "ProofBobWc[6] (S1): multiple of q")
	})
	t.Run("Schnorr response 0 (signing rounds 5 and 7)", func(t *testing.T) {
		pf := &schnorr.ZKProof{Alpha: g, T: big.NewInt(0)}
		if !panics(func() { pf.Verify([]byte("ssid"), g) }) {
			t.Fatal("no panic")
		}
		c := firstOf(t, r, SignECDSA, (*signing.SignRound4Message)(nil))
		bad := tamper(t, c, edit(func(m *signing.SignRound4Message) { m.ProofT = nil }))
		wantViolation(t, Check(r.params[SignECDSA], bad), "", "ProofT: missing or zero")
	})
}

func indexOf(tb testing.TB, r *realRun, id string) int {
	tb.Helper()
	key, ok := r.keys[id]
	if !ok {
		tb.Fatalf("no key for %s", id)
	}
	i, err := key.OriginalIndex()
	if err != nil {
		tb.Fatal(err)
	}
	return i
}

func signingSession(tb testing.TB, r *realRun, localID string) *Session {
	tb.Helper()
	s, err := NewSession(r.params[SignECDSA])
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.LearnKey(r.keys[localID]); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestSessionSigning(t *testing.T) {
	r := runs(t)
	alice := firstOf(t, r, SignECDSA, (*signing.SignRound1Message1)(nil))
	n := r.keys[alice.from.Id].PaillierPKs[alice.from.Index].N
	n2 := new(big.Int).Mul(n, n)
	type a = *signing.SignRound1Message1
	for _, tc := range []struct {
		name   string
		mutate func(proto.Message)
		want   string
	}{
		{"C == N", edit(func(m a) { m.C = n.Bytes() }), "C: gcd with N^2 != 1"},
		{"C == N^2", edit(func(m a) { m.C = n2.Bytes() }), "C: not below N^2"},
		{"U == N^2", edit(func(m a) { m.RangeProofAlice[1] = n2.Bytes() }), "RangeProofAlice[1] (U): not below N^2"},
		{"S == N", edit(func(m a) { m.RangeProofAlice[3] = n.Bytes() }), "RangeProofAlice[3] (S): not below N"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tamper(t, alice, tc.mutate)
			if err := Check(r.params[SignECDSA], bad); err != nil {
				t.Fatalf("this case needs N, the stateless check should pass it: %v", err)
			}
			wantViolation(t, signingSession(t, r, alice.to[0]).Check(bad), name((*signing.SignRound1Message1)(nil)), tc.want)
		})
	}
	t.Run("sender does not hold the key", func(t *testing.T) {
		stranger := tss.NewPartyID("p9", "p9", big.NewInt(9999))
		stranger.Index = 1
		msg, _ := rebuild(t, stranger, contentOf(t, alice), false)
		wantViolation(t, signingSession(t, r, alice.to[0]).Check(msg), "", "From: sender does not hold this key")
	})
	t.Run("LearnKey refuses", func(t *testing.T) {
		kg, _ := NewSession(r.params[KeygenECDSA])
		sg, _ := NewSession(r.params[SignECDSA])
		broken := keygen.NewLocalPartySaveData(2)
		for name, err := range map[string]error{
			"a keygen session": kg.LearnKey(r.keys[alice.from.Id]),
			"empty key data":   sg.LearnKey(keygen.LocalPartySaveData{}),
			"missing moduli":   sg.LearnKey(broken),
		} {
			if !errors.Is(err, ErrBadParams) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}
