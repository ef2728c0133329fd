package party

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/linkio"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// maxSessions bounds the sessions one device runs at once.
const maxSessions = 64

// maxSessionTimeout is the longest a device agrees to spend on one session.
const maxSessionTimeout = 30 * time.Minute

// connectOnce runs one link until it fails. connected tells whether the
// handshake succeeded (used to reset the backoff).
func (a *Agent) connectOnce(ctx context.Context) (connected bool, err error) {
	pins := a.pins()
	seen := &servedCerts{}
	tlsCfg, err := tlspin.ClientConfigSeen(seen.seen, pins...)
	if err != nil {
		return false, err
	}
	addr := a.replicas.pick(a.address())
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 15 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := mpcv1.NewPartyLinkServiceClient(conn).Connect(ctx)
	if err != nil {
		return false, a.pinError(err, seen, pins)
	}
	served, _ := seen.get()
	welcome, err := a.handshake(stream, served)
	if err != nil {
		return false, a.pinError(err, seen, pins)
	}
	a.servedCert(served)
	a.learnNext(welcome.GetNextCertificate())
	a.learnAddresses(welcome.GetCoordinatorAddresses())
	a.log.Info("connected to coordinator", "address", addr, "device", a.cfg.Name)

	l := &partyLink{agent: a, ctx: ctx, out: make(chan *mpcv1.ConnectRequest, 1024), sessions: map[string]*runningSession{}, bySID: map[string]*runningSession{}}
	a.live.up(l)
	defer l.stopAll()
	sendErr := linkio.Send(ctx, l.out, stream.Send, nil)
	go l.reportPool()
	l.sendRestoreClaims()

	in, recvErr := linkio.Receive(ctx, stream.Recv)
	for {
		select {
		case m := <-in:
			l.handle(m)
		case err := <-recvErr:
			return true, err
		case err := <-sendErr:
			return true, err
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}

type connectStream = grpc.BidiStreamingClient[mpcv1.ConnectRequest, mpcv1.ConnectResponse]

// handshake answers the coordinator's challenge for the certificate it
// served on this connection (fingerprint, which matched a pin).
func (a *Agent) handshake(stream connectStream, fingerprint string) (*mpcv1.Welcome, error) {
	if err := stream.Send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Hello{Hello: &mpcv1.Hello{DeviceId: a.cfg.DeviceID, RosterEntries: a.rosterEntries()}}}); err != nil {
		return nil, err
	}
	m, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	ch := m.GetChallenge()
	if ch == nil || len(ch.GetNonce()) != 32 {
		return nil, errors.New("coordinator sent no valid challenge")
	}
	if fingerprint == "" {
		fingerprint = a.pins()[0]
	}
	sig := a.id.Sign(identity.ConnectTranscript(ch.GetNonce(), a.cfg.DeviceID, fingerprint))
	if err := stream.Send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Answer{Answer: &mpcv1.ChallengeAnswer{Signature: sig}}}); err != nil {
		return nil, err
	}
	m, err = stream.Recv()
	if err != nil {
		return nil, err
	}
	if m.GetWelcome() == nil {
		return nil, errors.New("coordinator did not welcome this device")
	}
	return m.GetWelcome(), nil
}

// partyLink is the device's side of one connected stream.
type partyLink struct {
	agent *Agent
	ctx   context.Context
	out   chan *mpcv1.ConnectRequest

	mu       sync.Mutex
	sessions map[string]*runningSession // by the coordinator's ref
	bySID    map[string]*runningSession // by the agreed session id
}

type runningSession struct {
	s       *session
	cancel  context.CancelCauseFunc
	started time.Time
	begun   bool // a begin was taken (under partyLink.mu): one per session
}

// errStopped is the cause of a session stopped on purpose (the coordinator
// aborted it, or it was flooded): nobody is blamed for it by this device.
type errStopped struct{ reason string }

func (e *errStopped) Error() string { return e.reason }

func (l *partyLink) send(m *mpcv1.ConnectRequest) {
	select {
	case l.out <- m:
	case <-l.ctx.Done():
	}
}

// reportPool tells the coordinator the pool level now and at every change.
func (l *partyLink) reportPool() {
	for {
		changed := l.agent.pool.Changed()
		l.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Status{Status: &mpcv1.PartyStatus{
			PreparamsReady:  uint32(l.agent.pool.Ready()),
			PreparamsTarget: uint32(l.agent.pool.Target()),
		}}})
		select {
		case <-changed:
		case <-l.ctx.Done():
			return
		}
	}
}

