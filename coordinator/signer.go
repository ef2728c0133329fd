package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

const maxRequestID = 128

// Sign signs a 32-byte digest with a threshold key.
func (s *Server) Sign(ctx context.Context, req *mpcv1.SignRequest) (*mpcv1.SignResponse, error) {
	if s.draining.Load() {
		return nil, ErrShuttingDown
	}
	if len(req.GetDigest()) != 32 {
		return nil, invalidArg("digest must be exactly 32 bytes, got %d", len(req.GetDigest()))
	}
	if len(req.GetRequestId()) > maxRequestID {
		return nil, invalidArg("request_id is at most %d bytes", maxRequestID)
	}
	k, err := s.getKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	if id := req.GetRequestId(); id != "" {
		// One signing session per request id at a time: a retry that arrives
		// while the first call still runs waits for it instead of signing again.
		release := s.inflight.acquire(id)
		defer release()
		if rec, err := s.store.GetSignResult(id); err == nil {
			return s.replay(k, req, rec)
		} else if !errors.Is(err, errStoreNotFound) {
			return nil, err
		}
	}

	// Hold the key's gate so that a reshare's commit never erases the epoch
	// this signature uses; read the key again under it.
	g := s.gates.get(k.ID)
	g.rw.RLock()
	defer g.rw.RUnlock()
	if k, err = s.getKey(k.ID); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.SignTimeout)
	defer cancel()
	sig, signers, err := s.signWithKey(ctx, k, req.GetDigest())
	entry := auditlog.Entry{Action: "sign", KeyID: k.ID, Detail: fmt.Sprintf("digest %x", req.GetDigest())}
	if req.GetRequestId() != "" {
		entry.Detail += " request " + strconv.Quote(req.GetRequestId())
	}
	if err != nil {
		return nil, s.auditFailure(ctx, entry, err)
	}
	entry.Devices = names(signers)
	if err := s.audit(ctx, entry); err != nil {
		return nil, err // no signature leaves without its audit entry
	}
	rec := SignRecord{KeyID: k.ID, Digest: req.GetDigest(), R: sig.R[:], S: sig.S[:], Signers: names(signers), At: s.opts.Now()}
	if id := req.GetRequestId(); id != "" {
		stored, err := s.store.PutSignResult(id, rec)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(stored.R, rec.R) || !bytes.Equal(stored.S, rec.S) {
			return s.replay(k, req, stored) // a concurrent call with the same id won
		}
	}
	s.log.Info("signed", "key", k.ID, "signers", rec.Signers)
	return signResponse(k, sig, rec.Signers, false), nil
}

// signWithKey signs digest with t+1 online holders of k's current epoch. A
// device that refuses under its policy is left out and another subset asked,
// while one exists; a session that fails and blames devices is retried once
// without them. All attempts share ctx's deadline.
func (s *Server) signWithKey(ctx context.Context, k Key, digest []byte) (*sigfmt.ECDSA, []Device, error) {
	var err error
	excluded := map[string]bool{}
	var refusals []*PolicyRefusal
	var sig *sigfmt.ECDSA
	var signers []Device
	retried := false
	for attempt := 0; attempt <= len(k.Holders); attempt++ {
		picked, pickErr := s.pickSigners(k, excluded)
		if pickErr != nil {
			if attempt == 0 {
				return nil, nil, pickErr
			}
			break // no other subset: report why the last attempt failed
		}
		signers = picked
		sig, err = s.signOnce(ctx, k, digest, signers)
		if err == nil || ctx.Err() != nil {
			break
		}
		// A device refused under its own policy: ask another subset, as long
		// as one exists (the refusing device is never asked again).
		var pr *PolicyRefusal
		if errors.As(err, &pr) {
			refusals = append(refusals, pr)
			for _, d := range signers {
				if d.Name == pr.Device {
					excluded[d.ID] = true
				}
			}
			continue
		}
		// A device dropped or misbehaved: retry once without it when another subset exists.
		var se *SessionError
		if retried || !errors.As(err, &se) || len(se.Culprits) == 0 {
			break
		}
		retried = true
		for _, d := range signers {
			for _, c := range se.Culprits {
				if d.Name == c {
					excluded[d.ID] = true
					s.strike(ctx, k, d)
				}
			}
		}
		s.log.Info("retrying signature without blamed devices", "key", k.ID, "excluded", se.Culprits)
	}
	if err == nil {
		for _, d := range signers {
			s.strikes.clear(k.ID, d.ID)
		}
	} else if se := (*SessionError)(nil); errors.As(err, &se) && !retried {
		// The last attempt's culprits, when no retry counted them already.
		for _, d := range signers {
			if slices.Contains(se.Culprits, d.Name) {
				s.strike(ctx, k, d)
			}
		}
	}
	if err != nil && len(refusals) > 0 {
		var parts []string
		for _, r := range refusals {
			parts = append(parts, r.Device+" ("+r.Reason+")")
		}
		err = &clientError{codes.PermissionDenied, "not enough devices approved the signature; refused by: " + strings.Join(parts, ", ")}
	}
	return sig, signers, err
}

