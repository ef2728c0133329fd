package coordinator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

const maxRequestID = 128

// maxBatch is the most items one Sign call may carry; batchParallel, how
// many of them run at once (each is a session on every signing device,
// which runs a bounded number at a time).
const (
	maxBatch      = sigfmt.MaxBatch
	batchParallel = 8
)

// signItem is one thing to sign: a digest (secp256k1) or a message
// (Ed25519), with the key's derivation path if any.
type signItem struct {
	digest  []byte
	message []byte
	path    string
	// testNonce: a reshare's test signature with the pending shares of the
	// key's (new) epoch; the digest is resharing.TestDigest of it.
	testNonce []byte
	// signed is the wallet's signed request (passed to the devices
	// unchanged) and item this item's index in it.
	signed *mpcv1.SignedRequest
	item   uint32
	// requester is the signed request's requester, for the audit log.
	requester string
}

// what describes an item for the audit log (a message by its hash).
func (it signItem) what() string {
	w := fmt.Sprintf("digest %x", it.digest)
	if it.message != nil {
		w = fmt.Sprintf("message sha256 %x (%d bytes)", messageHash(it.message), len(it.message))
	}
	if it.path != "" {
		w += " path " + it.path
	}
	return w
}

func messageHash(m []byte) []byte {
	h := sha256.Sum256(m)
	return h[:]
}

// signature is a verified signature and the key it verifies under (the
// derived key, with a path).
type signature struct {
	ecdsa *sigfmt.ECDSA
	ed    []byte // Ed25519 R || S
	pub   []byte
}

// Sign signs a digest (secp256k1) or a message (Ed25519), or a batch of them.
func (s *Server) Sign(ctx context.Context, req *mpcv1.SignRequest) (*mpcv1.SignResponse, error) {
	if s.draining.Load() {
		return nil, ErrShuttingDown
	}
	if len(req.GetRequestId()) > maxRequestID {
		return nil, invalidArg("request_id is at most %d bytes", maxRequestID)
	}
	// A lone digest is checked before an unknown key is reported (no message
	// or batch means a secp256k1 digest); an Ed25519 key's request is checked
	// by signItems, which speaks of its message.
	k, err := s.getKey(req.GetKeyId())
	if (err != nil || !k.IsEd25519()) && len(req.GetMessage()) == 0 && len(req.GetMessages()) == 0 && len(req.GetDigests()) == 0 && len(req.GetDigest()) != 32 {
		return nil, invalidArg("digest must be exactly 32 bytes, got %d (an Ed25519 key signs a message instead)", len(req.GetDigest()))
	}
	if err != nil {
		return nil, err
	}
	items, batch, err := signItems(k, req)
	if err != nil {
		return nil, err
	}
	sr, err := s.checkSigned(k, req, items)
	if err != nil {
		return nil, err
	}
	requestID := req.GetRequestId()
	if sr != nil {
		withSigned(items, sr)
		for i := range items {
			items[i].requester = sr.name
			if sr.name == "" {
				items[i].requester = sr.body.Requester
			}
		}
		requestID = sr.idempotencyKey()
	}
	if compromisedSkipRequestChecks() {
		requestID = "" // test-only attacker: straight to the devices
	}
	if !batch {
		return s.signOne(ctx, k, items[0], requestID)
	}
	// A batch runs one session per item at once; each item's outcome is
	// reported in its place, a failure never hides the others' signatures.
	out := &mpcv1.SignResponse{KeyId: k.ID, Curve: curveProto(k), Path: items[0].path, Results: make([]*mpcv1.SignResult, len(items))}
	var wg sync.WaitGroup
	slots := make(chan struct{}, batchParallel)
	for i, it := range items {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			res := &mpcv1.SignResult{Index: uint32(i)}
			out.Results[i] = res
			defer func() {
				// This goroutine is outside the gRPC interceptor's recover.
				if p := recover(); p != nil {
					s.log.Error("panic in a batch item", "key", k.ID, "index", i, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					res.Signature, res.ErrorCode, res.ErrorMessage = nil, "INTERNAL", "internal error (see the coordinator's log)"
				}
			}()
			id := ""
			if requestID != "" {
				id = requestID + "/" + strconv.Itoa(i)
			}
			r, err := s.signOne(ctx, k, it, id)
			if err != nil {
				st, internal := publicStatus(err)
				if internal {
					s.log.Error("internal error", "method", "Sign (batch item)", "key", k.ID, "index", i, "err", err)
				}
				res.ErrorCode, res.ErrorMessage = strings.ToUpper(strcase(st.Code().String())), st.Message()
			} else {
				res.Signature = r
			}
		})
	}
	wg.Wait()
	return out, nil
}

