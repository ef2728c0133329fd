package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/badgerlog"
)

// Store is the coordinator's metadata store. It holds no secrets: tokens and
// pairing codes are stored as hashes, shares never reach the coordinator.
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
	// AppendRoster appends r at the next height (errRosterConflict when
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

// DeviceStatus mirrors mpcv1.DeviceStatus in storage.
type DeviceStatus string

const (
	DevicePending DeviceStatus = "pending"
	DeviceActive  DeviceStatus = "active"
	DeviceRevoked DeviceStatus = "revoked"
)

// MaxPairingAttempts is how many wrong secrets burn a pairing code.
const MaxPairingAttempts = 3

// Device is an enrolled device.
type Device struct {
	ID                  string       `json:"id"`
	Name                string       `json:"name"`
	Status              DeviceStatus `json:"status"`
	IdentityPublicKey   []byte       `json:"identity_public_key"`
	EncryptionPublicKey []byte       `json:"encryption_public_key"`
	PairedAt            time.Time    `json:"paired_at"`
	LastSeen            time.Time    `json:"last_seen"`
	SAS                 string       `json:"sas"`
}

// Pairing is a pairing code, stored under its public id with only the hash
// of its secret.
type Pairing struct {
	Name       string `json:"name"`
	SecretHash []byte `json:"secret_hash"`
	// AuthKey, for a code the operator's mpcctl made, is all the
	// coordinator knows of its secret (pairing.AuthKey); SecretHash is empty.
	AuthKey   []byte    `json:"auth_key,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used"`
	Attempts  int       `json:"attempts"` // wrong secrets presented
}

// Key is a threshold key's metadata.
type Key struct {
	ID        string    `json:"id"`
	Curve     string    `json:"curve"`
	Threshold int       `json:"threshold"`
	PublicKey []byte    `json:"public_key"`
	Holders   []string  `json:"holders"` // device ids
	Epoch     uint64    `json:"epoch"`
	CreatedAt time.Time `json:"created_at"`
	// NextEpoch is the number the next reshare attempt takes; epoch numbers
	// are never reused, so a pending share of an abandoned attempt can never
	// be mistaken for a committed one. 0 means Epoch+1.
	NextEpoch uint64 `json:"next_epoch,omitempty"`
	// InFlight is the reshare running now, recorded before it starts; a
	// coordinator that restarts finds it and abandons it.
	InFlight *InFlightReshare `json:"in_flight,omitempty"`
	// LastReshare is the report of the last committed reshare of any kind
	// (a drill too).
	LastReshare *ReshareReport `json:"last_reshare,omitempty"`
	// LastDrill is the report of the last drill, whatever its outcome: a
	// later reshare does not replace it.
	LastDrill *ReshareReport `json:"last_drill,omitempty"`
	// PastHolders held an older epoch and may still keep its share until
	// they hear of the commit (KeySync tells them on connect).
	PastHolders []string `json:"past_holders,omitempty"`
	// PartyKeyIdentity maps a holder whose share of this epoch was restored
	// from another device's backup to the identity public key that share's
	// tss-lib party key derives from. A reshare clears it.
	PartyKeyIdentity map[string][]byte `json:"party_key_identity,omitempty"`
	// KeyPublic is the public part of the key's tss-lib data at this
	// epoch, as every holder reported it (internal/blame.KeyPublic for
	// secp256k1, blame.EdKeyPublic for Ed25519);
	// the judge of signing complaints needs it. Empty for keys made before.
	KeyPublic []byte `json:"key_public,omitempty"`
	// PendingRestores are restored shares waiting for an operator's approval.
	PendingRestores []RestoreBinding `json:"pending_restores,omitempty"`
	// ChainCode is a secp256k1 key's BIP32 chain code, which every device
	// derived from the keygen session id; empty for older keys.
	ChainCode []byte `json:"chain_code,omitempty"`
	// DerivationOnly: the root key never signs, only keys derived from it.
	DerivationOnly bool `json:"derivation_only,omitempty"`
	// Attestations are every holder's signed statement of this epoch (a
	// keygen's members, or the new holders of the reshare that made it).
	Attestations []AttRecord `json:"attestations,omitempty"`
	// Certificate is the commit certificate of this epoch (none for a
	// keygen's epoch 0): old holders erase, and new ones promote, only
	// when shown it (resharing.Certificate, encoded).
	Certificate []byte `json:"certificate,omitempty"`
	// CommitAuth is the operators' ceremony the reshare that made this
	// epoch ran under (with a roster); it travels with the certificate.
	CommitAuth *AuthRecord `json:"commit_auth,omitempty"`
}

