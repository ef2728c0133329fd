package envelope

import (
	"bytes"
	"errors"
	"testing"
)

// A revealed ephemeral key opens the point-to-point envelopes between its
// owner and the others of that session (both ways), after it is checked
// against the owner's signed join; a wrong key is refused, and a
// ciphertext that does not open blames its sender.
func TestRevealOpensThePairsOfItsOwner(t *testing.T) {
	_, ms := setup(t, 3)
	a, b, c := ms[0], ms[1], ms[2]
	var joins []Join
	for _, m := range ms {
		joins = append(joins, m.join)
	}
	toA, err := b.s.Seal(b.id, Header{To: a.dev, Round: 2, Type: "T"}, []byte("share for a"))
	if err != nil {
		t.Fatal(err)
	}
	fromA, err := a.s.Seal(a.id, Header{To: c.dev, Round: 2, Type: "T"}, []byte("share for c"))
	if err != nil {
		t.Fatal(err)
	}
	bToC, err := b.s.Seal(b.id, Header{To: c.dev, Round: 2, Type: "T"}, []byte("not a's business"))
	if err != nil {
		t.Fatal(err)
	}
	key := a.s.Reveal()
	sig := SignComplaint(a.id, a.s.ID, []string{b.dev}, key)
	if !VerifyComplaint(a.id.PublicKey(), a.s.ID, []string{b.dev}, key, sig) {
		t.Fatal("complaint signature does not verify")
	}
	if VerifyComplaint(a.id.PublicKey(), a.s.ID, []string{c.dev}, key, sig) {
		t.Fatal("complaint signature verifies for another accused")
	}
	r, err := OpenReveal(a.s.ID, a.dev, key, joins)
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[*Envelope]string{&toA: "share for a", &fromA: "share for c"} {
		got, err := r.Open(*env)
		if err != nil || string(got) != want {
			t.Fatalf("open %s->%s: %q, %v", env.From, env.To, got, err)
		}
	}
	if _, err := r.Open(bToC); err == nil {
		t.Fatal("a's key opened an envelope between two other members")
	}
	// A ciphertext that does not open under the true pair key blames its sender.
	bad := toA
	bad.Payload = bytes.Clone(toA.Payload)
	bad.Payload[len(bad.Payload)-1] ^= 1
	var bl *Blame
	if _, err := r.Open(bad); !errors.As(err, &bl) || bl.Device != b.dev {
		t.Fatalf("tampered ciphertext: %v, want blame on b", err)
	}
	// Someone else's key, or garbage, is not a's key.
	for _, k := range [][]byte{b.s.Reveal(), make([]byte, 32), []byte("short")} {
		if _, err := OpenReveal(a.s.ID, a.dev, k, joins); !errors.Is(err, ErrBadReveal) {
			t.Fatalf("wrong key accepted: %v", err)
		}
	}
	if RevealAllowed(3) || !RevealAllowed(1) || !RevealAllowed(2) {
		t.Fatal("reveal must be allowed for keygen and signing only")
	}
}
