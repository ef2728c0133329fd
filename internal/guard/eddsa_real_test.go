package guard

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"google.golang.org/protobuf/proto"

	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

var eddsaProtocols = []Protocol{KeygenEdDSA, SignEdDSA, ReshareEdDSA}

// edRecorded is one recorded EdDSA run with the Params its receivers use.
type edRecorded struct {
	name  string
	proto Protocol
	p     Params
	msgs  []captured
}

func (r *edRealRun) recorded() []edRecorded {
	var out []edRecorded
	for _, p := range eddsaProtocols {
		out = append(out, edRecorded{p.String(), p, r.params[p], r.msgs[p]})
	}
	return append(out, edRecorded{"sign-eddsa-new-committee", SignEdDSA, r.afterParams, r.after})
}

// TestEdDSASignatures: the runs did what they should, so that the messages
// the other tests start from are real: both signatures verify under the
// key's public key with crypto/ed25519 over the whole message (leading zero
// bytes included), and resharing kept the public key.
func TestEdDSASignatures(t *testing.T) {
	r := edRuns(t)
	if r.msg[0] != 0 {
		t.Fatal("the test message should start with a zero byte")
	}
	for name, sig := range map[string][]byte{"old committee": r.sig.Signature, "new committee": r.sigAfter.Signature} {
		if !ed25519.Verify(r.pub, r.msg, sig) {
			t.Errorf("%s: the signature does not verify", name)
		}
		if ed25519.Verify(r.pub, r.msg[1:], sig) {
			t.Errorf("%s: the signature verifies without the leading zero byte", name)
		}
	}
	if !bytes.Equal(r.sig.M, r.msg) {
		t.Error("the signature data does not carry the whole message")
	}
	if len(r.resharedPubKeys) != edNewParties {
		t.Fatalf("%d new parties saved a key, want %d", len(r.resharedPubKeys), edNewParties)
	}
	for i, pub := range r.resharedPubKeys {
		if !bytes.Equal(pub, r.pub) {
			t.Errorf("new party %d saved another public key", i)
		}
	}
}

// TestEdDSARealMessagesPass: every message of the real EdDSA runs passes
// CheckWire and Check, and the runs sent every message type the guard knows.
func TestEdDSARealMessagesPass(t *testing.T) {
	r := edRuns(t)
	seen := map[Protocol]map[string]int{}
	for _, run := range r.recorded() {
		if seen[run.proto] == nil {
			seen[run.proto] = map[string]int{}
		}
		for i, m := range run.msgs {
			seen[run.proto][m.typ]++
			t.Run(fmt.Sprintf("%s/%03d-%s", run.name, i, shortType(m.typ)), func(t *testing.T) {
				if err := CheckWire(run.p, m.wire); err != nil {
					t.Fatalf("CheckWire: %v", err)
				}
				msg, err := m.parse()
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if err := check(run.p, msg); err != nil {
					t.Fatalf("Check: %v", err)
				}
			})
		}
	}
	for _, proto := range eddsaProtocols {
		for typ := range rulesFor(proto) {
			if seen[proto][typ] == 0 {
				t.Errorf("%s: the real run sent no %s", proto, typ)
			}
		}
	}
}

// TestEdDSARealMessagesPassSession replays, for every receiving party, the
// messages it received in the order they were sent, through one Session:
// every decommitment opens its sender's commitment.
func TestEdDSARealMessagesPassSession(t *testing.T) {
	r := edRuns(t)
	for _, run := range r.recorded() {
		t.Run(run.name, func(t *testing.T) {
			sessions := map[string]*Session{}
			n := 0
			for _, m := range run.msgs {
				msg, err := m.parse()
				if err != nil {
					t.Fatal(err)
				}
				for _, to := range m.to {
					s := sessions[to]
					if s == nil {
						if s, err = NewSession(run.p); err != nil {
							t.Fatal(err)
						}
						if run.proto == SignEdDSA {
							if err := s.LearnKeyEdDSA(r.keyByID[to]); err != nil {
								t.Fatal(err)
							}
						}
						sessions[to] = s
					}
					if err := s.Check(msg); err != nil {
						t.Fatalf("%s -> %s: %v", m.from.Id, to, err)
					}
					if err := s.Check(msg); err != nil {
						t.Fatalf("%s -> %s (again): %v", m.from.Id, to, err)
					}
					n++
				}
			}
			if n == 0 {
				t.Fatal("no deliveries")
			}
		})
	}
}