// RestoreBinding is a device that restored another device's share of a key
// from a paper-key backup.
type RestoreBinding struct {
	Device      string    `json:"device"`   // the new device
	Original    string    `json:"original"` // the device the backup was made on
	OriginalPub []byte    `json:"original_pub"`
	Epoch       uint64    `json:"epoch"`
	At          time.Time `json:"at"`
}

// InFlightReshare is a reshare between its start and its commit point.
type InFlightReshare struct {
	Epoch     uint64      `json:"epoch"`
	Kind      ReshareKind `json:"kind"`
	Holders   []string    `json:"holders"`
	Threshold int         `json:"threshold"`
	Started   time.Time   `json:"started"`
}

// next is the epoch number the next reshare attempt of k takes.
func (k Key) next() uint64 { return max(k.NextEpoch, k.Epoch+1) }

// SignRecord is a finished signature kept for request-id replays.
type SignRecord struct {
	KeyID string `json:"key_id"`
	// Digest: the digest signed, or the SHA-256 of an Ed25519 message.
	Digest    []byte    `json:"digest"`
	Path      string    `json:"path,omitempty"`
	R         []byte    `json:"r"`
	S         []byte    `json:"s"`
	Signature []byte    `json:"signature,omitempty"` // Ed25519
	Signers   []string  `json:"signers"`
	At        time.Time `json:"at"`
}

// SessionRecord is a finished session, kept for operators and later audit.
type SessionRecord struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	KeyID    string    `json:"key_id,omitempty"`
	Devices  []string  `json:"devices"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	OK       bool      `json:"ok"`
	Reason   string    `json:"reason,omitempty"`
	Culprits []string  `json:"culprits,omitempty"`
	// Blame is what the blame of Culprits rests on (a Blame).
	Blame string `json:"blame,omitempty"`
}

// Token is an API token's role (the token itself is stored as a hash).
type Token struct {
	ID        string    `json:"id"` // public: a prefix of the token's hash
	Role      Role      `json:"role"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
}

var (
	errStoreNotFound = errors.New("coordinator: not found")
)

type badgerStore struct {
	db *badger.DB
}

// OpenBadgerStore opens the metadata store in dir with synchronous writes.
func OpenBadgerStore(dir string, log *slog.Logger) (Store, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerlog.New(log, "store")).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("coordinator: open store in %s: %w", dir, err)
	}
	return &badgerStore{db: db}, nil
}

func (s *badgerStore) Close() error { return s.db.Close() }

func (s *badgerStore) Ping() error {
	if s.db.IsClosed() {
		return errors.New("coordinator: store is closed")
	}
	return s.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get([]byte("ping")); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return nil
	})
}

func get(txn *badger.Txn, key string, v any) error {
	it, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return errStoreNotFound
	}
	if err != nil {
		return err
	}
	return it.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

func put(txn *badger.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set([]byte(key), b)
}

