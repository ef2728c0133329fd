package roster

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// Kind is an entry's kind.
type Kind string

// The entry kinds.
const (
	KindGenesis      Kind = "genesis"
	KindAddDevice    Kind = "add_device"
	KindRevokeDevice Kind = "revoke_device"
	KindSetOperators Kind = "set_operators"
	// KindAddRequester registers a wallet backend's key (or replaces the
	// grants of an active one); KindRevokeRequester withdraws it.
	KindAddRequester    Kind = "add_requester"
	KindRevokeRequester Kind = "revoke_requester"
)

// Operator is a named Ed25519 operator key.
type Operator struct {
	Name string `json:"name"`
	Key  []byte `json:"key"`
}

// Device is a device as the roster knows it.
type Device struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	IdentityKey   []byte `json:"identity_key"`
	EncryptionKey []byte `json:"encryption_key"`
}

// Body is the signed content of an entry. Which fields a kind uses is in the
// package documentation; the others must be left zero.
type Body struct {
	Version        int        `json:"v"`
	Height         uint64     `json:"height"`
	Prev           string     `json:"prev,omitempty"`
	Time           int64      `json:"time"`
	Kind           Kind       `json:"kind"`
	Nonce          string     `json:"nonce,omitempty"`
	Operators      []Operator `json:"operators,omitempty"`
	Quorum         int        `json:"quorum,omitempty"`
	DeviceApproval bool       `json:"device_approval,omitempty"`
	Device         *Device    `json:"device,omitempty"`
	DeviceID       string     `json:"device_id,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Requester      *Requester `json:"requester,omitempty"`
	RequesterID    string     `json:"requester_id,omitempty"`
}

// Entry is an encoded body and its signatures.
type Entry struct {
	Body       []byte
	Signatures []Signature
}

var (
	operatorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
	deviceName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// NewGenesis builds an unsigned genesis entry with a fresh random nonce. Each
// of the operators signs it (Entry.Sign) before it is published; its hash is
// what devices pin.
func NewGenesis(ops []Operator, quorum int, deviceApproval bool, now time.Time) (Entry, error) {
	if err := checkOperators(ops, quorum); err != nil {
		return Entry{}, err
	}
	b := Body{
		Version:        Version,
		Time:           now.Unix(),
		Kind:           KindGenesis,
		Nonce:          newNonce(),
		Operators:      cloneOperators(ops),
		Quorum:         quorum,
		DeviceApproval: deviceApproval,
	}
	if b.Time <= 0 {
		return Entry{}, fmt.Errorf("%w: time %d is not after 1970", ErrRule, b.Time)
	}
	raw, err := EncodeBody(b)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Body: raw}, nil
}

// kindFields lists the optional fields each kind may set (besides v, height,
// prev, time and kind).
var kindFields = map[Kind]map[string]bool{
	KindGenesis:         {"nonce": true, "operators": true, "quorum": true, "device_approval": true},
	KindAddDevice:       {"device": true, "reason": true},
	KindRevokeDevice:    {"device_id": true, "reason": true},
	KindSetOperators:    {"operators": true, "quorum": true, "reason": true},
	KindAddRequester:    {"requester": true, "reason": true},
	KindRevokeRequester: {"requester_id": true, "reason": true},
}

// checkShape checks what does not depend on the state: the version, the kind,
// which fields are set, and the values of the fields of the kind.
func checkShape(b Body) error {
	if b.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, b.Version, Version)
	}
	allowed, ok := kindFields[b.Kind]
	if !ok {
		return fmt.Errorf("%w: unknown kind %q", ErrMalformed, b.Kind)
	}
	set := []struct {
		name string
		set  bool
	}{
		{"nonce", b.Nonce != ""},
		{"operators", len(b.Operators) > 0},
		{"quorum", b.Quorum != 0},
		{"device_approval", b.DeviceApproval},
		{"device", b.Device != nil},
		{"device_id", b.DeviceID != ""},
		{"reason", b.Reason != ""},
		{"requester", b.Requester != nil},
		{"requester_id", b.RequesterID != ""},
	}
	for _, f := range set {
		if f.set && !allowed[f.name] {
			return fmt.Errorf("%w: a %s entry has no field %s", ErrMalformed, b.Kind, f.name)
		}
	}
	if b.Time <= 0 {
		return fmt.Errorf("%w: time %d is not after 1970", ErrRule, b.Time)
	}
	if err := checkReason(b.Reason); err != nil {
		return err
	}
	switch b.Kind {
	case KindGenesis:
		if b.Height != 0 || b.Prev != "" {
			return fmt.Errorf("%w: a genesis entry has height 0 and no previous hash", ErrChain)
		}
		if !validNonce(b.Nonce) {
			return fmt.Errorf("%w: genesis nonce is not %d lowercase hex digits", ErrMalformed, nonceHexLen)
		}
		return checkOperators(b.Operators, b.Quorum)
	case KindSetOperators:
		return checkOperators(b.Operators, b.Quorum)
	case KindAddDevice:
		if b.Device == nil {
			return fmt.Errorf("%w: add_device without a device", ErrMalformed)
		}
		return checkDevice(*b.Device)
	case KindRevokeDevice:
		if b.DeviceID == "" {
			return fmt.Errorf("%w: revoke_device without a device id", ErrMalformed)
		}
	case KindAddRequester:
		if b.Requester == nil {
			return fmt.Errorf("%w: add_requester without a requester", ErrMalformed)
		}
		return checkRequester(*b.Requester)
	case KindRevokeRequester:
		if b.RequesterID == "" {
			return fmt.Errorf("%w: revoke_requester without a requester id", ErrMalformed)
		}
	}
	return nil
}

func checkReason(r string) error {
	if len(r) > MaxReason || !utf8.ValidString(r) {
		return fmt.Errorf("%w: reason is longer than %d bytes or not UTF-8", ErrRule, MaxReason)
	}
	return nil
}

// checkOperators checks an operator set and its quorum.
func checkOperators(ops []Operator, quorum int) error {
	if len(ops) < 1 || len(ops) > MaxOperators {
		return fmt.Errorf("%w: %d operators, want 1 to %d", ErrRule, len(ops), MaxOperators)
	}
	if quorum < 1 || quorum > len(ops) {
		return fmt.Errorf("%w: quorum %d of %d operators", ErrRule, quorum, len(ops))
	}
	names := make(map[string]bool, len(ops))
	keys := make(map[string]bool, len(ops))
	for _, op := range ops {
		if !operatorName.MatchString(op.Name) {
			return fmt.Errorf("%w: operator name %q is not allowed", ErrRule, op.Name)
		}
		if len(op.Key) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: operator %s: key is %d bytes, want %d", ErrRule, op.Name, len(op.Key), ed25519.PublicKeySize)
		}
		if names[op.Name] || keys[string(op.Key)] {
			return fmt.Errorf("%w: operator %s: name or key listed twice", ErrRule, op.Name)
		}
		names[op.Name], keys[string(op.Key)] = true, true
	}
	return nil
}

func checkDevice(d Device) error {
	if len(d.IdentityKey) != ed25519.PublicKeySize || len(d.EncryptionKey) != 32 {
		return fmt.Errorf("%w: device keys are %d and %d bytes, want 32 and 32", ErrRule, len(d.IdentityKey), len(d.EncryptionKey))
	}
	if want := identity.DeviceID(d.IdentityKey); d.ID != want {
		return fmt.Errorf("%w: device id %q does not match its identity key (%s)", ErrRule, d.ID, want)
	}
	if !deviceName.MatchString(d.Name) {
		return fmt.Errorf("%w: device name %q is not allowed", ErrRule, d.Name)
	}
	return nil
}

func cloneOperators(ops []Operator) []Operator {
	if ops == nil {
		return nil
	}
	out := make([]Operator, len(ops))
	for i, op := range ops {
		out[i] = Operator{Name: op.Name, Key: bytes.Clone(op.Key)}
	}
	return out
}

func cloneDevice(d Device) Device {
	d.IdentityKey = bytes.Clone(d.IdentityKey)
	d.EncryptionKey = bytes.Clone(d.EncryptionKey)
	return d
}