// TestEdDSAWireCaps: for several thresholds, the largest encoding of every
// EdDSA message type that the field checks allow (every value at its
// largest, 32 bytes) passes CheckWire, and the cap is less than three times
// it; one byte over the cap is refused. The real messages' sizes are logged.
func TestEdDSAWireCaps(t *testing.T) {
	r := edRuns(t)
	for _, run := range r.recorded() {
		largest := 0
		for _, m := range run.msgs {
			largest = max(largest, len(m.wire))
		}
		t.Logf("%-26s largest real message %4d bytes, cap %5d bytes", run.name, largest, wireLimit(run.p))
	}
	from := r.ids[0]
	v32 := repeat(32)
	values := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = v32
		}
		return out
	}
	for _, th := range []int{1, 2, 10, MaxParties - 1} {
		for _, tc := range []struct {
			p    Params
			msgs []proto.Message
		}{
			{Params{Protocol: KeygenEdDSA, Threshold: th, PartyCount: th + 1}, []proto.Message{
				&eddsakeygen.KGRound1Message{Commitment: v32},
				&eddsakeygen.KGRound2Message1{Share: v32},
				&eddsakeygen.KGRound2Message2{DeCommitment: values(1 + 2*(th+1)), ProofAlphaX: v32, ProofAlphaY: v32, ProofT: v32},
			}},
			{Params{Protocol: SignEdDSA, Threshold: th, PartyCount: th + 1}, []proto.Message{
				&eddsasigning.SignRound1Message{Commitment: v32},
				&eddsasigning.SignRound2Message{DeCommitment: values(3), ProofAlphaX: v32, ProofAlphaY: v32, ProofT: v32},
				&eddsasigning.SignRound3Message{S: v32},
			}},
			{Params{Protocol: ReshareEdDSA, Threshold: 1, PartyCount: 2, NewThreshold: th, NewPartyCount: th + 1}, []proto.Message{
				&eddsaresharing.DGRound1Message{EddsaPubX: v32, EddsaPubY: v32, VCommitment: v32},
				&eddsaresharing.DGRound2Message{},
				&eddsaresharing.DGRound3Message1{Share: v32},
				&eddsaresharing.DGRound3Message2{VDecommitment: values(1 + 2*(th+1))},
				&eddsaresharing.DGRound4Message{},
			}},
		} {
			t.Run(fmt.Sprintf("%s/t=%d", tc.p.Protocol, th), func(t *testing.T) {
				limit := wireLimit(tc.p)
				largest := 0
				for _, content := range tc.msgs {
					_, wire := rebuild(t, from, content, true)
					if err := CheckWire(tc.p, wire); err != nil {
						t.Fatalf("%s of %d bytes: %v", name(content), len(wire), err)
					}
					largest = max(largest, len(wire))
				}
				if limit >= 3*largest {
					t.Errorf("cap %d is three times the largest allowed encoding (%d) or more", limit, largest)
				}
				if err := CheckWire(tc.p, make([]byte, limit+1)); err == nil {
					t.Error("one byte over the cap passes")
				}
			})
		}
	}
}

