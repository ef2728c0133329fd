package storetest

// The suite's cases about the keys' indexed lookups: by member device and
// by reshare in flight.

import (
	"errors"
	"slices"
	"testing"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

// ofDevice lists the ids of deviceID's keys.
func ofDevice(t *testing.T, st registry.Store, deviceID string) []string {
	t.Helper()
	ks, err := st.ListKeysOfDevice(deviceID)
	if err != nil {
		t.Fatalf("keys of %q: %v", deviceID, err)
	}
	return keyIDs(ks)
}

// inFlight lists the ids of the keys with a reshare in flight.
func inFlight(t *testing.T, st registry.Store) []string {
	t.Helper()
	ks, err := st.ListKeysInFlight()
	if err != nil {
		t.Fatalf("keys in flight: %v", err)
	}
	for _, k := range ks {
		if k.InFlight == nil {
			t.Fatalf("key %q listed in flight without a reshare in flight", k.ID)
		}
	}
	return keyIDs(ks)
}

func update(t *testing.T, st registry.Store, id string, fn func(k *registry.Key)) {
	t.Helper()
	if _, err := st.UpdateKey(id, func(k *registry.Key) error { fn(k); return nil }, nil); err != nil {
		t.Fatalf("update %q: %v", id, err)
	}
}

// keysOfDevice: a device finds, in id order, the keys it holds, held,
// may hold after the reshare in flight, or restored a share of; not the
// keys of a device whose id begins with its own; and, after an update
// takes it out of a key (in place, as a restore does) or a rewrite leaves
// it out, no longer that key.
func keysOfDevice(t *testing.T, st registry.Store) {
	keys := []registry.Key{
		{ID: "k3", Holders: []string{"x", "d"}},
		{ID: "K9", PastHolders: []string{"d"}, Holders: []string{"x"}},
		{ID: "k03\x00", InFlight: &registry.InFlightReshare{Epoch: 1, Holders: []string{"d", "x"}}, Holders: []string{"x"}},
		{ID: "k03/x", PendingRestores: []registry.RestoreBinding{{Device: "d", Original: "x"}}, Holders: []string{"x"}},
		{ID: "k1", Holders: []string{"d/x", "dd", "x"}},
		{ID: "k2", Holders: []string{"d", "x"}, PastHolders: []string{"d"}, InFlight: &registry.InFlightReshare{Holders: []string{"d"}}},
	}
	for _, k := range keys {
		k.Curve = registry.CurveSecp256k1
		if err := st.PutKey(k, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := ofDevice(t, st, "d"), []string{"K9", "k03\x00", "k03/x", "k2", "k3"}; !slices.Equal(got, want) {
		t.Fatalf("keys of d: %q, want %q", got, want)
	}
	if got := ofDevice(t, st, "x"); len(got) != len(keys) || !slices.IsSorted(got) {
		t.Fatalf("keys of x: %q, want all %d in id order", got, len(keys))
	}
	for dev, want := range map[string][]string{"d/x": {"k1"}, "dd": {"k1"}, "nobody": nil, "": nil} {
		if got := ofDevice(t, st, dev); !slices.Equal(got, want) {
			t.Fatalf("keys of %q: %q, want %q", dev, got, want)
		}
	}

	// Taken out by updates: in place in Holders, and by clearing the
	// reshare in flight, the past holders and the pending restores.
	update(t, st, "k3", func(k *registry.Key) { k.Holders[1] = "y" })
	update(t, st, "k03\x00", func(k *registry.Key) { k.InFlight = nil })
	update(t, st, "K9", func(k *registry.Key) { k.PastHolders = nil })
	update(t, st, "k03/x", func(k *registry.Key) { k.PendingRestores = nil })
	// k2 keeps d while any of its three lists names it.
	update(t, st, "k2", func(k *registry.Key) { k.Holders = []string{"x"}; k.InFlight = nil })
	if got, want := ofDevice(t, st, "d"), []string{"k2"}; !slices.Equal(got, want) {
		t.Fatalf("keys of d after the updates: %q, want %q", got, want)
	}
	if got, want := ofDevice(t, st, "y"), []string{"k3"}; !slices.Equal(got, want) {
		t.Fatalf("keys of y, brought into k3: %q, want %q", got, want)
	}
	// A refused update changes nothing.
	refused := errors.New("refused")
	if _, err := st.UpdateKey("k2", func(k *registry.Key) error { k.PastHolders = nil; return refused }, nil); !errors.Is(err, refused) {
		t.Fatalf("refused update: %v", err)
	}
	// A rewrite of the whole key (PutKey) leaves out the members it drops.
	if err := st.PutKey(registry.Key{ID: "k2", Holders: []string{"z"}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := ofDevice(t, st, "d"); len(got) != 0 {
		t.Fatalf("keys of d after k2 was rewritten without it: %q", got)
	}
	if got, want := ofDevice(t, st, "z"), []string{"k2"}; !slices.Equal(got, want) {
		t.Fatalf("keys of z: %q, want %q", got, want)
	}
	if got := ofDevice(t, st, "x"); slices.Contains(got, "k2") || len(got) != len(keys)-1 {
		t.Fatalf("keys of x after k2 was rewritten without it: %q", got)
	}
}

// keysInFlight: the keys with a reshare in flight, in id order, and not
// after it is cleared.
func keysInFlight(t *testing.T, st registry.Store) {
	if got := inFlight(t, st); len(got) != 0 {
		t.Fatalf("an empty store has keys in flight: %q", got)
	}
	for _, id := range []string{"k2", "k10", "K1", "k1"} {
		if err := st.PutKey(registry.Key{ID: id, Holders: []string{"a", "b"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"k2", "K1", "k10"} {
		update(t, st, id, func(k *registry.Key) {
			k.InFlight = &registry.InFlightReshare{Epoch: k.Next(), Kind: registry.KindDrill, Holders: k.Holders}
		})
	}
	if got, want := inFlight(t, st), []string{"K1", "k10", "k2"}; !slices.Equal(got, want) {
		t.Fatalf("in flight: %q, want %q", got, want)
	}
	update(t, st, "k10", func(k *registry.Key) { k.InFlight = nil; k.Epoch++ })
	// A rewrite without one clears it too.
	if err := st.PutKey(registry.Key{ID: "K1", Holders: []string{"a", "b"}, Epoch: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := inFlight(t, st), []string{"k2"}; !slices.Equal(got, want) {
		t.Fatalf("in flight after two were cleared: %q, want %q", got, want)
	}
	// One written in flight from the start.
	if err := st.PutKey(registry.Key{ID: "k0", InFlight: &registry.InFlightReshare{Epoch: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := inFlight(t, st), []string{"k0", "k2"}; !slices.Equal(got, want) {
		t.Fatalf("in flight: %q, want %q", got, want)
	}
}

// memberIDs: a member id holding a NUL is refused (no store could index
// it; nothing is written) and finds nothing; one that is not UTF-8 is
// stored and found as JSON has it, with U+FFFD.
func memberIDs(t *testing.T, st registry.Store) {
	if err := st.PutKey(registry.Key{ID: "k", Holders: []string{"a\x00b"}}, nil); !errors.Is(err, registry.ErrMemberID) {
		t.Fatalf("a holder with a NUL: %v", err)
	}
	if _, err := st.GetKey("k"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a refused key was written: %v", err)
	}
	if err := st.PutKey(registry.Key{ID: "k", Holders: []string{"a"}}, nil); err != nil {
		t.Fatal(err)
	}
	before := height(t, st)
	if _, err := st.UpdateKey("k", func(k *registry.Key) error {
		k.InFlight = &registry.InFlightReshare{Holders: []string{"a", "b\x00"}}
		return nil
	}, entry("key.odd")); !errors.Is(err, registry.ErrMemberID) {
		t.Fatalf("an update naming a device with a NUL: %v", err)
	}
	if k, _ := st.GetKey("k"); k.InFlight != nil || height(t, st) != before {
		t.Fatalf("a refused update left a trace: %+v, audit %d -> %d", k, before, height(t, st))
	}
	if got := inFlight(t, st); len(got) != 0 {
		t.Fatalf("in flight after a refused update: %q", got)
	}
	for _, id := range []string{"a\x00b", "b\x00"} {
		if got := ofDevice(t, st, id); len(got) != 0 {
			t.Fatalf("keys of %q: %q", id, got)
		}
	}
	update(t, st, "k", func(k *registry.Key) { k.PastHolders = []string{"c\xff"} })
	if got := ofDevice(t, st, "c\ufffd"); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("keys of the device as stored: %q", got)
	}
	if got := ofDevice(t, st, "c\xff"); len(got) != 0 {
		t.Fatalf("keys of a device id no member has: %q", got)
	}
	// A rewrite leaves the member out, as it is stored.
	update(t, st, "k", func(k *registry.Key) { k.PastHolders = nil })
	if got := ofDevice(t, st, "c\ufffd"); len(got) != 0 {
		t.Fatalf("keys of a device taken out: %q", got)
	}
}
