package partyid

import (
	"testing"

	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/identity"
)

func TestNew(t *testing.T) {
	pub := []byte("identity key of a device, 32 by.")
	p0, p1 := New("dev-1", pub, 0), New("dev-1", pub, 1)
	if p0.Id != "dev-1" || p0.Moniker != "dev-1" {
		t.Fatalf("id %q moniker %q, want the device id", p0.Id, p0.Moniker)
	}
	if want := identity.PartyKey(pub, 0, tss.S256().Params().N); p0.KeyInt().Cmp(want) != 0 {
		t.Fatalf("epoch 0 key %v, want identity.PartyKey %v", p0.KeyInt(), want)
	}
	// A device in both committees of a reshare runs two parties: their keys differ.
	if p0.KeyInt().Cmp(p1.KeyInt()) == 0 {
		t.Fatal("epochs 0 and 1 give the same party key")
	}
	if New("dev-1", pub, 1).KeyInt().Cmp(p1.KeyInt()) != 0 {
		t.Fatal("the derivation is not deterministic")
	}
}
