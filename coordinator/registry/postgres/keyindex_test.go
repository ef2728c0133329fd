package postgres_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

// upsertAsBefore writes k as a coordinator from before the key index
// writes it: the document alone.
func upsertAsBefore(t *testing.T, conn *pgx.Conn, k registry.Key) {
	t.Helper()
	doc, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "INSERT INTO keys (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", []byte(k.ID), doc); err != nil {
		t.Fatalf("write %q as before: %v", k.ID, err)
	}
}

// wantKeys checks the ids of the keys of each device, and of those in
// flight (the device "in flight").
func wantKeys(t *testing.T, st registry.Store, want map[string][]string) {
	t.Helper()
	for dev, ids := range want {
		var ks []registry.Key
		var err error
		if dev == "in flight" {
			ks, err = st.ListKeysInFlight()
		} else {
			ks, err = st.ListKeysOfDevice(dev)
		}
		var got []string
		for _, k := range ks {
			got = append(got, k.ID)
		}
		if err != nil || !slices.Equal(got, ids) {
			t.Errorf("keys of %s: %q, %v; want %q", dev, got, err, ids)
		}
	}
}

// TestKeyIndexMigration: the keys stored before the migration that indexes
// them are found by member and in flight once it has run, a document with
// a NUL among them; and the keys a coordinator of the version before still
// writes during an upgrade (the document alone, an update or an insert) are
// found as their new documents say.
func TestKeyIndexMigration(t *testing.T) {
	ctx := context.Background()
	dsn := schemaBefore(t, "_key_index.sql")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, k := range []registry.Key{
		{ID: "k1", Holders: []string{"a", "b"}, PastHolders: []string{"c"}},
		{ID: "k2", Holders: []string{"e"}, InFlight: &registry.InFlightReshare{Epoch: 3, Holders: []string{"a", "d"}}},
		{ID: "k3", PendingRestores: []registry.RestoreBinding{{Device: "f", Original: "e"}}},
		{ID: "k\x00", Curve: "x\x00y", Holders: []string{"a"}, InFlight: &registry.InFlightReshare{}},
		{ID: "k5"},
	} {
		upsertAsBefore(t, conn, k)
	}
	st := open(t, dsn)
	defer st.Close()
	wantKeys(t, st, map[string][]string{
		"a": {"k\x00", "k1", "k2"}, "b": {"k1"}, "c": {"k1"}, "d": {"k2"}, "e": {"k2"}, "f": {"k3"},
		"in flight": {"k\x00", "k2"},
	})

	// An older coordinator still running: k1 changes hands and starts a
	// reshare, k2's ends, k4 is new.
	upsertAsBefore(t, conn, registry.Key{ID: "k1", Holders: []string{"b", "g"}, InFlight: &registry.InFlightReshare{Holders: []string{"b", "g"}}})
	upsertAsBefore(t, conn, registry.Key{ID: "k2", Holders: []string{"a", "d"}, Epoch: 3})
	upsertAsBefore(t, conn, registry.Key{ID: "k4", Holders: []string{"a"}})
	wantKeys(t, st, map[string][]string{
		"a": {"k\x00", "k2", "k4"}, "b": {"k1"}, "c": nil, "d": {"k2"}, "e": nil, "g": {"k1"},
		"in flight": {"k\x00", "k1"},
	})
}
