package registry

import (
	"time"
)

// DeviceStatus mirrors mpcv1.DeviceStatus in storage.
type DeviceStatus string

const (
	DevicePending DeviceStatus = "pending"
	DeviceActive  DeviceStatus = "active"
	DeviceRevoked DeviceStatus = "revoked"
)

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
	// ReplaceWith is, for a device revoked without a roster, the device id
	// that joins every key it held (its revocation's replace_with), kept
	// so that the revocation's reshare jobs can be queued again after a
	// crash. With a roster, the revoke entry's record keeps it.
	ReplaceWith string `json:"replace_with,omitempty"`
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

// Next is the epoch number the next reshare attempt of k takes.
func (k Key) Next() uint64 { return max(k.NextEpoch, k.Epoch+1) }

// IsEd25519 says whether k is an Ed25519 key (else secp256k1 ECDSA).
func (k Key) IsEd25519() bool { return k.Curve == CurveEd25519 }

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

// Curve names of Key.Curve.
const (
	CurveSecp256k1 = "secp256k1"
	CurveEd25519   = "ed25519"
)

// Role is what an API token may do.
type Role string

const (
	RoleSigner Role = "signer"
	RoleAdmin  Role = "admin"
)

// ReshareReport is what one reshare or drill did, step by step. It is kept
// with the key (the last one) and returned to the caller.
type ReshareReport struct {
	KeyID        string        `json:"key_id"`
	Kind         ReshareKind   `json:"kind"`
	OK           bool          `json:"ok"`
	Error        string        `json:"error,omitempty"`
	Committed    bool          `json:"committed"`
	FromEpoch    uint64        `json:"from_epoch"`
	ToEpoch      uint64        `json:"to_epoch"`
	OldThreshold int           `json:"old_threshold"`
	NewThreshold int           `json:"new_threshold"`
	OldCommittee []string      `json:"old_committee"` // device names
	NewCommittee []string      `json:"new_committee"`
	Steps        []ReshareStep `json:"steps"`
	PublicKey    []byte        `json:"public_key"`
	TestDigest   []byte        `json:"test_digest,omitempty"`
	TestSig      []byte        `json:"test_signature,omitempty"`
	// TestPath is the derivation path of the test signature of a
	// derivation-only key (drillPath).
	TestPath string    `json:"test_path,omitempty"`
	Started  time.Time `json:"started"`
}

// ReshareKind says why a key was reshared.
type ReshareKind string

const (
	KindReshare    ReshareKind = "reshare"    // an operator changed the committee
	KindDrill      ReshareKind = "drill"      // same committee, fresh shares: a rehearsal
	KindRevocation ReshareKind = "revocation" // a revoked device is left out
)

// StepName names a step of a reshare report, in the order they run.
type StepName string

const (
	StepPlan          StepName = "plan"
	StepWaitDevices   StepName = "wait for devices"
	StepProtocol      StepName = "reshare protocol"
	StepTestSignature StepName = "test signature"
	StepCommit        StepName = "commit"
)

// ReshareStep is one timed step of a reshare.
type ReshareStep struct {
	Name     StepName      `json:"name"`
	Duration time.Duration `json:"duration"`
	OK       bool          `json:"ok"`
	Detail   string        `json:"detail,omitempty"`
}

// JobState is where a background reshare job is.
type JobState string

// States of a background reshare job.
const (
	JobPending JobState = "pending"
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobBlocked JobState = "blocked"
)

// ReshareJob is the reshare a revocation asked for, one per key. It runs in
// the background and is retried until it is done or cannot be done.
type ReshareJob struct {
	KeyID  string   `json:"key_id"`
	State  JobState `json:"state"`
	Reason string   `json:"reason"`
	Detail string   `json:"detail"`
	// Remove lists devices to leave out of the key; Add, devices to bring in.
	Remove       []string  `json:"remove"`
	Add          []string  `json:"add"`
	Attempts     int       `json:"attempts"`
	NewCommittee []string  `json:"new_committee"` // names, as last planned
	NewThreshold int       `json:"new_threshold"`
	Epoch        uint64    `json:"epoch"`
	UpdatedAt    time.Time `json:"updated_at"`
	// NextTry is when a failed attempt may run again; a job waiting for
	// devices runs as soon as one connects.
	NextTry    time.Time `json:"next_try"`
	WaitDevice bool      `json:"wait_device"`
	// Plan is the operators' signed reshare ceremony for this job (with a
	// roster): the job runs, and is retried, under it until it expires.
	Plan *AuthRecord `json:"plan,omitempty"`
}

// AuthRecord is a stored operator authorization.
type AuthRecord struct {
	Body       []byte      `json:"body"`
	Signatures []RosterSig `json:"signatures"`
}

// AttRecord is a stored key attestation: a holder's signed statement of the
// key it holds (resharing.Attestation).
type AttRecord struct {
	Body []byte `json:"body"`
	Sig  []byte `json:"sig"`
}

// RosterRecord is a stored roster entry: its body exactly as signed, and
// the signatures. The coordinator cannot make or change one without the
// devices noticing; it stores and serves them.
type RosterRecord struct {
	Height     uint64      `json:"height"`
	Body       []byte      `json:"body"`
	Signatures []RosterSig `json:"signatures"`
	// What the coordinator does once a revoke entry is appended (the
	// replacement device), not signed; kept with the appended entry too, so
	// that the revocation's reshare jobs can be queued again after a crash.
	ReplaceWith string `json:"replace_with,omitempty"`
	// Revoke entries only: the operators' signed reshare plan of each key
	// the device holds, by key id (each verified when its job runs); kept
	// with the appended entry for the same reason.
	Plans map[string]*AuthRecord `json:"plans,omitempty"`
}

// RosterSig is one Ed25519 signature of a roster entry.
type RosterSig struct {
	Key []byte `json:"key"`
	Sig []byte `json:"sig"`
}

// DeviceChange is what appending a roster entry does to a device record.
type DeviceChange struct {
	ID     string
	Status DeviceStatus
}
