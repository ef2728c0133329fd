package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// getDoc reads the one JSON document sql selects (ErrNotFound: none).
func getDoc[T any](ctx context.Context, q querier, sql string, args ...any) (T, error) {
	var v T
	var b []byte
	if err := q.QueryRow(ctx, sql, args...).Scan(&b); errors.Is(err, pgx.ErrNoRows) {
		return v, registry.ErrNotFound
	} else if err != nil {
		return v, err
	}
	return v, json.Unmarshal(b, &v)
}

// listDocs reads the JSON documents sql selects, in its order.
func listDocs[T any](ctx context.Context, q querier, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// list reads documents outside a transaction.
func list[T any](s *store, sql string, args ...any) ([]T, error) {
	var out []T
	err := s.read(func(ctx context.Context) error {
		var err error
		out, err = listDocs[T](ctx, s.pool, sql, args...)
		return err
	})
	return out, err
}

// get reads one document outside a transaction.
func get[T any](s *store, sql string, args ...any) (T, error) {
	var out T
	err := s.read(func(ctx context.Context) error {
		var err error
		out, err = getDoc[T](ctx, s.pool, sql, args...)
		return err
	})
	return out, err
}

// exec runs sql with v as JSON for its last argument.
func exec(ctx context.Context, tx pgx.Tx, sql string, v any, args ...any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, sql, append(args, b)...)
	return err
}

// Upserts: $1 the id (bytea: pass []byte(id), never a string, which
// would be read as bytea's text form), $2 the document.
const (
	putPairing       = "INSERT INTO pairings (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc"
	putDevice        = "INSERT INTO devices (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc"
	putReshareJob    = "INSERT INTO reshare_jobs (key_id, doc) VALUES ($1, $2) ON CONFLICT (key_id) DO UPDATE SET doc = excluded.doc"
	putPendingRoster = "INSERT INTO roster_pending (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc"
)

// chained runs fn and then seals *e (when set) onto the audit chain, in one
// transaction; *e is the sealed entry once that has committed.
func (s *store) chained(e *auditlog.Entry, fn func(ctx context.Context, tx pgx.Tx) error) error {
	var sealed auditlog.Entry
	err := s.tx(func(ctx context.Context, tx pgx.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		var err error
		sealed, err = appendAudit(ctx, tx, *e)
		return err
	})
	if err == nil && e != nil {
		*e = sealed
	}
	return err
}

// appendAudit seals e onto the end of the chain. It locks the chain's head
// row until tx ends: appends queue there, so the chain cannot fork. Every
// transaction takes that lock last.
func appendAudit(ctx context.Context, tx pgx.Tx, e auditlog.Entry) (auditlog.Entry, error) {
	var seq int64
	if err := tx.QueryRow(ctx, "SELECT seq FROM audit_head FOR UPDATE").Scan(&seq); err != nil {
		return auditlog.Entry{}, fmt.Errorf("lock the audit chain: %w", err)
	}
	var prev *auditlog.Entry
	if seq > 0 {
		head, err := getDoc[auditlog.Entry](ctx, tx, "SELECT entry FROM audit WHERE seq = $1", seq)
		if err != nil {
			return auditlog.Entry{}, fmt.Errorf("audit entry %d, the head: %w", seq, err)
		}
		prev = &head
	}
	out := auditlog.Seal(e, prev)
	if err := exec(ctx, tx, "INSERT INTO audit (seq, entry) VALUES ($1, $2)", out, int64(out.Seq)); err != nil {
		return auditlog.Entry{}, err
	}
	if _, err := tx.Exec(ctx, "UPDATE audit_head SET seq = $1", int64(out.Seq)); err != nil {
		return auditlog.Entry{}, err
	}
	return out, nil
}

func (s *store) CreatePairing(id []byte, p registry.Pairing, e *auditlog.Entry) error {
	return s.chained(e, func(ctx context.Context, tx pgx.Tx) error {
		return exec(ctx, tx, putPairing, p, id)
	})
}

func (s *store) ListPairings() ([]registry.Pairing, error) {
	return list[registry.Pairing](s, "SELECT doc FROM pairings ORDER BY id")
}

// lockDevice locks device id, stored or not (an advisory lock, then the
// row), and reads it.
func lockDevice(ctx context.Context, tx pgx.Tx, id string) (registry.Device, bool, error) {
	if err := lockNamed(ctx, tx, "device", id); err != nil {
		return registry.Device{}, false, err
	}
	d, err := getDoc[registry.Device](ctx, tx, "SELECT doc FROM devices WHERE id = $1 FOR UPDATE", []byte(id))
	if errors.Is(err, registry.ErrNotFound) {
		return registry.Device{}, false, nil
	}
	return d, err == nil, err
}