// TestEdDSAParams: the EdDSA protocols take the same Params as ECDSA.
func TestEdDSAParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		ok   bool
	}{
		{"keygen", Params{Protocol: KeygenEdDSA, Threshold: 1, PartyCount: 3}, true},
		{"sign", Params{Protocol: SignEdDSA, Threshold: 2, PartyCount: 3}, true},
		{"reshare", Params{Protocol: ReshareEdDSA, Threshold: 1, PartyCount: 3, NewThreshold: 2, NewPartyCount: 4}, true},
		{"largest keygen", Params{Protocol: KeygenEdDSA, Threshold: MaxParties - 1, PartyCount: MaxParties}, true},
		{"keygen threshold 0", Params{Protocol: KeygenEdDSA, Threshold: 0, PartyCount: 3}, false},
		{"sign threshold == parties", Params{Protocol: SignEdDSA, Threshold: 2, PartyCount: 2}, false},
		{"reshare without new committee", Params{Protocol: ReshareEdDSA, Threshold: 1, PartyCount: 3}, false},
		{"reshare new committee too large", Params{Protocol: ReshareEdDSA, Threshold: 1, PartyCount: 3, NewThreshold: 1, NewPartyCount: MaxParties + 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSession(tc.p)
			if wire := CheckWire(tc.p, []byte{1}); (err == nil) != tc.ok || (wire == nil) != tc.ok {
				t.Fatalf("NewSession: %v, CheckWire: %v, want ok=%v", err, wire, tc.ok)
			}
		})
	}
	for _, p := range append(append([]Protocol(nil), allProtocols...), eddsaProtocols...) {
		if s := p.String(); s == "" || s[0] == 'P' {
			t.Errorf("protocol %d has no name: %q", int(p), s)
		}
	}
}

// TestEdDSAWrongProtocolOrRouting: a message of another protocol, ECDSA or
// EdDSA, or with the broadcast flag flipped, is refused.
func TestEdDSAWrongProtocolOrRouting(t *testing.T) {
	r := edRuns(t)
	ecdsa := runs(t)
	every := append(append([]Protocol(nil), allProtocols...), eddsaProtocols...)
	paramsOf := func(p Protocol) Params {
		if pp, ok := r.params[p]; ok {
			return pp
		}
		return ecdsa.params[p]
	}
	check1 := func(t *testing.T, proto Protocol, c captured) {
		msg, err := c.parse()
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range every {
			if other == proto {
				continue
			}
			wantViolation(t, Check(paramsOf(other), msg), c.typ, "type")
		}
		flipped, err := tss.ParseWireMessage(c.wire, c.from, !c.bcast)
		if err != nil {
			t.Fatal(err)
		}
		wantViolation(t, Check(paramsOf(proto), flipped), c.typ, "IsBroadcast")
	}
	for _, proto := range every {
		src := r.realRun
		if _, ok := r.params[proto]; !ok {
			src = ecdsa
		}
		done := map[string]bool{}
		for _, c := range src.msgs[proto] {
			if done[c.typ] {
				continue
			}
			done[c.typ] = true
			t.Run(proto.String()+"/"+shortType(c.typ), func(t *testing.T) { check1(t, proto, c) })
		}
	}
}

// TestEdDSASessionCommitments: a decommitment is checked against the
// commitment its sender sent in round 1. Before that commitment it is
// ErrOutOfOrder (held, not blamed); against it, a decommitment that is
// valid on its own but opens to other values is refused.
func TestEdDSASessionCommitments(t *testing.T) {
	r := edRuns(t)
	gx, gy := edGenerator()
	for _, tc := range []struct {
		proto         Protocol
		commit, open  proto.Message
		field         string
		otherOpenings func(proto.Message)
	}{
		{KeygenEdDSA, (*eddsakeygen.KGRound1Message)(nil), (*eddsakeygen.KGRound2Message2)(nil), "DeCommitment",
			edit(func(m *eddsakeygen.KGRound2Message2) { m.DeCommitment[3], m.DeCommitment[4] = gx, gy })},
		{SignEdDSA, (*eddsasigning.SignRound1Message)(nil), (*eddsasigning.SignRound2Message)(nil), "DeCommitment",
			edit(func(m *eddsasigning.SignRound2Message) { m.DeCommitment[1], m.DeCommitment[2] = gx, gy })},
		{ReshareEdDSA, (*eddsaresharing.DGRound1Message)(nil), (*eddsaresharing.DGRound3Message2)(nil), "VDecommitment",
			edit(func(m *eddsaresharing.DGRound3Message2) { m.VDecommitment[0] = plusOne(m.VDecommitment[0]) })},
	} {
		t.Run(tc.proto.String(), func(t *testing.T) {
			p := r.params[tc.proto]
			c1 := firstOf(t, r.realRun, tc.proto, tc.commit)
			c2 := fromSender(t, r.realRun, tc.proto, tc.open, c1.from.Id)
			commit, _ := c1.parse()
			open, _ := c2.parse()

			s, _ := NewSession(p)
			if err := s.Check(open); err != ErrOutOfOrder {
				t.Fatalf("decommitment first: want ErrOutOfOrder, got %v", err)
			}
			if err := s.Check(commit); err != nil {
				t.Fatalf("commitment: %v", err)
			}
			if err := s.Check(open); err != nil {
				t.Fatalf("decommitment after its commitment: %v", err)
			}

			other := tamper(t, c2, tc.otherOpenings)
			if err := Check(p, other); err != nil {
				t.Fatalf("the other opening is valid on its own: %v", err)
			}
			s2, _ := NewSession(p)
			if err := s2.Check(commit); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, s2.Check(other), c2.typ, tc.field+": does not open the sender's round 1 commitment")

			// Another party's commitment, sent as this sender's, is not
			// opened by this sender's decommitment.
			moved := tamper(t, otherSender(t, r.realRun, tc.proto, tc.commit, c1.from.Id), func(proto.Message) {})
			s3, _ := NewSession(p)
			if err := s3.Check(moved); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, s3.Check(open), c2.typ, tc.field+": does not open")
		})
	}
}

