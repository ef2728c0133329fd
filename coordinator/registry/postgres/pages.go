package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

// Paged listings and pruning. Each reads an index from its cursor (the
// primary key, sessions_started, sign_results_at) and stops at its limit;
// a prune deletes a batch per transaction.
const (
	keysAfterSQL      = "SELECT doc FROM keys WHERE id > $1 ORDER BY id LIMIT $2"
	devicesAfterSQL   = "SELECT doc FROM devices WHERE id > $1 ORDER BY id LIMIT $2"
	newestSessionsSQL = "SELECT doc FROM sessions ORDER BY started DESC, id DESC LIMIT $1"
	sessionsSQL       = "SELECT doc FROM sessions WHERE (started, id) < ($1, $2) ORDER BY started DESC, id DESC LIMIT $3"
	// A batch is found by the index and deleted by its rows' physical
	// addresses (a TID scan): "id IN (SELECT ...)" would be a hash join
	// over the whole table. A row that moved meanwhile (a session written
	// again) is left for the next batch or prune.
	pruneSignSQL = `DELETE FROM sign_results WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM sign_results WHERE at < $1 LIMIT $2))`
	pruneSessionsSQL = `DELETE FROM sessions WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM sessions WHERE started < $1 LIMIT $2))`
)

func (s *store) ListKeysAfter(after string, limit int) ([]registry.Key, error) {
	if limit <= 0 {
		return nil, nil
	}
	return list[registry.Key](s, keysAfterSQL, []byte(after), limit)
}

func (s *store) ListDevicesAfter(after string, limit int) ([]registry.Device, error) {
	if limit <= 0 {
		return nil, nil
	}
	return list[registry.Device](s, devicesAfterSQL, []byte(after), limit)
}

// ListSessionsBefore compares (started, id) as a row, which the
// sessions_started index answers read backwards. The cursor's time goes
// through the same encoding as the record's own at its insert (to the
// microsecond), so the cursor's record compares equal and is left out.
func (s *store) ListSessionsBefore(before *registry.SessionCursor, limit int) ([]registry.SessionRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	if before == nil {
		return list[registry.SessionRecord](s, newestSessionsSQL, limit)
	}
	return list[registry.SessionRecord](s, sessionsSQL, before.Started, []byte(before.ID), limit)
}

func (s *store) PruneSignResults(before time.Time) (int, error) {
	return s.prune(pruneSignSQL, before)
}

func (s *store) PruneSessions(before time.Time) (int, error) {
	return s.prune(pruneSessionsSQL, before)
}

// prune runs sql (a batch's DELETE) until a batch deletes fewer than
// PruneBatch rows, each in a transaction of its own; it returns how many
// rows it deleted.
func (s *store) prune(sql string, before time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := s.tx(func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, sql, before, registry.PruneBatch)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < registry.PruneBatch {
			return total, nil
		}
	}
}
