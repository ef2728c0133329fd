// Package registry holds the coordinator's records - devices, pairing
// codes, keys and their epochs, API tokens, sessions, signatures kept for
// request-id replays, reshare jobs and the roster - and the stores that keep
// them (Badger on one machine). A store only stores: the rules of the
// service (who may do what, what a client is told) live in the coordinator.
// It holds no secrets: tokens and pairing codes are stored as hashes, and
// shares never reach the coordinator.
package registry

import (
	"errors"
	"time"

	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// Store is the coordinator's metadata store.
// The interface is small so that a replicated engine can stand in for Badger.
type Store interface {
	// CreatePairing, UpdateDevice, PutKey, PutToken and UpdateToken seal e
	// (when set) onto the audit chain in the same transaction: the action
	// and its entry are written together or not at all.
	CreatePairing(id []byte, p Pairing, e *auditlog.Entry) error
	// PendingPairing reports whether an unused, unexpired code holds name.
	PendingPairing(name string, now time.Time) (bool, error)
	// EnrollDevice checks pairing code id with proof (whether the device
	// showed it holds the code: the rule lives above the store), consumes
	// the code and stores dev, atomically. A failed proof counts against
	// the code.
	EnrollDevice(id []byte, now time.Time, proof func(p Pairing) bool, dev func(p Pairing) (Device, error)) (Device, error)
	GetDevice(id string) (Device, error)
	// UpdateDevice changes one device record atomically.
	UpdateDevice(id string, fn func(*Device) error, e *auditlog.Entry) (Device, error)
	ListDevices() ([]Device, error)
	PutKey(k Key, e *auditlog.Entry) error
	GetKey(id string) (Key, error)
	// UpdateKey changes one key atomically. With e set, e is sealed onto the
	// audit chain in the same transaction: both are written or neither.
	UpdateKey(id string, fn func(*Key) error, e *auditlog.Entry) (Key, error)
	ListKeys() ([]Key, error)
	// PutSignResult stores r under requestID unless one is there; it returns the stored one.
	PutSignResult(requestID string, r SignRecord) (SignRecord, error)
	GetSignResult(requestID string) (SignRecord, error)
	// PutSession records how a session ended.
	PutSession(r SessionRecord) error
	ListSessions() ([]SessionRecord, error)
	// NewestSessions lists up to limit session records, newest first,
	// without reading them all (there is one per signature).
	NewestSessions(limit int) ([]SessionRecord, error)
	// AppendAudit seals e onto the end of the audit chain atomically.
	AppendAudit(e auditlog.Entry) (auditlog.Entry, error)
	// ListAudit returns up to limit entries from seq since on.
	ListAudit(since uint64, limit int) ([]auditlog.Entry, error)
	AuditHeight() (uint64, error)
	PutToken(hash []byte, t Token, e *auditlog.Entry) error
	GetToken(hash []byte) (Token, error)
	ListTokens() ([]Token, error)
	// UpdateToken changes the token whose id (hash prefix) is id, atomically
	// with a check over all tokens (fn sees them).
	UpdateToken(id string, fn func(t *Token, all []Token) error, e *auditlog.Entry) (Token, error)
	// UpdateReshareJob creates or changes the background reshare job of a
	// key atomically (fn gets the zero job when there is none).
	UpdateReshareJob(keyID string, fn func(*ReshareJob) error) (ReshareJob, error)
	ListReshareJobs() ([]ReshareJob, error)
	// AppendRoster appends r at the next height (ErrRosterConflict when
	// r.Height is not it), deletes the pending record pendingID (if set),
	// changes the device dev names (if enrolled here) and seals e onto the
	// audit chain, in one transaction.
	AppendRoster(r RosterRecord, pendingID string, dev *DeviceChange, e *auditlog.Entry) error
	// ListRoster returns the entries from height from on, in order.
	ListRoster(from uint64) ([]RosterRecord, error)
	// Pending roster entries wait for more operator signatures, by id.
	PutPendingRoster(id string, r RosterRecord) error
	ListPendingRoster() (map[string]RosterRecord, error)
	DeletePendingRoster(id string) error
	// Ping reports whether the store is open and answers a read (readiness).
	Ping() error
	Close() error
}

// The outcomes of EnrollDevice that a device may be told (their text is
// safe to show a client).
var (
	ErrPairingInvalid = errors.New("pairing code is not valid")
	ErrPairingUsed    = errors.New("pairing code was already used")
	ErrPairingExpired = errors.New("pairing code has expired; ask the operator for a new one")
	ErrPairingBurned  = errors.New("pairing code was disabled after too many wrong attempts; ask the operator for a new one")
	ErrDeviceExists   = errors.New("device is already enrolled")
)

var (
	// ErrNotFound is a record that is not there.
	ErrNotFound = errors.New("registry: not found")
	// ErrRosterConflict is an append at a height that is no longer the next.
	ErrRosterConflict = errors.New("registry: the roster grew meanwhile")
)
