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
	// ListPairings lists the pairing codes.
	ListPairings() ([]Pairing, error)
	// EnrollDevice enrols a device with pairing code id in one
	// transaction; the rules are the caller's (decide). It reads the code
	// (found is false when there is none) and calls decide with it and a
	// lookup of device records; then it writes the code as decide left it
	// (when found) and the device decide returned (when not nil), and
	// returns that device with decide's error. So a refusal that changes the
	// code (a wrong secret counts against it) is recorded too; decide
	// leaves the code as it was when nothing must change. decide may run
	// more than once (on a write conflict) and must depend on its arguments
	// only (it may fill in e, which it runs before). When a device is
	// written, e (when set) is sealed onto the audit chain in the same
	// transaction: an enrolled device is never without its entry.
	EnrollDevice(id []byte, decide Enrolment, e *auditlog.Entry) (Device, error)
	GetDevice(id string) (Device, error)
	// UpdateDevice changes one device record atomically.
	UpdateDevice(id string, fn func(*Device) error, e *auditlog.Entry) (Device, error)
	// ListDevices lists every device, for the coordinator's own checks
	// (a name taken, a device found by name); clients page with
	// ListDevicesAfter.
	ListDevices() ([]Device, error)
	// ListDevicesAfter lists up to limit devices whose id sorts after
	// after ("": from the first), in id order (bytewise), reading only
	// those.
	ListDevicesAfter(after string, limit int) ([]Device, error)
	PutKey(k Key, e *auditlog.Entry) error
	GetKey(id string) (Key, error)
	// UpdateKey changes one key atomically. With e set, e is sealed onto the
	// audit chain in the same transaction: both are written or neither.
	UpdateKey(id string, fn func(*Key) error, e *auditlog.Entry) (Key, error)
	// ListKeys lists every key, reading every one: for tools and tests.
	// The coordinator reads a device's keys with ListKeysOfDevice and the
	// reshares in flight with ListKeysInFlight; clients page with
	// ListKeysAfter.
	ListKeys() ([]Key, error)
	// ListKeysOfDevice lists the keys of which the device is a member
	// (KeyMembers: it holds, held, may hold after the reshare in flight, or
	// restored a share waiting for approval), in id order (bytewise),
	// reading only those (an index written with each key).
	ListKeysOfDevice(deviceID string) ([]Key, error)
	// ListKeysInFlight lists the keys with a reshare in flight (InFlight
	// set), in id order (bytewise), reading only those.
	ListKeysInFlight() ([]Key, error)
	// ListKeysAfter lists up to limit keys whose id sorts after after ("":
	// from the first), in id order (bytewise), reading only those.
	ListKeysAfter(after string, limit int) ([]Key, error)
	// PutSignResult stores r under requestID unless one is there; it
	// returns the stored one. When it stores r it seals e (when set) onto
	// the audit chain in the same transaction; when another result was
	// there it seals nothing (the call that stored it sealed its own).
	PutSignResult(requestID string, r SignRecord, e *auditlog.Entry) (SignRecord, error)
	GetSignResult(requestID string) (SignRecord, error)
	// PruneSignResults deletes the sign results whose At is before
	// before, and returns how many it deleted. It reads only those (an
	// index by time), in batches: a long backlog does not make one huge
	// transaction.
	PruneSignResults(before time.Time) (int, error)
	// PutSession records how a session ended.
	PutSession(r SessionRecord) error
	// ListSessionsBefore lists up to limit session records, newest first
	// by (Started, ID), that sort before the cursor (nil: from the newest),
	// reading only those (there is one record per signature).
	ListSessionsBefore(before *SessionCursor, limit int) ([]SessionRecord, error)
	// PruneSessions deletes the session records that started before
	// before, and returns how many it deleted; in batches, as
	// PruneSignResults.
	PruneSessions(before time.Time) (int, error)
	// AppendAudit seals e onto the end of the audit chain atomically.
	// Appends are serialized: concurrent ones (from any number of callers)
	// make one chain, never a fork, and none fails for the other.
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
	// key atomically (fn gets the zero job of keyID when there is none).
	UpdateReshareJob(keyID string, fn func(*ReshareJob) error) (ReshareJob, error)
	ListReshareJobs() ([]ReshareJob, error)
	// AppendRoster appends r at the next height (ErrRosterConflict when
	// r.Height is not it), deletes the pending record pendingID (if set),
	// changes the device dev names (if enrolled here) and seals e onto the
	// audit chain, in one transaction. r is stored whole, with the
	// coordinator's notes (ReplaceWith, Plans).
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

// SessionCursor is where a listing of sessions stopped: the start time and
// id of the last record it returned.
type SessionCursor struct {
	Started time.Time
	ID      string
}

// PruneBatch is how many records one transaction of a prune deletes at
// most.
const PruneBatch = 500

// Enrolment decides, in EnrollDevice's transaction, what a pairing code p
// (found: it exists) does: it may change p, and returns the device record
// to store (nil for none) or why not. device looks up a stored device
// record by id.
type Enrolment func(p *Pairing, found bool, device func(id string) (Device, bool, error)) (*Device, error)

var (
	// ErrNotFound is a record that is not there.
	ErrNotFound = errors.New("registry: not found")
	// ErrRosterConflict is an append at a height that is no longer the next.
	ErrRosterConflict = errors.New("registry: the roster grew meanwhile")
	// ErrMemberID is a key naming a member device whose id holds a NUL:
	// no store can index it (PostgreSQL's text refuses a NUL).
	ErrMemberID = errors.New("registry: a key's member device id holds a NUL")
)
