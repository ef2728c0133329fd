package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
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

// TestIndexedReads: NewestSessions and ListAudit read an index, not the
// whole table.
func TestIndexedReads(t *testing.T) {
	dsn := newDB(t)
	open(t, dsn).Close()
	run(t, dsn, `INSERT INTO sessions (id, started, doc)
		SELECT convert_to('s' || i, 'UTF8'), now() + i * interval '1 second', '{}' FROM generate_series(1, 5000) i;
		INSERT INTO audit (seq, entry) SELECT i, '{}' FROM generate_series(1, 5000) i;
		ANALYZE`)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i, q := range []struct{ sql, args string }{
		{postgres.NewestSessionsSQL, "50"},
		{postgres.ListAuditSQL, "4000, 100"},
	} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("PREPARE q%d AS %s", i, q.sql)); err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		rows, err := conn.Query(ctx, fmt.Sprintf("EXPLAIN EXECUTE q%d(%s)", i, q.args))
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
		if p := plan.String(); !strings.Contains(p, "Index Scan") || strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort") {
			t.Errorf("%s: not an index scan:\n%s", q.sql, p)
		}
	}
}