func (s *store) EnrollDevice(id []byte, decide registry.Enrolment, e *auditlog.Entry) (registry.Device, error) {
	var dev registry.Device
	var refused error // decide's error: returned after the code is written
	var sealed *auditlog.Entry
	err := s.tx(func(ctx context.Context, tx pgx.Tx) error {
		dev, refused, sealed = registry.Device{}, nil, nil
		p, err := getDoc[registry.Pairing](ctx, tx, "SELECT doc FROM pairings WHERE id = $1 FOR UPDATE", id)
		found := err == nil
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		// The devices decide looks at stay locked until the commit, as does
		// the one it writes. A failed lookup aborts the transaction: its
		// error wins over whatever decide made of it.
		var lookupErr error
		lookup := func(id string) (registry.Device, bool, error) {
			d, ok, err := lockDevice(ctx, tx, id)
			if err != nil && lookupErr == nil {
				lookupErr = err
			}
			return d, ok, err
		}
		d, err := decide(&p, found, lookup)
		if lookupErr != nil {
			return lookupErr
		}
		refused = err
		if !found {
			return nil
		}
		if err := exec(ctx, tx, putPairing, p, id); err != nil {
			return err
		}
		if d == nil {
			return nil
		}
		dev = *d
		if err := lockNamed(ctx, tx, "device", d.ID); err != nil {
			return err
		}
		if err := exec(ctx, tx, putDevice, d, []byte(d.ID)); err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		out, err := appendAudit(ctx, tx, *e) // the chain's lock last, as everywhere
		sealed = &out
		return err
	})
	if err != nil {
		return registry.Device{}, err
	}
	if sealed != nil {
		*e = *sealed
	}
	return dev, refused
}

func (s *store) GetDevice(id string) (registry.Device, error) {
	return get[registry.Device](s, "SELECT doc FROM devices WHERE id = $1", []byte(id))
}

func (s *store) UpdateDevice(id string, fn func(*registry.Device) error, e *auditlog.Entry) (registry.Device, error) {
	var d registry.Device
	err := s.chained(e, func(ctx context.Context, tx pgx.Tx) error {
		var found bool
		var err error
		if d, found, err = lockDevice(ctx, tx, id); err != nil {
			return err
		} else if !found {
			return registry.ErrNotFound
		}
		if err := fn(&d); err != nil {
			return err
		}
		return exec(ctx, tx, putDevice, d, []byte(id))
	})
	return d, err
}

func (s *store) ListDevices() ([]registry.Device, error) {
	return list[registry.Device](s, "SELECT doc FROM devices ORDER BY id")
}

func (s *store) PutSignResult(requestID string, r registry.SignRecord, e *auditlog.Entry) (registry.SignRecord, error) {
	out := r
	var sealed *auditlog.Entry
	err := s.tx(func(ctx context.Context, tx pgx.Tx) error {
		sealed = nil
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		// The first write wins: a second one waits for the first to commit,
		// then reads what it stored.
		tag, err := tx.Exec(ctx, "INSERT INTO sign_results (request_id, at, doc) VALUES ($1, $2, $3) ON CONFLICT (request_id) DO NOTHING", []byte(requestID), r.At, b)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			out = r
			if e == nil {
				return nil
			}
			entry, err := appendAudit(ctx, tx, *e)
			sealed = &entry
			return err
		}
		out, err = getDoc[registry.SignRecord](ctx, tx, "SELECT doc FROM sign_results WHERE request_id = $1", []byte(requestID))
		return err
	})
	if err == nil && sealed != nil {
		*e = *sealed
	}
	return out, err
}

func (s *store) GetSignResult(requestID string) (registry.SignRecord, error) {
	return get[registry.SignRecord](s, "SELECT doc FROM sign_results WHERE request_id = $1", []byte(requestID))
}

func (s *store) PutSession(r registry.SessionRecord) error {
	return s.tx(func(ctx context.Context, tx pgx.Tx) error {
		return exec(ctx, tx, `INSERT INTO sessions (id, started, doc) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET started = excluded.started, doc = excluded.doc`, r, []byte(r.ID), r.Started)
	})
}

// ListAudit reads an index (audit's primary key), not the table.
const listAuditSQL = "SELECT entry FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2"

func (s *store) AppendAudit(e auditlog.Entry) (auditlog.Entry, error) {
	err := s.chained(&e, func(context.Context, pgx.Tx) error { return nil })
	if err != nil {
		return auditlog.Entry{}, err
	}
	return e, nil
}

func (s *store) ListAudit(since uint64, limit int) ([]auditlog.Entry, error) {
	if limit <= 0 || since > math.MaxInt64 {
		return nil, nil
	}
	return list[auditlog.Entry](s, listAuditSQL, int64(since), limit)
}

func (s *store) AuditHeight() (uint64, error) {
	var seq int64
	err := s.read(func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT seq FROM audit_head").Scan(&seq)
	})
	return uint64(seq), err
}

func (s *store) PutToken(hash []byte, t registry.Token, e *auditlog.Entry) error {
	return s.chained(e, func(ctx context.Context, tx pgx.Tx) error {
		return exec(ctx, tx, `INSERT INTO tokens (hash, id, doc) VALUES ($1, $2, $3)
			ON CONFLICT (hash) DO UPDATE SET id = excluded.id, doc = excluded.doc`, t, hash, []byte(t.ID))
	})
}

