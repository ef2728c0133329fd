package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres/pgtest"
	"github.com/mpcsign/mpcsign/coordinator/registry/storetest"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

var (
	srv    *pgtest.Server // one PostgreSQL server for the test binary
	srvErr error          // why there is none
)

func TestMain(m *testing.M) {
	srv, srvErr = pgtest.Start()
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newDB creates a fresh, empty database and returns its DSN.
func newDB(t *testing.T) string {
	t.Helper()
	if srvErr != nil {
		t.Fatalf("no PostgreSQL server for the test: %v", srvErr)
	}
	name, err := srv.CreateDB()
	if err != nil {
		t.Fatalf("create a database: %v\n%s", err, srv.LogTail())
	}
	return srv.DSN(name)
}

// run runs sql on the database of dsn.
func run(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func open(t *testing.T, dsn string) registry.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPostgresStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) registry.Store { return open(t, newDB(t)) })
}

// TestSchemaVersions: Open migrates once (also when coordinators start
// together), keeps the records on a reopen, and refuses a schema newer than
// it knows.
func TestSchemaVersions(t *testing.T) {
	dsn := newDB(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			st, err := postgres.Open(context.Background(), dsn, quiet)
			if err != nil {
				t.Error(err)
				return
			}
			st.Close()
		})
	}
	wg.Wait()
	st := open(t, dsn)
	if err := st.PutKey(registry.Key{ID: "k1"}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(t, dsn)
	if _, err := st.GetKey("k1"); err != nil {
		t.Fatalf("a reopened store lost its key: %v", err)
	}
	st.Close()
	if err := st.Ping(); err == nil {
		t.Fatal("a closed store answers Ping")
	}

	run(t, dsn, "INSERT INTO schema_version (version) VALUES (999)")
	_, err := postgres.Open(context.Background(), dsn, quiet)
	if err == nil || !strings.Contains(err.Error(), "schema is version 999, newer than this coordinator knows") {
		t.Fatalf("a newer schema: %v", err)
	}
	t.Logf("a newer schema: %v", err)
}

