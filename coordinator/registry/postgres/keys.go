package postgres

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// Keys: a row's members and in_flight columns, which the indexed lookups
// read, are derived from its document by the trigger keys_index
// (migrations/0004_key_index.sql) on every insert and update, so the
// writes here set doc alone, as every other writer of the table does.
const (
	// putKey is the upsert of a key: $1 the id, $2 the document.
	putKey = "INSERT INTO keys (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc"
	// keysOfDeviceSQL reads the GIN index keys_members ($1: a device id).
	keysOfDeviceSQL = "SELECT doc FROM keys WHERE members @> ARRAY[$1::text] ORDER BY id"
	// keysInFlightSQL reads the partial index keys_in_flight, in id order.
	keysInFlightSQL = "SELECT doc FROM keys WHERE in_flight ORDER BY id"
)

// writeKey stores k under id, refusing a key whose members no index could
// hold (registry.ErrMemberID) before PostgreSQL refuses it less clearly.
func writeKey(ctx context.Context, tx pgx.Tx, id string, k registry.Key) error {
	if _, err := registry.KeyMembers(k); err != nil {
		return err
	}
	return exec(ctx, tx, putKey, k, []byte(id))
}

func (s *store) PutKey(k registry.Key, e *auditlog.Entry) error {
	return s.chained(e, func(ctx context.Context, tx pgx.Tx) error {
		return writeKey(ctx, tx, k.ID, k)
	})
}

func (s *store) GetKey(id string) (registry.Key, error) {
	return get[registry.Key](s, "SELECT doc FROM keys WHERE id = $1", []byte(id))
}

func (s *store) UpdateKey(id string, fn func(*registry.Key) error, e *auditlog.Entry) (registry.Key, error) {
	var k registry.Key
	err := s.chained(e, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if k, err = getDoc[registry.Key](ctx, tx, "SELECT doc FROM keys WHERE id = $1 FOR UPDATE", []byte(id)); err != nil {
			return err
		}
		if err := fn(&k); err != nil {
			return err
		}
		return writeKey(ctx, tx, id, k)
	})
	return k, err
}

func (s *store) ListKeys() ([]registry.Key, error) {
	return list[registry.Key](s, "SELECT doc FROM keys ORDER BY id")
}

// ListKeysOfDevice finds no key for an id no member can have (text that is
// not UTF-8 is stored as U+FFFD, a NUL is refused), which PostgreSQL would
// refuse as a text parameter.
func (s *store) ListKeysOfDevice(deviceID string) ([]registry.Key, error) {
	if !utf8.ValidString(deviceID) || strings.Contains(deviceID, "\x00") {
		return nil, nil
	}
	return list[registry.Key](s, keysOfDeviceSQL, deviceID)
}

func (s *store) ListKeysInFlight() ([]registry.Key, error) {
	return list[registry.Key](s, keysInFlightSQL)
}
