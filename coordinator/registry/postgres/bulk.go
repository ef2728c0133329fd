package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// Bulk fills a database with many records at once, for measurements at
// scale (cmd/mpcload store): COPY into the tables the store reads, each
// document encoded as the store encodes it, and audit entries sealed onto
// the chain's head as AppendAudit seals them, so that a coordinator started
// on the database reads the records and the chain verifies.
//
// It is not a store: it writes devices and keys without the store's
// per-record locks (a record already there fails the whole copy, nothing is
// overwritten) and without the leader lease's fence, so it is meant for a
// database no coordinator uses yet: like Open, OpenBulk refuses one whose
// leader lease a replica has taken. Its audit appends do lock the chain's
// head, as every append does.
type Bulk struct {
	pool *pgxpool.Pool
}

// OpenBulk connects to the database of dsn and brings its schema up to
// date, as Open does, and refuses a database coordinator replicas serve.
func OpenBulk(ctx context.Context, dsn string) (*Bulk, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("registry/postgres: parse the connection string: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("registry/postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("registry/postgres: database %s on %s: %w", cfg.ConnConfig.Database, cfg.ConnConfig.Host, err)
	}
	var token int64
	if err := pool.QueryRow(ctx, "SELECT token FROM leader_lease WHERE one").Scan(&token); err != nil {
		pool.Close()
		return nil, fmt.Errorf("registry/postgres: read the leader lease: %w", err)
	}
	if token > 0 {
		pool.Close()
		return nil, errors.New("registry/postgres: coordinator replicas serve this database (they took its leader lease): a bulk load would write beside them")
	}
	return &Bulk{pool: pool}, nil
}

// Close closes the connections.
func (b *Bulk) Close() { b.pool.Close() }

// PutDevices stores n devices, device(0) to device(n-1), in one COPY.
func (b *Bulk) PutDevices(ctx context.Context, n int, device func(i int) (registry.Device, error)) error {
	return b.copyDocs(ctx, "devices", n, func(i int) (string, any, error) {
		d, err := device(i)
		return d.ID, d, err
	})
}

// PutKeys stores n keys, key(0) to key(n-1), in one COPY. The trigger
// keys_index fills the columns the indexed lookups read, as for the
// store's writes; a key the store would refuse (registry.ErrMemberID)
// fails the copy.
func (b *Bulk) PutKeys(ctx context.Context, n int, key func(i int) (registry.Key, error)) error {
	return b.copyDocs(ctx, "keys", n, func(i int) (string, any, error) {
		k, err := key(i)
		if err == nil {
			_, err = registry.KeyMembers(k)
		}
		return k.ID, k, err
	})
}

// copyDocs copies n (id, doc) rows into table (devices or keys), then
// updates the table's statistics, as autovacuum would after a while.
func (b *Bulk) copyDocs(ctx context.Context, table string, n int, row func(i int) (string, any, error)) error {
	if n <= 0 {
		return nil
	}
	var rowErr error // pgx keeps only the text of a source's error
	copied, err := b.pool.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "doc"}, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		id, v, err := row(i)
		if err == nil {
			var doc []byte
			if doc, err = json.Marshal(v); err == nil {
				return []any{[]byte(id), doc}, nil
			}
		}
		rowErr = fmt.Errorf("record %d: %w", i, err)
		return nil, rowErr
	}))
	if rowErr != nil {
		return fmt.Errorf("registry/postgres: copy %d records into %s: %w", n, table, rowErr)
	}
	if err != nil {
		return fmt.Errorf("registry/postgres: copy %d records into %s: %w", n, table, err)
	}
	if copied != int64(n) {
		return fmt.Errorf("registry/postgres: copied %d records into %s, want %d", copied, table, n)
	}
	if _, err := b.pool.Exec(ctx, "ANALYZE "+pgx.Identifier{table}.Sanitize()); err != nil {
		return fmt.Errorf("registry/postgres: analyze %s: %w", table, err)
	}
	return nil
}

// AppendAudit seals n entries, entry(0) to entry(n-1), onto the end of the
// audit chain in one transaction and returns the new head (the chain's head
// as it was when n is 0). It holds the chain's head lock until it commits:
// appends by a coordinator on the same database queue behind it.
func (b *Bulk) AppendAudit(ctx context.Context, n int, entry func(i int) auditlog.Entry) (auditlog.Entry, error) {
	var head auditlog.Entry
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var seq int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM audit_head FOR UPDATE").Scan(&seq); err != nil {
			return fmt.Errorf("lock the audit chain: %w", err)
		}
		var prev *auditlog.Entry
		if seq > 0 {
			h, err := getDoc[auditlog.Entry](ctx, tx, "SELECT entry FROM audit WHERE seq = $1", seq)
			if err != nil {
				return fmt.Errorf("audit entry %d, the head: %w", seq, err)
			}
			prev, head = &h, h
		}
		if n <= 0 {
			return nil
		}
		copied, err := tx.CopyFrom(ctx, pgx.Identifier{"audit"}, []string{"seq", "entry"}, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			e := auditlog.Seal(entry(i), prev)
			prev = &e
			doc, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			return []any{int64(e.Seq), doc}, nil
		}))
		if err != nil {
			return fmt.Errorf("copy %d audit entries: %w", n, err)
		}
		if copied != int64(n) {
			return fmt.Errorf("copied %d audit entries, want %d", copied, n)
		}
		head = *prev
		if _, err := tx.Exec(ctx, "UPDATE audit_head SET seq = $1", int64(head.Seq)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "ANALYZE audit")
		return err
	})
	if err != nil {
		return auditlog.Entry{}, fmt.Errorf("registry/postgres: bulk audit append: %w", err)
	}
	return head, nil
}

// Counts are how many records of each kind a database holds.
type Counts struct {
	Devices, Keys, Pairings, Tokens, Audit int64
	// AuditHead is the sequence number of the chain's newest entry.
	AuditHead uint64
	// Bytes is the database's size on disk (pg_database_size).
	Bytes int64
}

// Empty reports whether the database holds no record the coordinator
// made or Bulk writes.
func (c Counts) Empty() bool {
	return c.Devices+c.Keys+c.Pairings+c.Tokens+c.Audit == 0 && c.AuditHead == 0
}

// Counts counts the records of the database.
func (b *Bulk) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	var head int64
	err := b.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM devices), (SELECT count(*) FROM keys), (SELECT count(*) FROM pairings),
		(SELECT count(*) FROM tokens), (SELECT count(*) FROM audit), (SELECT seq FROM audit_head),
		pg_database_size(current_database())`).
		Scan(&c.Devices, &c.Keys, &c.Pairings, &c.Tokens, &c.Audit, &head, &c.Bytes)
	if err != nil {
		return Counts{}, fmt.Errorf("registry/postgres: count the records: %w", err)
	}
	c.AuditHead = uint64(head)
	return c, nil
}