func list[T any](db *badger.DB, prefix string) ([]T, error) {
	var out []T
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var v T
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) CreatePairing(id []byte, p Pairing, e *auditlog.Entry) error {
	return s.retry(func(txn *badger.Txn) error {
		if err := put(txn, fmt.Sprintf("pairing/%x", id), p); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
}

func (s *badgerStore) PendingPairing(name string, now time.Time) (bool, error) {
	ps, err := list[Pairing](s.db, "pairing/")
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.Name == name && !p.Used && now.Before(p.ExpiresAt) {
			return true, nil
		}
	}
	return false, nil
}

func (s *badgerStore) EnrollDevice(id []byte, now time.Time, proof func(Pairing) bool, mk func(Pairing) (Device, error)) (Device, error) {
	var dev Device
	var refused error // a refusal that must still commit (the attempt count)
	err := s.retry(func(txn *badger.Txn) error {
		refused = nil
		key := fmt.Sprintf("pairing/%x", id)
		var p Pairing
		if err := get(txn, key, &p); err != nil {
			if errors.Is(err, errStoreNotFound) {
				return ErrPairingInvalid
			}
			return err
		}
		if p.Used {
			return ErrPairingUsed
		}
		if now.After(p.ExpiresAt) {
			return ErrPairingExpired
		}
		if p.Attempts >= MaxPairingAttempts {
			return ErrPairingBurned
		}
		if !proof(p) {
			p.Attempts++
			refused = ErrPairingInvalid
			if p.Attempts >= MaxPairingAttempts {
				refused = ErrPairingBurned
			}
			return put(txn, key, p)
		}
		d, err := mk(p)
		if err != nil {
			return err
		}
		var existing Device
		if err := get(txn, "device/"+d.ID, &existing); err == nil {
			if existing.Status != DeviceActive || !bytes.Equal(existing.IdentityPublicKey, d.IdentityPublicKey) {
				return ErrDeviceExists
			}
			// The same key enrolling again: the device crashed after the
			// coordinator registered it and before it stored that. Give it
			// its existing record back (the new code is used up).
			p.Used = true
			dev = existing
			return put(txn, key, p)
		}
		p.Used = true
		if err := put(txn, key, p); err != nil {
			return err
		}
		dev = d
		return put(txn, "device/"+d.ID, d)
	})
	if err == nil && refused != nil {
		err = refused
	}
	return dev, err
}

func (s *badgerStore) GetDevice(id string) (Device, error) {
	var d Device
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, "device/"+id, &d) })
	return d, err
}

func (s *badgerStore) UpdateDevice(id string, fn func(*Device) error, e *auditlog.Entry) (Device, error) {
	var d Device
	err := s.retry(func(txn *badger.Txn) error {
		d = Device{}
		if err := get(txn, "device/"+id, &d); err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return err
		}
		if err := put(txn, "device/"+id, d); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
	return d, err
}

func (s *badgerStore) ListDevices() ([]Device, error) { return list[Device](s.db, "device/") }

func (s *badgerStore) PutKey(k Key, e *auditlog.Entry) error {
	return s.retry(func(txn *badger.Txn) error {
		if err := put(txn, "key/"+k.ID, k); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
}

func (s *badgerStore) GetKey(id string) (Key, error) {
	var k Key
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, "key/"+id, &k) })
	return k, err
}

func (s *badgerStore) ListKeys() ([]Key, error) { return list[Key](s.db, "key/") }

func (s *badgerStore) UpdateReshareJob(keyID string, fn func(*ReshareJob) error) (ReshareJob, error) {
	var j ReshareJob
	err := s.retry(func(txn *badger.Txn) error {
		j = ReshareJob{}
		if err := get(txn, "reshare-job/"+keyID, &j); err != nil && !errors.Is(err, errStoreNotFound) {
			return err
		}
		j.KeyID = keyID
		if err := fn(&j); err != nil {
			return err
		}
		return put(txn, "reshare-job/"+keyID, j)
	})
	return j, err
}

func (s *badgerStore) ListReshareJobs() ([]ReshareJob, error) {
	return list[ReshareJob](s.db, "reshare-job/")
}

func (s *badgerStore) UpdateKey(id string, fn func(*Key) error, e *auditlog.Entry) (Key, error) {
	var k Key
	err := s.retry(func(txn *badger.Txn) error {
		k = Key{}
		if err := get(txn, "key/"+id, &k); err != nil {
			return err
		}
		if err := fn(&k); err != nil {
			return err
		}
		if err := put(txn, "key/"+id, k); err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		sealed, err := appendAudit(txn, *e)
		if err != nil {
			return err
		}
		*e = sealed
		return nil
	})
	return k, err
}

func (s *badgerStore) PutSignResult(requestID string, r SignRecord) (SignRecord, error) {
	var out SignRecord
	err := s.retry(func(txn *badger.Txn) error {
		out = r
		key := "signreq/" + requestID
		var existing SignRecord
		if err := get(txn, key, &existing); err == nil {
			out = existing
			return nil
		}
		return put(txn, key, r)
	})
	return out, err
}

