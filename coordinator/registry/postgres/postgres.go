// Package postgres is a registry.Store kept in PostgreSQL, for a
// coordinator whose records must outlive its machine or be shared by several
// coordinator processes.
//
// Records are JSON documents (as in the Badger store) keyed by their id, in
// one table per kind (ids are bytea and documents json, not text and jsonb,
// which refuse a NUL that Badger keeps); the audit chain is a table of its
// own (seq, entry), and appends are serialized by locking its one-row head
// table (audit_head) in the transaction of the action, so the chain cannot
// fork, whatever number of processes share the database. Updates lock the
// row they change (SELECT ... FOR UPDATE, or an advisory lock on the id of
// one that may not exist yet) and run in READ COMMITTED transactions, again
// after a deadlock. The schema is migrated at Open
// (the numbered files of migrations/, versioned in schema_version); Open
// refuses a database whose schema is newer than the code.
//
// The tests (postgres_test.go) start a throwaway PostgreSQL server of their
// own: initdb into a temporary directory and postgres listening only on a
// unix socket there, as the unprivileged postgres user when they run as
// root, with one fresh database per store; they stop it (pg_ctl stop -m
// fast) at the end. They need Debian's postgresql package (initdb, pg_ctl
// and postgres on PATH or in /usr/lib/postgresql/<version>/bin) and fail
// without it.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// opTimeout bounds one store operation, waits for locks included.
const opTimeout = 30 * time.Second

// maxAttempts is how often a transaction runs when PostgreSQL aborts it
// for a deadlock or a serialization failure.
const maxAttempts = 10

// Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)):
// "mpcs" and the next ones.
const (
	lockMigrate int32 = 0x6d706373 + iota
	lockName
)

type store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	closed atomic.Bool
	// fence, for a replica (OpenReplica), is the fencing token of the
	// leader lease it holds (0: none): every write transaction checks it
	// first. nil for a store opened alone (Open).
	fence *atomic.Int64
	// holder is the replica's name in the lease (with fence).
	holder string
}

// Open connects to the database of dsn (a PostgreSQL connection string or
// URL), brings its schema up to date and returns the store.
//
// Open is for a database only this process uses (tools and tests); the
// coordinator opens it with OpenReplica, whose writes are fenced by the
// leader lease.
// It refuses a database whose leader lease a replica has ever taken: its
// writes, unfenced, would land beside the active replica's.
func Open(ctx context.Context, dsn string, log *slog.Logger) (registry.Store, error) {
	s, err := open(ctx, dsn, log)
	if err != nil {
		return nil, err
	}
	var token int64
	if err := s.pool.QueryRow(ctx, "SELECT token FROM leader_lease WHERE one").Scan(&token); err != nil {
		s.Close()
		return nil, fmt.Errorf("registry/postgres: read the leader lease: %w", err)
	}
	if token > 0 {
		s.Close()
		return nil, errors.New("registry/postgres: coordinator replicas serve this database (they took its leader lease): " +
			"a store opened alone would write beside the active one; open it as a replica (OpenReplica)")
	}
	return s, nil
}

func open(ctx context.Context, dsn string, log *slog.Logger) (*store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error does not repeat the DSN (it may hold a password).
		return nil, fmt.Errorf("registry/postgres: parse the connection string: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("registry/postgres: connect: %w", err)
	}
	where := fmt.Sprintf("database %s on %s", cfg.ConnConfig.Database, cfg.ConnConfig.Host)
	if err := migrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, fmt.Errorf("registry/postgres: %s: %w", where, err)
	}
	return &store{pool: pool, log: log}, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the embedded migrations: NNNN_name.sql, numbered 1, 2, ...
// without a gap.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s is not named NNNN_name.sql", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d (the migrations are numbered from 1 without a gap)", m.name, i+1)
		}
	}
	return out, nil
}

// migrate applies the migrations the database lacks, all in one
// transaction, under an advisory lock so that coordinators starting
// together migrate once.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", lockMigrate); err != nil {
			return fmt.Errorf("lock the schema: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&have); err != nil {
			return fmt.Errorf("read the schema version: %w", err)
		}
		if have > len(ms) {
			return fmt.Errorf("the schema is version %d, newer than this coordinator knows (%d): "+
				"a newer coordinator has upgraded it; run that version (or a later one), "+
				"or point this one at a database it made", have, len(ms))
		}
		for _, m := range ms[have:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES ($1)", m.version); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			log.Info("registry schema migrated", "version", m.version, "migration", m.name)
		}
		return nil
	})
}

func (s *store) Close() error {
	s.closed.Store(true)
	s.pool.Close()
	return nil
}

func (s *store) Ping() error {
	if s.closed.Load() {
		return errors.New("registry/postgres: the store is closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var seq int64
	if err := s.pool.QueryRow(ctx, "SELECT seq FROM audit_head").Scan(&seq); err != nil {
		return fmt.Errorf("registry/postgres: ping: %w", err)
	}
	return nil
}

// tx runs fn in a READ COMMITTED transaction, again (up to maxAttempts) when
// PostgreSQL aborted it for a deadlock or a serialization failure: the rows
// fn changes it locks first (SELECT ... FOR UPDATE, or an advisory lock for
// one that may not exist yet).
func (s *store) tx(fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := s.checkFence(ctx, tx); err != nil {
				return err
			}
			return fn(ctx, tx)
		})
		if !retryable(err) || attempt == maxAttempts {
			return err
		}
		s.log.Debug("registry transaction retried", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(rand.Int64N(int64(attempt) * int64(5*time.Millisecond)))):
		}
	}
}

// retryable is a deadlock or serialization failure: the transaction was
// rolled back and may run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// lockNamed takes a transaction-scoped advisory lock on kind/id, for a record
// that may not exist yet (no row to lock).
func lockNamed(ctx context.Context, tx pgx.Tx, kind, id string) error {
	h := fnv.New32a()
	h.Write([]byte(kind + "/" + id))
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", lockName, int32(h.Sum32()))
	return err
}

// read runs a read-only query function with the operation timeout.
func (s *store) read(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return fn(ctx)
}