func (l *partyLink) lookup(index map[string]*runningSession, id []byte) *runningSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	return index[string(id)]
}

func (l *partyLink) handle(m *mpcv1.ConnectResponse) {
	switch msg := m.GetMsg().(type) {
	case *mpcv1.ConnectResponse_Start:
		l.start(msg.Start)
	case *mpcv1.ConnectResponse_Begin:
		rs := l.lookup(l.sessions, msg.Begin.GetRef())
		if rs == nil {
			return
		}
		select {
		case <-rs.s.joined:
		default:
			// This device has not joined yet (it is still checking the
			// session): the begin cannot hold its join, and the session's
			// parameters are still being set.
			return
		}
		// Register the agreed id now, so that envelopes that follow at once
		// find the session; the session itself checks every join.
		var joins []envelope.Join
		for _, j := range msg.Begin.GetJoins() {
			joins = append(joins, envelope.JoinFromProto(j))
		}
		sid := envelope.ID(rs.s.params, joins)
		l.mu.Lock()
		if rs.begun {
			l.mu.Unlock()
			return // a second begin for the same session is ignored
		}
		rs.begun = true
		l.bySID[string(sid)] = rs
		l.mu.Unlock()
		rs.s.begin <- msg.Begin // the only send on a channel of one: never blocks
	case *mpcv1.ConnectResponse_Message:
		rs := l.lookup(l.bySID, msg.Message.GetSessionId())
		if rs == nil {
			return // a message for a session that ended or never ran here
		}
		if !rs.s.deliver(msg.Message) {
			l.agent.log.Warn("session inbox full; aborting session", "session", shortID(rs.s.ref))
			rs.cancel(&errStopped{"too many messages queued for this session"})
		}
	case *mpcv1.ConnectResponse_RosterUpdate:
		// In stream order, before the sessions that follow it.
		l.rosterUpdate(msg.RosterUpdate)
	case *mpcv1.ConnectResponse_KeySync:
		// Applied here, in stream order: a session the coordinator starts
		// after a commit sees its result.
		l.agent.applySync(msg.KeySync, func(keyID, reason string) {
			l.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Refusal{Refusal: &mpcv1.Refusal{What: "key_sync", KeyId: keyID, Reason: reason}}})
		})
	case *mpcv1.ConnectResponse_RestoreAnswer:
		l.agent.restoreAnswer(msg.RestoreAnswer)
	case *mpcv1.ConnectResponse_NextCertificate:
		// On this authenticated link to a pinned certificate only.
		l.agent.learnNext(msg.NextCertificate)
	case *mpcv1.ConnectResponse_Replicas:
		l.agent.learnAddresses(msg.Replicas.GetAddresses())
	case *mpcv1.ConnectResponse_Abort:
		if rs := l.lookup(l.sessions, msg.Abort.GetRef()); rs != nil {
			l.agent.log.Info("session aborted by coordinator", "session", shortID(msg.Abort.GetRef()), "reason", msg.Abort.GetReason())
			rs.cancel(&errStopped{"aborted by the coordinator"})
		}
	}
}

func (l *partyLink) start(st *mpcv1.SessionStart) {
	ref := st.GetRef()
	refuse := func(reason string, policy bool) {
		l.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Reply{Reply: &mpcv1.SessionReply{Ref: ref, Accepted: false, Reason: reason, PolicyRefusal: policy,
			ShuttingDown: reason == drainingReason}}})
	}
	if len(ref) != 32 {
		refuse("session ref must be 32 bytes", false)
		return
	}
	timeout := time.Duration(st.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 || timeout > maxSessionTimeout {
		refuse(fmt.Sprintf("session timeout missing or above %s", maxSessionTimeout), false)
		return
	}
	deadline := time.Now().Add(timeout)
	log := l.agent.log.With("session", shortID(ref))
	if err := l.agent.checkMembers(st); err != nil {
		// Not this device's fault, nor a policy: the coordinator asked for
		// something the operators did not allow. Nobody is blamed.
		log.Warn("refused a session", "reason", err)
		refuse(err.Error(), true)
		return
	}
	s := newSession(st, l.agent.cfg.DeviceID, log, l.send, sessionDeps{identity: l.agent.id, shares: shareStore{ks: l.agent.ks, crash: l.agent.crashAt}, pool: l.agent.pool, tamper: l.agent.tamper.Load(), replay: l.agent.replay})
	l.mu.Lock()
	if _, dup := l.sessions[string(ref)]; dup {
		l.mu.Unlock()
		refuse("duplicate session", false)
		return
	}
	if len(l.sessions) >= maxSessions {
		l.mu.Unlock()
		l.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Reply{Reply: &mpcv1.SessionReply{Ref: ref, Reason: "too many sessions at once", Busy: true}}})
		return
	}
	if !l.agent.work.begin() {
		l.mu.Unlock()
		refuse(drainingReason, false)
		return
	}
	cctx, cancel := context.WithCancelCause(l.ctx)
	ctx, cancelDeadline := context.WithDeadline(cctx, deadline)
	rs := &runningSession{s: s, cancel: cancel, started: time.Now()}
	l.sessions[string(ref)] = rs
	l.mu.Unlock()
	// Checking the request may wait for the person at the device, so it runs
	// off the link's receive loop.
	go func() {
		defer l.agent.work.end()
		defer func() {
			cancelDeadline()
			cancel(nil)
			l.forget(ref, rs)
		}()
		l.accept(ctx, st, s, log, refuse)
	}()
}