// retry runs fn in an update transaction, again when a concurrent
// transaction conflicted with it.
func (s *badgerStore) retry(fn func(txn *badger.Txn) error) error {
	for attempt := 0; ; attempt++ {
		err := s.db.Update(fn)
		if errors.Is(err, badger.ErrConflict) && attempt < 8 {
			continue
		}
		return err
	}
}

func (s *badgerStore) GetSignResult(requestID string) (SignRecord, error) {
	var r SignRecord
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, "signreq/"+requestID, &r) })
	return r, err
}

func (s *badgerStore) PutSession(r SessionRecord) error {
	// Keyed by start time so that a listing is in order.
	key := fmt.Sprintf("session/%020d/%s", r.Started.UnixNano(), r.ID)
	return s.db.Update(func(txn *badger.Txn) error { return put(txn, key, r) })
}

func (s *badgerStore) ListSessions() ([]SessionRecord, error) {
	return list[SessionRecord](s.db, "session/")
}

func (s *badgerStore) PutToken(hash []byte, t Token, e *auditlog.Entry) error {
	return s.retry(func(txn *badger.Txn) error {
		if err := put(txn, fmt.Sprintf("token/%x", hash), t); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
}

const auditHead = "audit-head"

func (s *badgerStore) AppendAudit(e auditlog.Entry) (auditlog.Entry, error) {
	var out auditlog.Entry
	err := s.retry(func(txn *badger.Txn) error {
		var err error
		out, err = appendAudit(txn, e)
		return err
	})
	return out, err
}

// sealAudit appends *e in txn when e is set (and records the sealed entry
// in *e): an action and its audit entry are written together or not at all.
func sealAudit(txn *badger.Txn, e *auditlog.Entry) error {
	if e == nil {
		return nil
	}
	sealed, err := appendAudit(txn, *e)
	if err != nil {
		return err
	}
	*e = sealed
	return nil
}

func appendAudit(txn *badger.Txn, e auditlog.Entry) (auditlog.Entry, error) {
	var head auditlog.Entry
	var prev *auditlog.Entry
	if err := get(txn, auditHead, &head); err == nil {
		prev = &head
	} else if !errors.Is(err, errStoreNotFound) {
		return auditlog.Entry{}, err
	}
	out := auditlog.Seal(e, prev)
	if err := put(txn, fmt.Sprintf("audit/%020d", out.Seq), out); err != nil {
		return auditlog.Entry{}, err
	}
	return out, put(txn, auditHead, out)
}

func (s *badgerStore) ListAudit(since uint64, limit int) ([]auditlog.Entry, error) {
	var out []auditlog.Entry
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("audit/"), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek([]byte(fmt.Sprintf("audit/%020d", since))); it.Valid() && len(out) < limit; it.Next() {
			var e auditlog.Entry
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) AuditHeight() (uint64, error) {
	var head auditlog.Entry
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, auditHead, &head) })
	if errors.Is(err, errStoreNotFound) {
		return 0, nil
	}
	return head.Seq, err
}

func (s *badgerStore) ListTokens() ([]Token, error) { return list[Token](s.db, "token/") }

func (s *badgerStore) UpdateToken(id string, fn func(*Token, []Token) error, e *auditlog.Entry) (Token, error) {
	var out Token
	err := s.retry(func(txn *badger.Txn) error {
		var all []Token
		var key string
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("token/"), PrefetchValues: true})
		for it.Rewind(); it.Valid(); it.Next() {
			var t Token
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &t) }); err != nil {
				it.Close()
				return err
			}
			all = append(all, t)
			if t.ID == id {
				key, out = string(it.Item().KeyCopy(nil)), t
			}
		}
		it.Close()
		if key == "" {
			return errStoreNotFound
		}
		if err := fn(&out, all); err != nil {
			return err
		}
		if err := put(txn, key, out); err != nil {
			return err
		}
		return sealAudit(txn, e)
	})
	return out, err
}

func (s *badgerStore) GetToken(hash []byte) (Token, error) {
	var t Token
	err := s.db.View(func(txn *badger.Txn) error { return get(txn, fmt.Sprintf("token/%x", hash), &t) })
	return t, err
}

// RecentSessions lists recorded sessions, oldest first.
func (s *Server) RecentSessions() ([]SessionRecord, error) { return s.store.ListSessions() }
