package party

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// PolicyMode says what a device does with a signing request.
type PolicyMode string

const (
	// PolicyAuto signs without asking (within the limits).
	PolicyAuto PolicyMode = "auto"
	// PolicyPrompt asks the person at the device and waits for an answer.
	PolicyPrompt PolicyMode = "prompt"
	// PolicyDeny refuses every signature.
	PolicyDeny PolicyMode = "deny"
)

// Policy is a device's approval policy for one key (or all keys).
type Policy struct {
	Mode PolicyMode `json:"mode"`
	// MaxPerHour caps signatures approved in any hour (0: no cap).
	MaxPerHour int `json:"max_per_hour,omitempty"`
	// Requesters, when set, are the only requesters allowed to ask: on a
	// device that pins a roster, names of requesters on the roster (whose
	// signed request the device verified); on a device without one, API
	// token names as the coordinator reports them.
	Requesters []string `json:"requesters,omitempty"`
}

// AllKeys names the default policy, used for keys without their own.
const AllKeys = "*"

const (
	policyPrefix   = "policy/"
	decisionPrefix = "approvals/"
	signedPrefix   = "signed/"
)

// ErrBadPolicy reports an invalid policy.
var ErrBadPolicy = errors.New("party: invalid policy")

// Validate checks a policy.
func (p Policy) Validate() error {
	switch p.Mode {
	case PolicyAuto, PolicyPrompt, PolicyDeny:
	default:
		return fmt.Errorf("%w: mode must be auto, prompt or deny", ErrBadPolicy)
	}
	if p.MaxPerHour < 0 {
		return fmt.Errorf("%w: max per hour must not be negative", ErrBadPolicy)
	}
	return nil
}

// SetPolicy stores the policy for keyID (or AllKeys).
func SetPolicy(ks *keystore.Store, keyID string, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return ks.Put(policyPrefix+keyID, b)
}

// PolicyFor returns the policy that applies to keyID: its own, else the
// default, else auto.
func PolicyFor(ks *keystore.Store, keyID string) (Policy, error) {
	for _, k := range []string{keyID, AllKeys} {
		b, err := ks.Get(policyPrefix + k)
		if errors.Is(err, keystore.ErrNotFound) {
			continue
		}
		if err != nil {
			return Policy{}, err
		}
		var p Policy
		if err := json.Unmarshal(b, &p); err != nil || p.Validate() != nil {
			return Policy{}, fmt.Errorf("party: policy record %s: %w", k, keystore.ErrTampered)
		}
		return p, nil
	}
	return Policy{Mode: PolicyAuto}, nil
}

// SignRequest is what the device is asked to approve: a signature, or (when
// Reshare is set) a reshare or drill of the key.
type SignRequest struct {
	KeyID  string
	Digest []byte // secp256k1
	// Message is what an Ed25519 signature covers.
	Message []byte
	// Path is a secp256k1 signature's BIP32 derivation path, if any.
	Path string
	// Requester is who asked: on a device that pins a roster, the name of
	// the requester whose signed request the device verified; else the API
	// token's name as the coordinator reports it.
	Requester string
	Reshare   *ReshareRequest
	// Signed is the wallet's signed request and Item which of its items
	// this session signs (roster mode).
	Signed *mpcv1.SignedRequest
	Item   int
}

// What describes what is to be signed, for a person and the local log.
func (r SignRequest) What() string {
	w := "digest " + hex.EncodeToString(r.Digest)
	if len(r.Message) > 0 {
		sum := sha256.Sum256(r.Message)
		preview := r.Message[:min(len(r.Message), 48)]
		w = fmt.Sprintf("message of %d bytes starting %x (SHA-256 %x)", len(r.Message), preview, sum)
	}
	if r.Path != "" {
		w += " with derived key " + r.Path
	}
	return w
}

// ReshareRequest describes a reshare a device is asked to take part in.
type ReshareRequest struct {
	OldCommittee, NewCommittee []string // device ids
	NewThreshold               int
	NewEpoch                   uint64
}

// Prompter asks the person at the device. It returns false on a refusal,
// and an error when nobody answered.
type Prompter interface {
	Ask(ctx context.Context, req SignRequest) (bool, error)
}

// Decision is one entry of the device's local approval log.
type Decision struct {
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"`
	Digest    string    `json:"digest"`
	Requester string    `json:"requester"`
	Approved  bool      `json:"approved"`
	Reason    string    `json:"reason"`
	Kind      string    `json:"kind,omitempty"` // "" for a signature, "reshare"
	// RequestID is the signed request's id (roster mode).
	RequestID string `json:"request_id,omitempty"`
}

// Decisions lists the device's approval log, oldest first.
func Decisions(ks *keystore.Store) ([]Decision, error) {
	keys, err := ks.List(decisionPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, 0, len(keys))
	for _, k := range keys {
		b, err := ks.Get(k)
		if err != nil {
			return nil, err
		}
		var d Decision
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("party: approval record %s: %w", k, keystore.ErrTampered)
		}
		out = append(out, d)
	}
	return out, nil
}

// maxReason bounds a decision's recorded reason (which may quote what the
// coordinator sent).
const maxReason = 512

