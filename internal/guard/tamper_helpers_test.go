package guard

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// firstOf returns the first captured message of type typ sent in protocol p.
func firstOf(tb testing.TB, r *realRun, p Protocol, typ proto.Message) captured {
	tb.Helper()
	for _, m := range r.msgs[p] {
		if m.typ == name(typ) {
			return m
		}
	}
	tb.Fatalf("%s: no captured %s", p, name(typ))
	return captured{}
}

// contentOf parses a captured message and returns a copy of its content.
func contentOf(tb testing.TB, c captured) proto.Message {
	tb.Helper()
	msg, err := c.parse()
	if err != nil {
		tb.Fatal(err)
	}
	return proto.Clone(msg.Content())
}

// rebuild encodes content as a sender would (tss.NewMessageWrapper, then the
// Any payload as wire bytes) and parses it back as the receiver does.
func rebuild(tb testing.TB, from *tss.PartyID, content proto.Message, bcast bool) (tss.ParsedMessage, []byte) {
	tb.Helper()
	mc, ok := content.(tss.MessageContent)
	if !ok {
		tb.Fatalf("%T is not a tss message", content)
	}
	w := tss.NewMessageWrapper(tss.MessageRouting{From: from, IsBroadcast: bcast}, mc)
	wire, err := proto.Marshal(w.Message)
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := tss.ParseWireMessage(wire, from, bcast)
	if err != nil {
		tb.Fatal(err)
	}
	return msg, wire
}

// tamper returns captured message c with mutate applied to its content.
func tamper(tb testing.TB, c captured, mutate func(proto.Message)) tss.ParsedMessage {
	tb.Helper()
	content := contentOf(tb, c)
	mutate(content)
	msg, _ := rebuild(tb, c.from, content, c.bcast)
	return msg
}

// edit adapts a typed mutation.
func edit[T proto.Message](f func(T)) func(proto.Message) {
	return func(m proto.Message) { f(m.(T)) }
}

// wantViolation asserts err is a *Violation for type typ (unless empty) that
// matches want, and that its text stays short (it must never carry a value).
// want is "field" or "field: reason"; the violation's Field must contain the
// field part and its Reason the reason part.
func wantViolation(tb testing.TB, err error, typ, want string) *Violation {
	tb.Helper()
	var v *Violation
	if !errors.As(err, &v) {
		tb.Fatalf("want a *Violation on %s, got %v", want, err)
	}
	if typ != "" && v.Type != typ {
		tb.Errorf("violation type %q, want %q", v.Type, typ)
	}
	field, reason, _ := strings.Cut(want, ": ")
	if !strings.Contains(v.Field, field) || !strings.Contains(v.Reason, reason) {
		tb.Errorf("violation %q does not match %q", v.Error(), want)
	}
	if len(v.Error()) > 200 {
		tb.Errorf("violation text is %d characters long: %q", len(v.Error()), v.Error())
	}
	return v
}

// ---- values ----

func bi(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
func small(v int64) []byte { return big.NewInt(v).Bytes() }

// oddBits is an odd number of exactly bits bits.
func oddBits(bits int) []byte {
	v := new(big.Int).Lsh(one, uint(bits-1))
	v.SetBit(v, bits/2, 1)
	v.SetBit(v, 0, 1)
	return v.Bytes()
}

func plusOne(b []byte) []byte { return new(big.Int).Add(bi(b), one).Bytes() }

func repeat(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0x5a
	}
	return b
}

// withSmallFactor returns a 2048-bit odd modulus f*R, 1 mod 4, where R has
// no prime factor below 1000: with f > 1000 it passes every check on a
// modulus alone, yet has the small factor f (the BitForge setting).
func withSmallFactor(f int64) *big.Int {
	fb := big.NewInt(f)
	r := new(big.Int).Lsh(one, uint(modulusBits-fb.BitLen()))
	r.Add(r, big.NewInt(f%4)) // R = f = f^-1 (mod 4), so f*R = 1 (mod 4)
	gcd := new(big.Int)
	for ; gcd.GCD(nil, nil, r, smallPrimes()).Cmp(one) != 0 || new(big.Int).Mul(r, fb).BitLen() != modulusBits; r.Add(r, big.NewInt(4)) {
	}
	return new(big.Int).Mul(r, fb)
}

// generator is the secp256k1 base point as coordinates.
func generator() (x, y []byte) {
	return tss.S256().Params().Gx.Bytes(), tss.S256().Params().Gy.Bytes()
}

// preParamsOf returns the TEST-ONLY pre-parameters the sender of c used.
func preParamsOf(tb testing.TB, r *realRun, c captured) keygen.LocalPreParams {
	tb.Helper()
	sets := r.keygenP
	if c.protocol == ReshareECDSA {
		sets = r.newP
	}
	if c.from.Index < 0 || c.from.Index >= len(sets) {
		tb.Fatalf("sender index %d", c.from.Index)
	}
	return sets[c.from.Index].Local()
}

func dropLast(parts [][]byte, n int) [][]byte { return parts[:len(parts)-n] }