// strcase turns a gRPC code name ("FailedPrecondition") into its canonical
// form's words ("Failed_Precondition").
func strcase(code string) string {
	var b strings.Builder
	for i, r := range code {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// signItems checks the request's shape against the key and returns its
// items. Item contents (a digest's length) are checked per item, so that a
// bad item of a batch fails alone.
func signItems(k Key, req *mpcv1.SignRequest) (items []signItem, batch bool, err error) {
	path := req.GetPath()
	if path != "" {
		if k.IsEd25519() {
			return nil, false, invalidArg("derivation paths are for secp256k1 keys; key %s is Ed25519", k.ID)
		}
		steps, err := hd.ParsePath(path)
		if err != nil {
			return nil, false, invalidArg("path: %v", err)
		}
		if len(steps) == 0 {
			return nil, false, invalidArg("path %q names the root key: sign without a path", path)
		}
		path = hd.FormatPath(steps) // one spelling for the audit log and request ids
		if len(k.ChainCode) != 32 {
			return nil, false, failedPrecondition("key %s has no chain code (it was made before derivation existed): it cannot sign with a path", k.ID)
		}
	} else if k.DerivationOnly {
		return nil, false, failedPrecondition("key %s is derivation-only: its root key never signs; give a path", k.ID)
	}
	one, many := req.GetDigest(), req.GetDigests()
	if k.IsEd25519() {
		if len(one) > 0 || len(many) > 0 {
			return nil, false, invalidArg("key %s is Ed25519: send the message itself (message or messages), not a digest", k.ID)
		}
		one, many = req.GetMessage(), req.GetMessages()
	} else if len(req.GetMessage()) > 0 || len(req.GetMessages()) > 0 {
		return nil, false, invalidArg("key %s is secp256k1: send a 32-byte digest (digest or digests), not a message", k.ID)
	}
	switch {
	case len(one) > 0 && len(many) > 0:
		return nil, false, invalidArg("give one item or a batch, not both")
	case len(many) > maxBatch:
		return nil, false, invalidArg("a batch has at most %d items, got %d", maxBatch, len(many))
	case len(many) > 0:
		for _, b := range many {
			items = append(items, newSignItem(k, b, path))
		}
		return items, true, nil
	}
	it := newSignItem(k, one, path)
	return []signItem{it}, false, checkItem(it)
}

func newSignItem(k Key, b []byte, path string) signItem {
	if k.IsEd25519() {
		if b == nil {
			b = []byte{} // an empty message is still a message (refused by checkItem)
		}
		return signItem{message: b, path: path}
	}
	return signItem{digest: b, path: path}
}

func checkItem(it signItem) error {
	if it.message != nil {
		if n := len(it.message); n == 0 || n > sigfmt.MaxMessage {
			return invalidArg("message must be 1 to %d bytes, got %d", sigfmt.MaxMessage, n)
		}
		return nil
	}
	if len(it.digest) != 32 {
		return invalidArg("digest must be exactly 32 bytes, got %d", len(it.digest))
	}
	return nil
}

// retryReserve is the most of a signature's deadline kept back for a retry
// with another subset of devices, while one could follow.
const retryReserve = 15 * time.Second

// attemptContext bounds one signing attempt. When a retry with another
// subset could follow, the attempt leaves half of what remains of ctx's
// deadline, at most retryReserve, for it: a device that stalls without
// disconnecting is then blamed by the others (tss-lib's WaitingFor) in time
// for the retry, instead of using up the whole deadline.
func attemptContext(ctx context.Context, canRetry bool) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !canRetry || !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(deadline)
	return context.WithDeadline(ctx, deadline.Add(-min(left/2, retryReserve)))
}

// signOne signs one item, with its idempotency key if any.
func (s *Server) signOne(ctx context.Context, k Key, it signItem, requestID string) (*mpcv1.SignResponse, error) {
	if err := checkItem(it); err != nil {
		return nil, err
	}
	if requestID != "" {
		// One signing session per request id at a time: a retry that arrives
		// while the first call still runs waits for it instead of signing again.
		release := s.inflight.acquire(requestID)
		defer release()
		if rec, err := s.store.GetSignResult(requestID); err == nil {
			return s.replay(k, it, rec)
		} else if !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
	}

	// Hold the key's gate so that a reshare's commit never erases the epoch
	// this signature uses; read the key again under it.
	g := s.gates.get(k.ID)
	g.rw.RLock()
	defer g.rw.RUnlock()
	k, err := s.getKey(k.ID)
	if err != nil {
		return nil, err
	}
	// The key may have been marked derivation-only since signItems looked
	// (a batch item waits for its turn, a retry for the first call): the
	// mark applies from the moment it is set.
	if it.path == "" && k.DerivationOnly {
		return nil, failedPrecondition("key %s is derivation-only: its root key never signs; give a path", k.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.SignTimeout)
	defer cancel()
	out, err := s.signWithKey(ctx, k, it)
	sig, signers := out.sig, out.signers
	entry := auditlog.Entry{Action: "sign", KeyID: k.ID, Detail: it.what()}
	if it.requester != "" {
		entry.Detail += " signed by requester " + it.requester
	}
	if requestID != "" {
		entry.Detail += " request " + strconv.Quote(requestID)
	}
	if err != nil {
		return nil, s.auditFailure(ctx, entry, err)
	}
	entry.Devices = names(signers)
	rec := SignRecord{KeyID: k.ID, Digest: it.digest, Path: it.path, Signers: names(signers), At: s.opts.Now()}
	if sig.ed != nil {
		rec.Digest, rec.Signature = messageHash(it.message), sig.ed
	} else {
		rec.R, rec.S = sig.ecdsa.R[:], sig.ecdsa.S[:]
	}
	// No signature leaves without its audit entry. With a request id the
	// entry is written with the stored result, in one transaction, so the
	// chain holds one entry per request id however often it is retried
	// (on any replica).
	if requestID == "" {
		if err := s.audit(ctx, entry); err != nil {
			return nil, err
		}
	} else {
		e := s.auditEntry(ctx, entry)
		stored, err := s.store.PutSignResult(requestID, rec, &e)
		if err != nil {
			s.log.Error("could not store the signature with its audit entry; refusing it", "request", requestID, "err", err)
			return nil, fmt.Errorf("store the signature: %w", err)
		}
		if !bytes.Equal(stored.R, rec.R) || !bytes.Equal(stored.S, rec.S) || !bytes.Equal(stored.Signature, rec.Signature) {
			return s.replay(k, it, stored) // a concurrent call with the same id won
		}
		s.metrics.audited(e.Seq)
	}
	s.log.Info("signed", "session", out.session, "key", k.ID, "signers", rec.Signers, "path", it.path)
	return signResponse(k, it, sig, rec.Signers, false), nil
}

func (s *Server) replay(k Key, it signItem, rec SignRecord) (*mpcv1.SignResponse, error) {
	want := it.digest
	if it.message != nil {
		want = messageHash(it.message)
	}
	if rec.KeyID != k.ID || !bytes.Equal(rec.Digest, want) || rec.Path != it.path {
		return nil, &clientError{codes.AlreadyExists, "request_id was already used for a different key, digest, message or path"}
	}
	pub := k.PublicKey
	if it.path != "" {
		path, err := hd.ParsePath(it.path)
		if err != nil {
			return nil, invalidArg("path: %v", err)
		}
		d, err := hd.Derive(k.PublicKey, k.ChainCode, path)
		if err != nil {
			return nil, err
		}
		pub = d.PublicKey
	}
	sig, err := verify(k, it, pub, rec.R, rec.S, rec.Signature)
	if err != nil {
		return nil, fmt.Errorf("stored signature for request id does not verify: %w", err)
	}
	return signResponse(k, it, sig, rec.Signers, true), nil
}

// verify checks a signature from a device (or the store) under pub.
func verify(k Key, it signItem, pub, r, sv, ed []byte) (*signature, error) {
	if k.IsEd25519() {
		if err := sigfmt.FinishEd25519(pub, it.message, ed); err != nil {
			return nil, err
		}
		return &signature{ed: ed, pub: pub}, nil
	}
	sig, err := sigfmt.FinishECDSA(pub, it.digest, r, sv)
	if err != nil {
		return nil, err
	}
	return &signature{ecdsa: sig, pub: pub}, nil
}

func signResponse(k Key, it signItem, sig *signature, signers []string, replayed bool) *mpcv1.SignResponse {
	out := &mpcv1.SignResponse{
		KeyId:     k.ID,
		Curve:     curveProto(k),
		PublicKey: sig.pub,
		Path:      it.path,
		Signers:   signers,
		Replayed:  replayed,
	}
	if sig.ed != nil {
		out.Signature = sig.ed
		return out
	}
	out.R, out.S, out.V = sig.ecdsa.R[:], sig.ecdsa.S[:], uint32(sig.ecdsa.V)
	out.SignatureRsv, out.SignatureDer = sig.ecdsa.RSV[:], sig.ecdsa.DER
	return out
}

// signOnce runs one signing session and checks its result under pub. It
// returns the session's log id too, failed or not.
func (s *Server) signOnce(ctx context.Context, k Key, it signItem, pub []byte, signers []Device) (*signature, string, error) {
	res, err := s.sessions.Run(ctx, &mpcv1.SessionStart{
		Requester:      requester(ctx),
		Kind:           mpcv1.SessionKind_SESSION_KIND_SIGN,
		Curve:          curveProto(k),
		KeyId:          k.ID,
		Epoch:          k.Epoch,
		Threshold:      uint32(k.Threshold),
		Digest:         it.digest,
		Message:        it.message,
		DerivationPath: it.path,
		TestNonce:      it.testNonce,
		Request:        it.signed,
		RequestItem:    it.item,
	}, signers, &k)
	if err != nil {
		return nil, res.ID, err
	}
	// Every signer computes the full signature; accept the first that
	// verifies against the (derived) public key.
	for _, r := range res.Results {
		if sig, err := verify(k, it, pub, r.GetR(), r.GetS(), r.GetSignature()); err == nil {
			return sig, res.ID, nil
		}
	}
	return nil, res.ID, &SessionError{Kind: "sign", Reason: "no device returned a signature that verifies against the key"}
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

// strike counts a signing abort blamed on d in session, for the reason why
// (proven blame, or the common-member rule): each strike is audited; the one that
// pauses d for the key is logged, audited and counted in the metrics too.
func (s *Server) strike(ctx context.Context, session string, k Key, d Device, why string) {
	actx := withSystemActor(context.WithoutCancel(ctx), "abuse control")
	if err := s.audit(actx, auditlog.Entry{Action: "device.strike", KeyID: k.ID, Devices: []string{d.Name}, Culprits: []string{d.Name}, Result: "ok", Detail: why}); err != nil {
		s.log.Warn("could not audit a strike", "session", session, "key", k.ID, "err", err)
	}
	if !s.strikes.blame(k.ID, d.ID, s.opts.Now()) {
		return
	}
	s.log.Warn("device paused for a key after repeated aborts blamed on it", "session", session, "key", k.ID, "device", d.Name, "for", pauseFor)
	s.metrics.devicePaused(d.Name)
	e := auditlog.Entry{Action: "device.pause", KeyID: k.ID, Devices: []string{d.Name}, Result: "ok",
		Detail: fmt.Sprintf("not picked to sign with this key for %s after %d aborts in a row blamed on it", pauseFor, maxStrikes)}
	if err := s.audit(actx, e); err != nil {
		s.log.Warn("could not audit a device pause", "session", session, "key", k.ID, "err", err)
	}
}