// promptTimeout bounds how long a request waits for the person at the device.
const promptTimeout = 30 * time.Second

// decide applies the policy to a signing request and records the decision;
// log is the session's logger.
// The device enforces it itself: whatever the coordinator asks, a refused
// request never reaches tss-lib. On a device that pins a roster a signing
// request must carry a signed request that the device verifies first
// (authenticate); an approved signature counts against the limits at once.
func (a *Agent) decide(ctx context.Context, log *slog.Logger, req SignRequest) (approved bool, reason string, err error) {
	a.decideMu.Lock() // a rate-limit check and its record are one step
	defer a.decideMu.Unlock()
	p, err := PolicyFor(a.ks, req.KeyID)
	if err != nil {
		return false, "", err
	}
	now := time.Now()
	a.pruneRequests(now)
	var auth *requestAuth
	if req.Reshare == nil && a.cfg.RosterGenesis != "" {
		auth, reason = a.authenticate(req, now)
		// Only a verified requester is named: what the coordinator says
		// is not recorded as if it were.
		req.Requester = "(not verified)"
		if auth != nil {
			req.Requester = auth.requester.Name
		}
	}
	if reason == "" {
		approved, reason = a.evaluate(ctx, p, req, auth)
	}
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "..."
	}
	d := Decision{Time: now.UTC(), KeyID: req.KeyID, Digest: hex.EncodeToString(req.Digest), Requester: req.Requester, Approved: approved, Reason: reason}
	if len(req.Message) > 0 || req.Path != "" {
		d.Digest = req.What()
	}
	if auth != nil {
		d.RequestID = auth.body.RequestID
	}
	if req.Reshare != nil {
		d.Kind = "reshare"
		d.Digest = fmt.Sprintf("to epoch %d: %d-of-%d on %s", req.Reshare.NewEpoch, req.Reshare.NewThreshold+1, len(req.Reshare.NewCommittee), strings.Join(req.Reshare.NewCommittee, ","))
	}
	b, err := json.Marshal(d)
	if err != nil {
		return false, "", err
	}
	// The decision, and what an approval counts, are on disk before the
	// decision is acted on.
	err = a.ks.Update(func(tx *keystore.Txn) error {
		if err := tx.Put(fmt.Sprintf("%s%020d-%d", decisionPrefix, d.Time.UnixNano(), a.recordSeq.Add(1)), b); err != nil {
			return err
		}
		if approved && req.Reshare == nil {
			return a.recordApproval(tx, req, auth, now)
		}
		return nil
	})
	if err != nil {
		return false, "", err
	}
	log.Info("request decided", "kind", d.Kind, "key", req.KeyID, "requester", req.Requester, "approved", approved, "reason", reason)
	return approved, reason, nil
}

func (a *Agent) evaluate(ctx context.Context, p Policy, req SignRequest, auth *requestAuth) (bool, string) {
	if req.Reshare != nil {
		// A reshare hands the key to a new committee: "deny" refuses it and
		// "prompt" asks the person; the signing limits do not apply.
		switch p.Mode {
		case PolicyDeny:
			return false, "this device's policy denies resharing this key"
		case PolicyPrompt:
			return a.ask(ctx, req)
		}
		return true, "approved by policy"
	}
	if p.Mode == PolicyDeny {
		return false, "this device's policy denies signing with this key"
	}
	if len(p.Requesters) > 0 && !slices.Contains(p.Requesters, req.Requester) {
		return false, fmt.Sprintf("requester %q is not allowed by this device's policy", req.Requester)
	}
	// A retried session of an item already approved was counted then, and
	// its person (if asked) approved exactly this.
	if a.counted(req, auth) {
		return true, "approved before (a retried session of the same request)"
	}
	hourAgo := time.Now().Add(-time.Hour)
	if p.MaxPerHour > 0 {
		n, err := a.countSince(signedPrefix, req.KeyID, hourAgo)
		if err != nil {
			return false, "could not read the approval log"
		}
		if n >= p.MaxPerHour {
			return false, fmt.Sprintf("this device's limit of %d signatures per hour for this key is reached", p.MaxPerHour)
		}
	}
	if auth != nil && auth.requester.MaxPerHour > 0 {
		n, err := a.countSince(signedByPrefix, auth.requester.ID, hourAgo)
		if err != nil {
			return false, "could not read the approval log"
		}
		if n >= auth.requester.MaxPerHour {
			return false, fmt.Sprintf("requester %s's limit of %d signatures per hour (set on the roster) is reached on this device", auth.requester.Name, auth.requester.MaxPerHour)
		}
	}
	if p.Mode == PolicyPrompt {
		return a.ask(ctx, req)
	}
	return true, "approved by policy"
}

func (a *Agent) ask(ctx context.Context, req SignRequest) (bool, string) {
	if a.opts.Prompter == nil {
		return false, "this device's policy asks its person, and nobody can be asked"
	}
	pctx, cancel := context.WithTimeout(ctx, promptTimeout)
	defer cancel()
	ok, err := a.opts.Prompter.Ask(pctx, req)
	switch {
	case err != nil:
		return false, "nobody answered at the device in time"
	case !ok:
		return false, "the person at the device refused"
	}
	return true, "approved by the person at the device"
}
