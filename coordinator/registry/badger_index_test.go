package registry

import (
	"errors"
	"io"
	"log/slog"
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
