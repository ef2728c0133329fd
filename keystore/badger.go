package keystore

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/mpcsign/mpcsign/internal/badgerlog"
)

// badgerOptions returns the badger configuration of a store: synchronous
// writes, no badger-level encryption or compression (values are already
// ciphertext), and small caches and memtables, because several party
// processes may run on one machine.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerlog.New(log, "keystore")).
		WithLoggingLevel(badger.WARNING).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(4 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2)
}

// openBadger opens the badger database in dir, mapping a held directory
// lock to ErrLocked.
func openBadger(dir string, log *slog.Logger) (*badger.DB, error) {
	db, err := badger.Open(badgerOptions(dir, log))
	if err != nil {
		if isLockError(err) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("keystore: open %s: %w", dir, err)
	}
	return db, nil
}

// isLockError reports whether err is badger's "directory lock held" error.
// Badger flattens the flock error into text (it wraps with %+v outside its
// debug mode), so the text is matched as well as the errno; the ErrLocked test
// catches a badger upgrade that changes the wording.
func isLockError(err error) bool {
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	return strings.Contains(err.Error(), "Cannot acquire directory lock")
}