// TestChainSharedByProcesses: stores with pools of their own (as several
// coordinator processes) append to one database's chain; it never forks.
func TestChainSharedByProcesses(t *testing.T) {
	dsn := newDB(t)
	var stores []registry.Store
	for range 3 {
		st := open(t, dsn)
		defer st.Close()
		stores = append(stores, st)
	}
	if err := stores[0].PutKey(registry.Key{ID: "k"}, nil); err != nil {
		t.Fatal(err)
	}
	const each = 15
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() {
			for j := range each {
				e := &auditlog.Entry{Action: fmt.Sprintf("p%d-%d", i, j), Result: "ok", Time: now}
				var err error
				if j%2 == 0 {
					_, err = st.AppendAudit(*e)
				} else {
					_, err = st.UpdateKey("k", func(k *registry.Key) error { k.Epoch++; return nil }, e)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	const n = 3 * each
	es, err := stores[1].ListAudit(0, 1000)
	if err != nil || len(es) != n {
		t.Fatalf("%d entries, want %d: %v", len(es), n, err)
	}
	var lines bytes.Buffer
	for _, e := range es {
		b, _ := auditlog.Marshal(e)
		lines.Write(append(b, '\n'))
	}
	if got, _, err := auditlog.Verify(&lines); err != nil || got != n {
		t.Fatalf("the chain does not verify: %d entries, %v", got, err)
	}
	if k, _ := stores[2].GetKey("k"); k.Epoch != 3*(each/2) {
		t.Fatalf("key updates lost: epoch %d, want %d", k.Epoch, 3*(each/2))
	}
}

// TestIndexedReads: the listings of pages, the prunes and the keys'
// lookups read an index, not the whole table. A device's keys are found
// through the GIN index keys_members, then sorted (a few).
func TestIndexedReads(t *testing.T) {
	dsn := newDB(t)
	open(t, dsn).Close()
	run(t, dsn, `INSERT INTO sessions (id, started, doc)
		SELECT convert_to('s' || i, 'UTF8'), now() + i * interval '1 second', '{}' FROM generate_series(1, 5000) i;
		INSERT INTO audit (seq, entry) SELECT i, '{}' FROM generate_series(1, 5000) i;
		INSERT INTO keys (id, doc) SELECT convert_to('k' || i, 'UTF8'), json_build_object(
			'holders', json_build_array('d' || i % 2000, 'd' || (i + 1) % 2000, 'd' || (i + 2) % 2000),
			'in_flight', CASE WHEN i % 500 = 0 THEN json_build_object('epoch', 1) END,
			'attestations', (SELECT string_agg(md5(i || '/' || j), '') FROM generate_series(1, 40) j)) -- a key's size
		FROM generate_series(1, 5000) i;
		INSERT INTO devices (id, doc) SELECT convert_to('d' || i, 'UTF8'), '{}' FROM generate_series(1, 5000) i;
		INSERT INTO sign_results (request_id, at, doc)
		SELECT convert_to('r' || i, 'UTF8'), now() - i * interval '1 second', '{}' FROM generate_series(1, 5000) i;
		ANALYZE`)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i, q := range []struct{ sql, args, index string }{
		{postgres.NewestSessionsSQL, "50", ""},
		{postgres.ListAuditSQL, "4000, 100", ""},
		{postgres.KeysAfterSQL, "'k2000', 100", ""},
		{postgres.DevicesAfterSQL, "'d2000', 100", ""},
		{postgres.SessionsSQL, "now() + interval '2000 seconds', 's2000', 100", ""},
		{postgres.PruneSignSQL, "now() - interval '4900 seconds', 500", ""},
		{postgres.PruneSessionsSQL, "now() + interval '100 seconds', 500", ""},
		{postgres.KeysOfDeviceSQL, "'d1234'", "keys_members"},
		{postgres.KeysInFlightSQL, "", "keys_in_flight"},
	} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("PREPARE q%d AS %s", i, q.sql)); err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		exec := fmt.Sprintf("EXPLAIN EXECUTE q%d(%s)", i, q.args)
		if q.args == "" {
			exec = fmt.Sprintf("EXPLAIN EXECUTE q%d", i)
		}
		rows, err := conn.Query(ctx, exec)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		p := plan.String()
		switch {
		case q.index != "" && (!strings.Contains(p, " on "+q.index) && !strings.Contains(p, " using "+q.index) || strings.Contains(p, "Seq Scan")):
			t.Errorf("%s: does not read the index %s:\n%s", q.sql, q.index, p)
		case q.index == "" && (!strings.Contains(p, "Index Scan") || strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort")):
			t.Errorf("%s: not an index scan:\n%s", q.sql, p)
		}
		t.Logf("%s:\n%s", q.sql, p)
	}
}

// TestRetentionMigration: the sign results stored before the migration
// that indexes them by time get the time of their document, so the first
// prune after an upgrade deletes the old ones and keeps the others.
func TestRetentionMigration(t *testing.T) {
	dsn := schemaBefore(t, "_retention.sql")
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for id, at := range map[string]time.Time{"old": old, "new": old.Add(48 * time.Hour)} {
		doc, err := json.Marshal(registry.SignRecord{KeyID: "k", R: []byte{1}, At: at})
		if err != nil {
			t.Fatal(err)
		}
		run(t, dsn, fmt.Sprintf("INSERT INTO sign_results (request_id, doc) VALUES ('%s', '%s')", id, doc))
	}
	st := open(t, dsn)
	defer st.Close()
	if n, err := st.PruneSignResults(old.Add(24 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d, want the old one: %v", n, err)
	}
	if _, err := st.GetSignResult("old"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("the old result was kept: %v", err)
	}
	if r, err := st.GetSignResult("new"); err != nil || !r.At.Equal(old.Add(48*time.Hour)) {
		t.Fatalf("the new result: %+v %v", r, err)
	}
}

// schemaBefore creates a database with the schema as it was before the
// migration whose file name ends with suffix: every migration numbered
// below it, applied as Open would. It returns its DSN.
func schemaBefore(t *testing.T, suffix string) string {
	t.Helper()
	dsn := newDB(t)
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	next := slices.IndexFunc(files, func(f string) bool { return strings.HasSuffix(f, suffix) })
	if next < 0 {
		t.Fatalf("no migration *%s in %v", suffix, files)
	}
	run(t, dsn, "CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
	for i, f := range files[:next] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		run(t, dsn, string(b))
		run(t, dsn, fmt.Sprintf("INSERT INTO schema_version (version) VALUES (%d)", i+1))
	}
	return dsn
}