// forget drops a session that ended.
func (l *partyLink) forget(ref []byte, rs *runningSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sessions, string(ref))
	for sid, r := range l.bySID {
		if r == rs {
			delete(l.bySID, sid)
		}
	}
}

// accept checks what the device itself must before it joins - the
// operators' ceremony, the session against its shares, its approval policy -
// then joins and runs the session.
func (l *partyLink) accept(ctx context.Context, st *mpcv1.SessionStart, s *session, log *slog.Logger, refuse func(reason string, policy bool)) {
	// Checked once the session is sure to run here (not busy, not
	// draining): a keygen's authorization is spent by this check.
	if err := l.agent.checkCeremony(st, time.Now()); err != nil {
		log.Warn("refused a session", "reason", err)
		refuse(err.Error(), true)
		return
	}
	if err := s.prepare(); err != nil {
		log.Warn("refused a session", "reason", err)
		refuse(err.Error(), false)
		return
	}
	ctx, stop, ok := l.approve(ctx, st, log, refuse)
	if !ok {
		return
	}
	defer stop()
	close(s.joined)
	l.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Reply{Reply: &mpcv1.SessionReply{Ref: st.GetRef(), Accepted: true, Join: s.join.Proto()}}})
	s.run(ctx)
}

// approve applies the device's approval policy to what a session asks of
// it: a wallet's signature, or a reshare. A signed request holds until its
// expiry only, however long the coordinator lets the session wait to begin:
// the returned context ends then.
func (l *partyLink) approve(ctx context.Context, st *mpcv1.SessionStart, log *slog.Logger, refuse func(reason string, policy bool)) (context.Context, context.CancelFunc, bool) {
	var req *SignRequest
	switch st.GetKind() {
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		if len(st.GetTestNonce()) > 0 {
			break // a reshare's test digest with pending shares (checked in prepare), no wallet's request
		}
		req = sessionRequest(st)
	case mpcv1.SessionKind_SESSION_KIND_RESHARE:
		req = &SignRequest{KeyID: st.GetKeyId(), Requester: claimedRequester(st), Reshare: &ReshareRequest{
			OldCommittee: st.GetOldCommittee(), NewCommittee: st.GetNewCommittee(),
			NewThreshold: int(st.GetNewThreshold()), NewEpoch: st.GetNewEpoch()}}
	}
	if req == nil {
		return ctx, func() {}, true
	}
	ok, reason, err := l.agent.decide(ctx, log, *req) // log names the session
	if err != nil {
		log.Warn("could not decide on a request", "err", err)
		refuse("could not apply this device's approval policy", false)
		return ctx, nil, false
	}
	if !ok {
		refuse(reason, true)
		return ctx, nil, false
	}
	if until, ok := signedUntil(st); ok && l.agent.cfg.RosterGenesis != "" {
		ctx, stop := context.WithDeadline(ctx, until)
		return ctx, stop, true
	}
	return ctx, func() {}, true
}

func (l *partyLink) stopAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rs := range l.sessions {
		rs.cancel(&errStopped{"link to the coordinator lost"})
	}
}

func shortID(id []byte) string {
	if len(id) > 8 {
		id = id[:8]
	}
	return hex.EncodeToString(id)
}

// sendRestoreClaims tells the coordinator about shares restored from
// backups that are not bound to this device yet.
func (l *partyLink) sendRestoreClaims() {
	claims, err := restoreClaims(l.agent.ks)
	if err != nil {
		l.agent.log.Warn("could not list restored shares", "err", err)
		return
	}
	for _, c := range claims {
		l.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_RestoreClaim{RestoreClaim: c}})
	}
}