func (s *store) GetToken(hash []byte) (registry.Token, error) {
	return get[registry.Token](s, "SELECT doc FROM tokens WHERE hash = $1", hash)
}

func (s *store) ListTokens() ([]registry.Token, error) {
	return list[registry.Token](s, "SELECT doc FROM tokens ORDER BY hash")
}

// UpdateToken locks the whole table against writes (fn checks all tokens)
// while it reads and changes one.
func (s *store) UpdateToken(id string, fn func(*registry.Token, []registry.Token) error, e *auditlog.Entry) (registry.Token, error) {
	var out registry.Token
	err := s.chained(e, func(ctx context.Context, tx pgx.Tx) error {
		out = registry.Token{}
		if _, err := tx.Exec(ctx, "LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT hash, doc FROM tokens ORDER BY hash")
		if err != nil {
			return err
		}
		var all []registry.Token
		var hash []byte
		for rows.Next() {
			var h, b []byte
			if err := rows.Scan(&h, &b); err != nil {
				rows.Close()
				return err
			}
			var t registry.Token
			if err := json.Unmarshal(b, &t); err != nil {
				rows.Close()
				return err
			}
			all = append(all, t)
			if t.ID == id {
				hash, out = h, t
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if hash == nil {
			return registry.ErrNotFound
		}
		if err := fn(&out, all); err != nil {
			return err
		}
		return exec(ctx, tx, "UPDATE tokens SET id = $2, doc = $3 WHERE hash = $1", out, hash, []byte(out.ID))
	})
	return out, err
}

// UpdateReshareJob locks keyID's job by name first: there may be no row
// to lock yet.
func (s *store) UpdateReshareJob(keyID string, fn func(*registry.ReshareJob) error) (registry.ReshareJob, error) {
	var j registry.ReshareJob
	err := s.tx(func(ctx context.Context, tx pgx.Tx) error {
		if err := lockNamed(ctx, tx, "reshare-job", keyID); err != nil {
			return err
		}
		var err error
		j, err = getDoc[registry.ReshareJob](ctx, tx, "SELECT doc FROM reshare_jobs WHERE key_id = $1 FOR UPDATE", []byte(keyID))
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		j.KeyID = keyID
		if err := fn(&j); err != nil {
			return err
		}
		return exec(ctx, tx, putReshareJob, j, []byte(keyID))
	})
	return j, err
}

func (s *store) ListReshareJobs() ([]registry.ReshareJob, error) {
	return list[registry.ReshareJob](s, "SELECT doc FROM reshare_jobs ORDER BY key_id")
}

// AppendRoster holds the roster's advisory lock while it reads the height
// and appends: appends queue, and one at a taken height is refused.
func (s *store) AppendRoster(r registry.RosterRecord, pendingID string, dev *registry.DeviceChange, e *auditlog.Entry) error {
	return s.chained(e, func(ctx context.Context, tx pgx.Tx) error {
		if err := lockNamed(ctx, tx, "roster", ""); err != nil {
			return err
		}
		var next int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(height) + 1, 0) FROM roster").Scan(&next); err != nil {
			return err
		}
		if r.Height != uint64(next) {
			return registry.ErrRosterConflict
		}
		if err := exec(ctx, tx, "INSERT INTO roster (height, doc) VALUES ($1, $2)", r, next); isUniqueViolation(err) {
			return registry.ErrRosterConflict
		} else if err != nil {
			return err
		}
		if pendingID != "" {
			if _, err := tx.Exec(ctx, "DELETE FROM roster_pending WHERE id = $1", []byte(pendingID)); err != nil {
				return err
			}
		}
		if dev == nil {
			return nil
		}
		d, found, err := lockDevice(ctx, tx, dev.ID)
		if err != nil || !found { // not found: a device added to the roster before it enrolled here
			return err
		}
		d.Status = dev.Status
		return exec(ctx, tx, putDevice, d, []byte(d.ID))
	})
}

func (s *store) ListRoster(from uint64) ([]registry.RosterRecord, error) {
	if from > math.MaxInt64 {
		return nil, nil
	}
	return list[registry.RosterRecord](s, "SELECT doc FROM roster WHERE height >= $1 ORDER BY height", int64(from))
}

func (s *store) PutPendingRoster(id string, r registry.RosterRecord) error {
	return s.tx(func(ctx context.Context, tx pgx.Tx) error { return exec(ctx, tx, putPendingRoster, r, []byte(id)) })
}

func (s *store) ListPendingRoster() (map[string]registry.RosterRecord, error) {
	out := map[string]registry.RosterRecord{}
	err := s.read(func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, "SELECT id, doc FROM roster_pending ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, b []byte
			if err := rows.Scan(&id, &b); err != nil {
				return err
			}
			var r registry.RosterRecord
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("pending roster entry %q: %w", id, err)
			}
			out[string(id)] = r
		}
		return rows.Err()
	})
	return out, err
}

func (s *store) DeletePendingRoster(id string) error {
	return s.tx(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM roster_pending WHERE id = $1", []byte(id))
		return err
	})
}
