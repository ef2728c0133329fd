// Package party is the device agent: it keeps this device's shares and
// pre-parameters in the encrypted keystore, dials out to the coordinator and
// runs the protocol sessions it is asked to run.
package party

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

const (
	configKey   = "device/config"
	identityKey = "device/identity"
)

// ErrNotEnrolled reports a keystore without an enrolment.
var ErrNotEnrolled = errors.New("party: this data directory is not enrolled yet; run 'party enroll --code CODE' first")

// Config is what the device remembers about its coordinator.
type Config struct {
	DeviceID    string `json:"device_id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	Fingerprint string `json:"fingerprint"`
	// SAS is the short authentication string the operator compares before
	// approving this device; PendingApproval is whether that was needed.
	SAS             string `json:"sas"`
	PendingApproval bool   `json:"pending_approval"`
	// During a rotation of the coordinator's certificate: the next
	// certificate's fingerprint, announced over the pinned link, and when it
	// takes over. Both pins are accepted until a connection sees the next
	// certificate served (pins.go).
	NextFingerprint string    `json:"next_fingerprint,omitempty"`
	NextSwitchAt    time.Time `json:"next_switch_at,omitzero"`
	// RosterGenesis is the hex genesis hash of the operators' roster, pinned
	// from the pairing code (empty: enrolled before the roster existed).
	RosterGenesis string `json:"roster_genesis,omitempty"`
	// Replicas are the coordinator replicas' addresses the last connection
	// announced (comma-separated), dialled after Address's. Address, from
	// the pairing code, is never replaced by them: a coordinator announces
	// only where else to dial.
	Replicas string `json:"replicas,omitempty"`
}

// Options configures an Agent.
type Options struct {
	Store  *keystore.Store
	Logger *slog.Logger
	// PoolTarget is how many pre-parameter sets to keep ready (default 2).
	PoolTarget int
	// Generate makes a pre-parameter set; nil means preparams.Generate.
	Generate func(context.Context) (*preparams.Set, error)
	// MaxBackoff caps the reconnect delay (default 15 s).
	MaxBackoff time.Duration
	// Prompter asks the person at the device about signing requests whose
	// policy is "prompt"; nil refuses them.
	Prompter Prompter
	// CrashAt, when set, is called at each crash point (CrashAfterPending,
	// CrashBeforeSync, CrashAfterSync); crash tests kill the process there.
	CrashAt func(point string)
}

// Crash points of a device in a reshare, for crash tests.
const (
	CrashAfterPending = "party.reshare.after-pending-write"
	CrashBeforeSync   = "party.sync.before-apply"
	CrashAfterSync    = "party.sync.after-apply"
)

func (a *Agent) crashAt(point string) {
	if a.opts.CrashAt != nil {
		a.opts.CrashAt(point)
	}
}

// Agent is a running device.
type Agent struct {
	opts Options
	log  *slog.Logger
	ks   *keystore.Store
	cfg  Config
	id   *identity.Identity
	pool *Pool
	// replay remembers received protocol content (replay.go).
	replay *replayLog
	// tamper makes this device misbehave on purpose. Only the package's
	// tests can set it (export_test.go), for malicious-party tests.
	tamper atomic.Pointer[tamperFunc]
	// decideMu makes a rate-limit check and its decision one step.
	decideMu sync.Mutex
	// lastPrune is when the request log was last pruned (under decideMu).
	lastPrune time.Time
	// recordSeq tells apart records written in the same nanosecond.
	recordSeq atomic.Uint64
	// pinMu guards cfg's certificate pins, which a rotation changes (pins.go).
	pinMu sync.Mutex
	// live is what 'party status' shows of the running agent (status.go).
	live liveState
	// work counts running sessions and refuses new ones while draining (drain.go).
	work workTracker
	// roster is the verified roster (roster.go).
	roster rosterView
	// replicas picks the coordinator replica to dial (replicas.go).
	replicas replicaDialer
}

// tamperFunc returns the payloads to send in place of one outgoing protocol
// message (none drops it; several are sent as separate messages).
type tamperFunc func(msgType, to string, payload []byte) [][]byte

// LoadConfig reads the enrolment from the keystore.
func LoadConfig(ks *keystore.Store) (Config, error) {
	var c Config
	b, err := ks.Get(configKey)
	if errors.Is(err, keystore.ErrNotFound) {
		return c, ErrNotEnrolled
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("party: device config: %w", keystore.ErrTampered)
	}
	return c, nil
}

// New loads the device from its keystore.
func New(opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.PoolTarget <= 0 {
		opts.PoolTarget = 2
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 15 * time.Second
	}
	cfg, err := LoadConfig(opts.Store)
	if err != nil {
		return nil, err
	}
	b, err := opts.Store.Get(identityKey)
	if err != nil {
		return nil, fmt.Errorf("party: load identity: %w", err)
	}
	id, err := identity.Unmarshal(b)
	clear(b)
	if err != nil {
		return nil, err
	}
	a := &Agent{opts: opts, log: opts.Logger, ks: opts.Store, cfg: cfg, id: id, replay: newReplayLog(opts.Store)}
	if f := maliciousTamper(opts.Logger); f != nil { // -tags malicious only (malicious_on.go)
		a.tamper.Store(f)
	}
	if g, ok := a.pinnedGenesis(); ok {
		if a.roster.state, err = loadRoster(opts.Store, g); err != nil {
			return nil, err
		}
	} else if cfg.RosterGenesis != "" {
		return nil, fmt.Errorf("party: device config: bad roster genesis: %w", keystore.ErrTampered)
	}
	a.pool = NewPool(opts.Store, opts.PoolTarget, opts.Logger, opts.Generate)
	return a, nil
}

// Config returns the device's enrolment.
func (a *Agent) Config() Config {
	a.pinMu.Lock()
	defer a.pinMu.Unlock()
	return a.cfg
}

// Pool is the agent's pre-parameter pool.
func (a *Agent) Pool() *Pool { return a.pool }

// Run fills the pre-parameter pool and keeps a link to the coordinator,
// reconnecting with jittered backoff, until ctx ends. It returns an error
// only when the coordinator refuses this device for good (unknown, revoked).
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); a.pool.Fill(ctx) }()
	defer func() { cancel(); <-poolDone }()

	backoff := 250 * time.Millisecond
	waiting := false
	for ctx.Err() == nil {
		connected, err := a.connectOnce(ctx)
		a.live.down(err, ctx.Err() != nil)
		if ctx.Err() != nil {
			return nil
		}
		soon := a.replicas.ended(a.address(), connected, err)
		if st, ok := status.FromError(err); ok && (st.Code() == codes.PermissionDenied || st.Code() == codes.Unauthenticated) {
			return fmt.Errorf("coordinator refused this device: %s", st.Message())
		}
		if connected {
			backoff = 250 * time.Millisecond
		}
		delay := jittered(backoff)
		if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
			// Waiting for the operator: check again soon, and say what to compare.
			delay = time.Second
			if !waiting {
				a.log.Info("waiting for the operator to approve this device; its short authentication string is "+a.cfg.SAS, "device", a.cfg.Name)
				waiting = true
			}
		} else if soon {
			// Another replica (the active one a standby named, or the next
			// address) is dialled next, without backing off.
			delay = min(delay, time.Second)
			a.log.Info("coordinator replica unavailable; dialling the next one", "err", errText(err), "in", delay.Round(time.Millisecond))
		} else if pe := (*PinError)(nil); errors.As(err, &pe) {
			a.log.Error(pe.Error(), "in", delay.Round(time.Millisecond))
		} else {
			a.log.Warn("link to coordinator down; reconnecting", "err", errText(err), "in", delay.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		backoff = nextBackoff(backoff, a.opts.MaxBackoff)
	}
	return nil
}

// jittered is a reconnect delay: a random point in the upper half of
// backoff, so that devices cut off together do not all dial back at once.
func jittered(backoff time.Duration) time.Duration {
	return backoff/2 + rand.N(backoff/2+1)
}

// nextBackoff doubles the reconnect backoff up to limit.
func nextBackoff(backoff, limit time.Duration) time.Duration {
	return min(2*backoff, limit)
}

func errText(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Code().String() + ": " + st.Message()
	}
	return err.Error()
}

// shareStore adapts the keystore to what a session needs.
type shareStore struct {
	ks    *keystore.Store
	crash func(string)
}

func (s shareStore) load(keyID string, epoch uint64) (*Share, error) {
	return loadCurrent(s.ks, keyID, epoch)
}
func (s shareStore) loadPending(keyID string, epoch uint64) (*Share, error) {
	return loadPendingShare(s.ks, keyID, epoch)
}
func (s shareStore) has(keyID string, epoch uint64) (bool, error) {
	return hasEpoch(s.ks, keyID, epoch)
}
func (s shareStore) dropPending(keyID string, epoch uint64) error {
	return dropPendingShare(s.ks, keyID, epoch)
}
func (s shareStore) save(rec shareRecord) error {
	if err := saveShare(s.ks, rec); err != nil {
		return err
	}
	if rec.Meta.State == SharePending && s.crash != nil {
		s.crash(CrashAfterPending)
	}
	return nil
}

// Shares lists the shares this device holds.
func (a *Agent) Shares() ([]ShareMeta, error) { return ListShares(a.ks) }

// applySync finishes the reshare steps the coordinator reports: on a
// verified commit certificate when the device pins a roster (sync.go),
// otherwise on the coordinator's word (applyKeyState). A key this device
// has no record of is skipped. Refusals are reported through refuse.
func (a *Agent) applySync(ks *mpcv1.KeySync, refuse func(keyID, reason string)) {
	for _, k := range ks.GetKeys() {
		if k.GetKeyId() == "" || len(k.GetKeyId()) > 64 {
			continue
		}
		// The crash points fire only for a state that changes this device's
		// shares (not for every connect-time sync).
		var res SyncResult
		var err error
		if a.cfg.RosterGenesis != "" {
			var refused string
			res, refused, err = a.applyCertified(k, func() { a.crashAt(CrashBeforeSync) })
			if refused != "" {
				a.log.Error("refused the coordinator's key state: no erasure or promotion without a valid commit certificate", "key", k.GetKeyId(), "reason", refused)
				if refuse != nil {
					refuse(k.GetKeyId(), refused)
				}
				continue
			}
		} else {
			res, err = applyKeyStateWith(a.ks, KeyState{KeyID: k.GetKeyId(), Committed: k.GetCommittedEpoch(), Next: k.GetNextEpoch(), InFlight: k.GetInFlightEpoch()},
				func() { a.crashAt(CrashBeforeSync) })
		}
		if err == nil && len(res.Promoted)+len(res.Erased)+len(res.Dropped) > 0 {
			a.crashAt(CrashAfterSync)
		}
		if err != nil {
			a.log.Warn("could not apply the coordinator's key state", "key", k.GetKeyId(), "err", err)
			continue
		}
		for _, e := range res.Promoted {
			a.log.Info("new key share committed", "key", k.GetKeyId(), "epoch", e)
		}
		for _, e := range res.Erased {
			a.log.Info("retired key share erased", "key", k.GetKeyId(), "epoch", e)
		}
		for _, e := range res.Dropped {
			a.log.Info("pending key share of an abandoned reshare dropped", "key", k.GetKeyId(), "epoch", e)
		}
	}
}

// restoreAnswer applies the coordinator's answer about a restored share.
func (a *Agent) restoreAnswer(ans *mpcv1.RestoreAnswer) {
	changed, err := applyRestoreAnswer(a.ks, ans)
	if err != nil {
		a.log.Warn("could not apply the coordinator's answer about a restored share", "key", ans.GetKeyId(), "err", err)
		return
	}
	switch ans.GetState() {
	case mpcv1.RestoreState_RESTORE_STATE_PENDING:
		a.log.Info("restored share waits for the operator: mpcctl devices approve "+a.cfg.Name+" --restore "+ans.GetKeyId(), "key", ans.GetKeyId(), "epoch", ans.GetEpoch())
	case mpcv1.RestoreState_RESTORE_STATE_BOUND:
		if changed {
			a.log.Info("restored share bound to this device; it signs now (a drill is recommended)", "key", ans.GetKeyId(), "epoch", ans.GetEpoch())
		}
	case mpcv1.RestoreState_RESTORE_STATE_REFUSED:
		a.log.Error("restored share refused by the coordinator and deleted", "key", ans.GetKeyId(), "epoch", ans.GetEpoch(), "reason", ans.GetReason())
	}
}