func (s *Server) replay(k Key, req *mpcv1.SignRequest, rec SignRecord) (*mpcv1.SignResponse, error) {
	if rec.KeyID != k.ID || !bytes.Equal(rec.Digest, req.GetDigest()) {
		return nil, &clientError{codes.AlreadyExists, "request_id was already used for a different key or digest"}
	}
	sig, err := sigfmt.FinishECDSA(k.PublicKey, rec.Digest, rec.R, rec.S)
	if err != nil {
		return nil, fmt.Errorf("stored signature for request id does not verify: %w", err)
	}
	return signResponse(k, sig, rec.Signers, true), nil
}

func signResponse(k Key, sig *sigfmt.ECDSA, signers []string, replayed bool) *mpcv1.SignResponse {
	return &mpcv1.SignResponse{
		KeyId:        k.ID,
		R:            sig.R[:],
		S:            sig.S[:],
		V:            uint32(sig.V),
		SignatureRsv: sig.RSV[:],
		SignatureDer: sig.DER,
		PublicKey:    k.PublicKey,
		Signers:      signers,
		Replayed:     replayed,
	}
}

// pickSigners chooses threshold+1 online, active holders, or says who is missing.
func (s *Server) pickSigners(k Key, excluded map[string]bool) ([]Device, error) {
	need := k.Threshold + 1
	var chosen []Device
	var missing []string
	for _, id := range k.Holders {
		d, err := s.store.GetDevice(id)
		if err != nil {
			missing = append(missing, id+" (unknown)")
			continue
		}
		switch {
		case d.Status != DeviceActive:
			missing = append(missing, d.Name+" ("+string(d.Status)+")")
		case s.links.get(d.ID) == nil:
			missing = append(missing, d.Name+" (offline)")
		case excluded[d.ID]:
			missing = append(missing, d.Name+" (failed the last attempt)")
		case s.isPaused(k.ID, d.ID):
			until, _ := s.strikes.paused(k.ID, d.ID, s.opts.Now())
			missing = append(missing, fmt.Sprintf("%s (paused until %s after %d aborts blamed on it)", d.Name, until.UTC().Format("15:04:05Z"), maxStrikes))
		case len(chosen) < need:
			chosen = append(chosen, d)
		}
	}
	if len(chosen) < need {
		return nil, failedPrecondition("key %s needs %d signers but only %d holders are available; missing: %s",
			k.ID, need, len(chosen), strings.Join(missing, ", "))
	}
	return chosen, nil
}

// signOnce runs one signing session and checks its result.
func (s *Server) signOnce(ctx context.Context, k Key, digest []byte, signers []Device) (*sigfmt.ECDSA, error) {
	results, err := s.sessions.run(ctx, &mpcv1.SessionStart{
		Requester: requester(ctx),
		Kind:      mpcv1.SessionKind_SESSION_KIND_SIGN,
		Curve:     mpcv1.Curve_CURVE_SECP256K1,
		KeyId:     k.ID,
		Epoch:     k.Epoch,
		Threshold: uint32(k.Threshold),
		Digest:    digest,
	}, signers, k.PartyKeyIdentity)
	if err != nil {
		return nil, err
	}
	// Every signer computes the full signature; accept the first that
	// verifies against the key's public key.
	for _, r := range results {
		sig, err := sigfmt.FinishECDSA(k.PublicKey, digest, r.GetR(), r.GetS())
		if err == nil {
			return sig, nil
		}
	}
	return nil, &SessionError{Kind: "sign", Reason: "no device returned a signature that verifies against the key"}
}

// keyedMutex serialises work per key (here: per request id).
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) acquire(key string) (release func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

func (s *Server) isPaused(keyID, deviceID string) bool {
	_, p := s.strikes.paused(keyID, deviceID, s.opts.Now())
	return p
}

// strike counts a signing abort blamed on d; the strike that pauses d for
// the key is logged, audited and counted in the metrics.
func (s *Server) strike(ctx context.Context, k Key, d Device) {
	if !s.strikes.blame(k.ID, d.ID, s.opts.Now()) {
		return
	}
	s.log.Warn("device paused for a key after repeated aborts blamed on it", "key", k.ID, "device", d.Name, "for", pauseFor)
	s.metrics.devicePaused(d.Name)
	e := auditlog.Entry{Action: "device.pause", KeyID: k.ID, Devices: []string{d.Name}, Result: "ok",
		Detail: fmt.Sprintf("not picked to sign with this key for %s after %d aborts in a row blamed on it", pauseFor, maxStrikes)}
	if err := s.audit(withSystemActor(context.WithoutCancel(ctx), "abuse control"), e); err != nil {
		s.log.Warn("could not audit a device pause", "err", err)
	}
}