// TestEdDSALearnKey: after LearnKeyEdDSA only holders of the key may send.
func TestEdDSALearnKey(t *testing.T) {
	r := edRuns(t)
	c := firstOf(t, r.realRun, SignEdDSA, (*eddsasigning.SignRound1Message)(nil))
	local := c.to[0]
	s, _ := NewSession(r.params[SignEdDSA])
	if err := s.LearnKeyEdDSA(r.keyByID[local]); err != nil {
		t.Fatal(err)
	}
	stranger := tss.NewPartyID("x9", "x9", big.NewInt(9999))
	stranger.Index = 1
	msg, _ := rebuild(t, stranger, contentOf(t, c), true)
	wantViolation(t, s.Check(msg), c.typ, "From: sender does not hold this key")
	real, _ := c.parse()
	if err := s.Check(real); err != nil {
		t.Fatalf("a holder: %v", err)
	}

	kg, _ := NewSession(r.params[KeygenEdDSA])
	sg, _ := NewSession(r.params[SignEdDSA])
	ecdsaSign, _ := NewSession(Params{Protocol: SignECDSA, Threshold: 1, PartyCount: 2})
	broken := eddsakeygen.NewLocalPartySaveData(2)
	for name, err := range map[string]error{
		"a keygen session":         kg.LearnKeyEdDSA(r.keyByID[local]),
		"an ECDSA signing session": ecdsaSign.LearnKeyEdDSA(r.keyByID[local]),
		"empty key data":           sg.LearnKeyEdDSA(eddsakeygen.LocalPartySaveData{}),
		"missing party keys":       sg.LearnKeyEdDSA(broken),
	} {
		if !errors.Is(err, ErrBadParams) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// fromSender returns the first captured message of type typ sent by from.
func fromSender(tb testing.TB, r *realRun, p Protocol, typ proto.Message, from string) captured {
	tb.Helper()
	for _, m := range r.msgs[p] {
		if m.typ == name(typ) && m.from.Id == from {
			return m
		}
	}
	tb.Fatalf("%s: no %s from %s", p, name(typ), from)
	return captured{}
}

// otherSender returns a captured message of type typ sent by another party
// than from.
func otherSender(tb testing.TB, r *realRun, p Protocol, typ proto.Message, from string) captured {
	tb.Helper()
	for _, m := range r.msgs[p] {
		if m.typ == name(typ) && m.from.Id != from {
			c := m
			c.from = fromID(r, p, from)
			return c
		}
	}
	tb.Fatalf("%s: no %s from a party other than %s", p, name(typ), from)
	return captured{}
}

// fromID is the party id of sender from in run p.
func fromID(r *realRun, p Protocol, from string) *tss.PartyID {
	for _, m := range r.msgs[p] {
		if m.from.Id == from {
			return m.from
		}
	}
	return nil
}
