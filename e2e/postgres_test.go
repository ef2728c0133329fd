package e2e

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/coordinator/registry/postgres/pgtest"
)

// TestCoordinatorOnPostgreSQL runs the coordinator with --store on a
// PostgreSQL server the test starts: three devices make a 2-of-3 key that
// signs; the coordinator restarts and still knows the devices and the key,
// which signs again; the audit chain verifies across the restart; and no
// record was kept in the coordinator's data directory.
func TestCoordinatorOnPostgreSQL(t *testing.T) {
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDB()
	if err != nil {
		t.Fatalf("create the database: %v\n%s", err, pg.LogTail())
	}
	c := newCluster(t)
	c.storeURL = pg.URL(db)
	c.startCoordinator(t)
	names := []string{"phone", "laptop", "server"}
	for _, n := range names {
		c.runParty(t, c.enroll(t, n, false))
	}
	c.waitReady(t, names...)
	key := c.createKey(t, names)
	signAndVerify(t, c, key, "on PostgreSQL")

	c.restartCoordinator(t, "")
	c.waitReady(t, names...)
	keys := c.listKeys(t)
	if len(keys) != 1 || keys[0].ID != key.ID || keys[0].PublicKey != key.PublicKey {
		t.Fatalf("after the restart the coordinator lists %+v, want the key %s", keys, key.ID)
	}
	signAndVerify(t, c, key, "on PostgreSQL after a restart")

	entries := c.auditEntries(t) // verifies the chain
	var signs int
	for _, e := range entries {
		if e.Action == "sign" && e.Result == "ok" {
			signs++
		}
	}
	if signs != 2 || !slices.ContainsFunc(entries, func(e auditEntry) bool { return e.Action == "key.create" }) {
		t.Errorf("audit trail: %d signatures, want 2, and a key.create: %+v", signs, entries)
	}
	if _, err := os.Stat(filepath.Join(c.coordDir, "store")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the coordinator on PostgreSQL made a Badger store in its data directory: %v", err)
	}

	// A URL that holds a password is refused before anything starts.
	r := c.runOnce(t, "coordinator-password", c.env(), startTimeout, bin("coordinator"), "serve", "--data", t.TempDir(),
		"--listen", "127.0.0.1:0", "--store", "postgres://mpcsign:hunter2@127.0.0.1/mpcsign")
	if r.code == 0 || !strings.Contains(r.stderr, "PGPASSWORD") || strings.Contains(r.stderr+r.stdout, "hunter2") {
		t.Errorf("a --store URL with a password: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
