package guard

import (
	"errors"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

var validParams = Params{Protocol: KeygenECDSA, Threshold: 1, PartyCount: 3}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		ok   bool
	}{
		{"keygen", validParams, true},
		{"sign", Params{Protocol: SignECDSA, Threshold: 1, PartyCount: 2}, true},
		{"reshare", Params{Protocol: ReshareECDSA, Threshold: 1, PartyCount: 2, NewThreshold: 2, NewPartyCount: 5}, true},
		{"largest", Params{Protocol: KeygenECDSA, Threshold: MaxParties - 1, PartyCount: MaxParties}, true},
		{"zero value", Params{}, false},
		{"unknown protocol", Params{Protocol: 9, Threshold: 1, PartyCount: 3}, false},
		{"threshold 0", Params{Protocol: KeygenECDSA, Threshold: 0, PartyCount: 3}, false},
		{"threshold == parties", Params{Protocol: SignECDSA, Threshold: 2, PartyCount: 2}, false},
		{"too many parties", Params{Protocol: KeygenECDSA, Threshold: 1, PartyCount: MaxParties + 1}, false},
		{"reshare without new committee", Params{Protocol: ReshareECDSA, Threshold: 1, PartyCount: 3}, false},
		{"reshare new threshold == new parties", Params{Protocol: ReshareECDSA, Threshold: 1, PartyCount: 3, NewThreshold: 3, NewPartyCount: 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := []error{CheckWire(tc.p, []byte{1}), Check(tc.p, nil)}
			_, err := NewSession(tc.p)
			errs = append(errs, err)
			for i, err := range errs {
				if tc.ok {
					if errors.Is(err, ErrBadParams) {
						t.Errorf("call %d: %v", i, err)
					}
					continue
				}
				var v *Violation
				if !errors.Is(err, ErrBadParams) || errors.As(err, &v) {
					t.Errorf("call %d: want ErrBadParams (not a violation), got %v", i, err)
				}
			}
		})
	}
}

func TestCheckWireCaps(t *testing.T) {
	for _, p := range []Params{
		validParams,
		{Protocol: SignECDSA, Threshold: 1, PartyCount: 2},
		{Protocol: ReshareECDSA, Threshold: 1, PartyCount: 3, NewThreshold: 1, NewPartyCount: 3},
	} {
		t.Run(p.Protocol.String(), func(t *testing.T) {
			limit := wireCap(p.Protocol)
			if err := CheckWire(p, make([]byte, limit)); err != nil {
				t.Fatalf("at the cap: %v", err)
			}
			err := CheckWire(p, make([]byte, limit+1))
			var v *Violation
			if !errors.Is(err, ErrTooLarge) || !errors.As(err, &v) || v.Field != "wire" {
				t.Fatalf("over the cap: %v", err)
			}
			if err := CheckWire(p, nil); err == nil || errors.Is(err, ErrTooLarge) {
				t.Fatalf("empty payload: %v", err)
			}
		})
	}
}

// TestCheckWireOversizedMessage: a real-looking message with one huge field is
// refused by CheckWire before parsing, and by Check if parsed anyway.
func TestCheckWireOversizedMessage(t *testing.T) {
	r := runs(t)
	p := r.params[KeygenECDSA]
	c := firstOf(t, r, KeygenECDSA, (*keygen.KGRound1Message)(nil))
	content := contentOf(t, c).(*keygen.KGRound1Message)
	content.H1 = repeat(keygenWireCap)
	msg, wire := rebuild(t, c.from, content, true)
	if err := CheckWire(p, wire); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("CheckWire: %v", err)
	}
	wantViolation(t, Check(p, msg), name(content), "H1")
}

// TestOddMessagesDoNotPanic: values no parser produces, which a caller could
// still hand over.
func TestOddMessagesDoNotPanic(t *testing.T) {
	from := tss.NewPartyID("p0", "p0", big.NewInt(1000))
	from.Index = 0
	content := &keygen.KGRound3Message{}
	wrapper := tss.NewMessageWrapper(tss.MessageRouting{From: from, IsBroadcast: true}, content)
	for _, tc := range []struct {
		name  string
		msg   tss.ParsedMessage
		field string
	}{
		{"nil message", nil, "message"},
		{"nil content", tss.NewMessage(tss.MessageRouting{From: from, IsBroadcast: true}, nil, wrapper), "content"},
		{"typed nil content", tss.NewMessage(tss.MessageRouting{From: from, IsBroadcast: true}, (*keygen.KGRound3Message)(nil), wrapper), "content"},
		{"nil sender", tss.NewMessage(tss.MessageRouting{IsBroadcast: true}, content, wrapper), "From"},
		{"empty sender", tss.NewMessage(tss.MessageRouting{From: &tss.PartyID{}, IsBroadcast: true}, content, wrapper), "From"},
		{"nil wire wrapper", tss.NewMessage(tss.MessageRouting{From: from, IsBroadcast: true}, content, nil), "wire"},
		{"empty content", tss.NewMessage(tss.MessageRouting{From: from, IsBroadcast: true}, content, wrapper), "PaillierProof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantViolation(t, check(validParams, tc.msg), "", tc.field)
			wantViolation(t, Check(validParams, tc.msg), "", tc.field)
			s, _ := NewSession(validParams)
			wantViolation(t, s.Check(tc.msg), "", tc.field)
		})
	}
}

func TestViolationError(t *testing.T) {
	v := &Violation{Type: "binance.tsslib.ecdsa.keygen.KGRound1Message", Field: "PaillierN", Reason: "1024 bits, want exactly 2048"}
	if got, want := v.Error(), "guard: binance.tsslib.ecdsa.keygen.KGRound1Message: PaillierN: 1024 bits, want exactly 2048"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if errors.Is(v, ErrTooLarge) {
		t.Fatal("a plain violation is not ErrTooLarge")
	}
}

// TestCurveConstants: the facts the point checks rely on.
func TestCurveConstants(t *testing.T) {
	// No point has x = 0 (7 is not a square mod p) and none has y = 0 (the
	// group has prime order), so the non-empty rule for coordinates is exact.
	if big.Jacobi(big.NewInt(7), fieldPrime) != -1 {
		t.Fatal("7 is a square mod p")
	}
	if !curveOrder.ProbablyPrime(20) {
		t.Fatal("the group order is not prime")
	}
	gx, gy := generator()
	if !onCurve(bi(gx), bi(gy)) || onCurve(bi(gx), bi(plusOne(gy))) {
		t.Fatal("onCurve")
	}
	if !tss.S256().IsOnCurve(bi(gx), bi(gy)) {
		t.Fatal("library disagrees on G")
	}
}
