package roster

import (
	"errors"
	"testing"
)

// A drill's authorization binds the key's epoch, so it cannot run again
// once the key moved on; a standing drill authorization names no epoch and
// drills the same committee again and again, but nothing else.
func TestAllowsStandingDrill(t *testing.T) {
	committee := []string{"a", "b", "c"}
	drill := Ceremony{Version: Version, Nonce: "0123456789abcdef0123456789abcdef", NotBefore: 1, NotAfter: 2, Kind: CeremonyDrill, KeyID: "k1", Curve: CurveSecp256k1, Epoch: 4, Threshold: 1, Committee: committee, NewThreshold: 1, NewCommittee: committee}
	at := func(epoch uint64) Session {
		return Session{KeyID: "k1", Curve: CurveSecp256k1, Epoch: epoch, Threshold: 1, Committee: []string{"a", "b"}, NewThreshold: 1, NewCommittee: committee}
	}
	if err := drill.Allows(at(4)); err != nil {
		t.Fatalf("a drill at its epoch: %v", err)
	}
	if err := drill.Allows(at(5)); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("a drill at a later epoch: %v", err)
	}
	standing := drill
	standing.Standing, standing.Epoch = true, 0
	for _, e := range []uint64{0, 4, 5, 99} {
		if err := standing.Allows(at(e)); err != nil {
			t.Fatalf("a standing drill at epoch %d: %v", e, err)
		}
	}
	other := at(5)
	other.NewCommittee = []string{"a", "b", "d"}
	if err := standing.Allows(other); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("a standing drill used for another committee: %v", err)
	}
	// Only a drill stands, and it names no epoch.
	if err := checkCeremonyShape(standing); err != nil {
		t.Fatalf("a standing drill's shape: %v", err)
	}
	for name, c := range map[string]Ceremony{
		"standing reshare":       func() Ceremony { c := standing; c.Kind = CeremonyReshare; return c }(),
		"standing with an epoch": func() Ceremony { c := standing; c.Epoch = 3; return c }(),
	} {
		if err := checkCeremonyShape(c); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
