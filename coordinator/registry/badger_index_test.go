package registry

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestSignResultsIndexedAtOpen: sign results written before their time
// index existed get it when the store opens, so that a prune finds them.
func TestSignResultsIndexedAtOpen(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := OpenBadger(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// As an older version wrote them: the record alone, and no mark.
	err = st.(*badgerStore).db.Update(func(txn *badger.Txn) error {
		for id, made := range map[string]time.Time{"old": at, "new": at.Add(48 * time.Hour)} {
			if err := put(txn, "signreq/"+id, SignRecord{KeyID: "k", At: made}); err != nil {
				return err
			}
		}
		return txn.Delete([]byte(signIndexed))
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.PruneSignResults(at.Add(24 * time.Hour)); err != nil || n != 0 {
		t.Fatalf("without the index a prune found %d: %v", n, err)
	}
	st.Close()
	if st, err = OpenBadger(dir, quiet); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.PruneSignResults(at.Add(24 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d after the reopen, want the old one: %v", n, err)
	}
	if _, err := st.GetSignResult("old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the old result was kept: %v", err)
	}
	if _, err := st.GetSignResult("new"); err != nil {
		t.Fatalf("the new result: %v", err)
	}
}

// TestKeysIndexedAtOpen: keys written before their index existed are not
// found by the lookups (they read the index alone), and are once the store
// has been reopened, which builds it.
func TestKeysIndexedAtOpen(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := OpenBadger(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	// As an older version wrote them: the records alone, and no mark.
	err = st.(*badgerStore).db.Update(func(txn *badger.Txn) error {
		for _, k := range []Key{
			{ID: "k2", Holders: []string{"a", "b"}, InFlight: &InFlightReshare{Holders: []string{"c"}}},
			{ID: "k1", Holders: []string{"b"}, PastHolders: []string{"a"}},
			{ID: "k3", Holders: []string{"a/b"}, PendingRestores: []RestoreBinding{{Device: "d"}}},
		} {
			if err := put(txn, "key/"+k.ID, k); err != nil {
				return err
			}
		}
		return txn.Delete([]byte(keyIndexed))
	})
	if err != nil {
		t.Fatal(err)
	}
	if ks, err := st.ListKeysOfDevice("a"); err != nil || len(ks) != 0 {
		t.Fatalf("without the index the lookup found %d: %v", len(ks), err)
	}
	st.Close()
	if st, err = OpenBadger(dir, quiet); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for dev, want := range map[string][]string{"a": {"k1", "k2"}, "b": {"k1", "k2"}, "c": {"k2"}, "d": {"k3"}, "a/b": {"k3"}, "": nil} {
		ks, err := st.ListKeysOfDevice(dev)
		var got []string
		for _, k := range ks {
			got = append(got, k.ID)
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("keys of %q after the reopen: %q %v, want %q", dev, got, err, want)
		}
	}
	if ks, err := st.ListKeysInFlight(); err != nil || len(ks) != 1 || ks[0].ID != "k2" {
		t.Errorf("in flight after the reopen: %+v %v", ks, err)
	}
}

// TestKeyIndexEntriesDeleted: an update deletes the entries of the devices
// it takes out of a key and of a reshare no longer in flight (the lookups
// would not list them, as they check each record, but they would pile up).
func TestKeyIndexEntriesDeleted(t *testing.T) {
	st, err := OpenBadger(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := Key{ID: "k", Holders: []string{"a", "b"}, InFlight: &InFlightReshare{Holders: []string{"b", "c"}}}
	if err := st.PutKey(k, nil); err != nil {
		t.Fatal(err)
	}
	entries := func() []string {
		var out []string
		err := st.(*badgerStore).db.View(func(txn *badger.Txn) error {
			for _, prefix := range []string{"keymember/", inFlightPrefix} {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
				for it.Rewind(); it.Valid(); it.Next() {
					out = append(out, string(it.Item().KeyCopy(nil)))
				}
				it.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := []string{memberPrefix("a") + "k", memberPrefix("b") + "k", memberPrefix("c") + "k", inFlightPrefix + "k"}
	if got := entries(); !slices.Equal(got, want) {
		t.Fatalf("entries %q, want %q", got, want)
	}
	if _, err := st.UpdateKey("k", func(k *Key) error { k.Holders, k.InFlight = k.InFlight.Holders, nil; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := entries(), []string{memberPrefix("b") + "k", memberPrefix("c") + "k"}; !slices.Equal(got, want) {
		t.Fatalf("entries after the update %q, want %q", got, want)
	}
}
