package relay

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/envelope"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// sessionRun is one run of a session (Run): the session, what it heard so
// far, and its record.
type sessionRun struct {
	m       *Sessions
	s       *session
	ref     []byte
	start   *mpcv1.SessionStart
	members []registry.Device
	params  envelope.Params
	log     *slog.Logger
	began   time.Time
	rec     registry.SessionRecord
	joins   map[string]*mpcv1.SessionJoin
	results map[string]*mpcv1.SessionResult
	// A party's failure that blames nobody (it saw that someone lied but
	// cannot tell who), or whose blame is not proven, waits a moment for
	// another member's report that proves more.
	vague        *partyEvent
	vagueVerdict verdict
	vagueWait    <-chan time.Time
}

// runRef is Run for the session ref.
func (m *Sessions) runRef(ctx context.Context, ref []byte, start *mpcv1.SessionStart, members []registry.Device, key *registry.Key) (map[string]*mpcv1.SessionResult, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("session without deadline")
	}
	start.Ref = ref
	// Parties give up a little earlier and report whom they waited for.
	start.TimeoutMs = uint32(max(time.Until(deadline)-time.Second, time.Second) / time.Millisecond)
	r := &sessionRun{m: m, ref: ref, start: start, members: members,
		joins: map[string]*mpcv1.SessionJoin{}, results: map[string]*mpcv1.SessionResult{}}
	r.s = m.open(ref, start, members, key) // adds the participants to start
	defer m.close(r.s)
	r.params = envelope.StartParams(start)
	r.log = m.log.With("session", hex.EncodeToString(ref[:8]), "kind", KindName(start.GetKind()))
	r.s.log = r.log
	r.log.Info("session started", "key", start.GetKeyId(), "devices", names(members))
	r.began = time.Now()
	r.rec = registry.SessionRecord{ID: hex.EncodeToString(ref), Kind: KindName(start.GetKind()), KeyID: start.GetKeyId(), Devices: names(members), Started: m.now()}
	m.metrics.SessionStarted(r.rec.Kind)
	defer func() {
		m.metrics.SessionEnded(r.rec.Kind, r.rec.OK, ctx.Err(), time.Since(r.began))
		r.rec.Finished = m.now()
		if err := m.store.PutSession(r.rec); err != nil {
			r.log.Warn("could not record the session", "err", err)
		}
	}()
	if off := r.sendAll(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Start{Start: start}}); off != "" {
		return nil, r.fail("a device was offline at session start", "", "", []string{off}, BlameSuspected)
	}
	// A device that does not even join within joinTimeout is not worth the
	// rest of the caller's deadline.
	joinTimer := time.NewTimer(joinTimeout)
	defer joinTimer.Stop()
	for len(r.results) < len(members) {
		var err error
		select {
		case <-r.vagueWait:
			err = r.failedAs(*r.vague, r.vagueVerdict)
		case <-joinTimer.C:
			if r.s.sid == nil {
				err = r.fail("devices did not answer the session start in time", "", "", r.missing(), BlameSuspected)
			}
		case <-ctx.Done():
			// No party reported whom it waited for in time: before the
			// session began, blame the members that did not join; after,
			// those without a result, narrowed to the laggards among them.
			missing := r.missing()
			if r.s.sid != nil {
				missing = r.s.timeoutCulprits(missing)
			}
			err = r.fail("deadline passed before every device finished", "", "", missing, BlameSuspected)
		case ev := <-r.s.events:
			err = r.event(ev)
		}
		if err != nil {
			return nil, err
		}
	}
	r.rec.OK = true
	r.s.lastRoundDone(m.metrics)
	r.log.Info("session finished", "took", time.Since(r.began).Round(time.Millisecond))
	return r.results, nil
}

// open registers a new session for ref; close ends and forgets it.
func (m *Sessions) open(ref []byte, start *mpcv1.SessionStart, members []registry.Device, key *registry.Key) *session {
	var partyKeyIdentity map[string][]byte
	if key != nil {
		partyKeyIdentity = key.PartyKeyIdentity
	}
	s := &session{ref: ref, kind: start.GetKind(), keyID: start.GetKeyId(), started: m.now(), members: map[string]registry.Device{}, events: make(chan partyEvent, 8*len(members)+8), done: make(chan struct{}),
		ed25519: start.GetCurve() == mpcv1.Curve_CURVE_ED25519, threshold: int(start.GetThreshold()), epoch: start.GetEpoch(), partyKeyIdentity: partyKeyIdentity,
		key: key, path: start.GetDerivationPath(), message: start.GetMessage()}
	for _, d := range members {
		s.members[d.ID] = d
		start.Participants = append(start.Participants, &mpcv1.Participant{DeviceId: d.ID, IdentityPublicKey: d.IdentityPublicKey, PartyKeyIdentity: partyKeyIdentity[d.ID]})
	}
	m.mu.Lock()
	m.byRef[string(ref)] = s
	m.setIdleLocked()
	m.mu.Unlock()
	return s
}

func (m *Sessions) close(s *session) {
	s.finish()
	m.mu.Lock()
	delete(m.byRef, string(s.ref))
	if s.sid != nil {
		delete(m.bySID, string(s.sid))
	}
	m.setIdleLocked()
	m.mu.Unlock()
}

// missing are the members that did not join (before the session began) or
// have no result (after).
func (r *sessionRun) missing() []string {
	var out []string
	for _, d := range r.members {
		if (r.s.sid == nil && r.joins[d.ID] == nil) || (r.s.sid != nil && r.results[d.ID] == nil) {
			out = append(out, d.ID)
		}
	}
	return out
}

// sendAll sends msg to every member; it returns the first that was offline.
func (r *sessionRun) sendAll(msg *mpcv1.ConnectResponse) (offline string) {
	for _, d := range r.members {
		l := r.m.links.Get(d.ID)
		if (l == nil || !l.Send(msg)) && offline == "" {
			offline = d.ID // keep going: every other member still gets it
		}
	}
	return offline
}

// fail aborts the session. reason is what the caller sees (fixed text of
// ours); detail, which may come from a party, goes only to the log.
func (r *sessionRun) fail(reason, detail, reporter string, culpritIDs []string, why Blame) error {
	r.sendAll(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Abort{Abort: &mpcv1.SessionAbort{Ref: r.ref, Reason: reason}}})
	err := &SessionError{Kind: KindName(r.start.GetKind()), Reason: reason, Culprits: r.m.nameList(r.s, culpritIDs), CulpritIDs: r.s.memberIDs(culpritIDs, "")}
	if len(err.Culprits) > 0 {
		err.Blame = why
	}
	r.rec.Reason, r.rec.Culprits, r.rec.Blame = reason, err.Culprits, string(err.Blame)
	r.m.metrics.SessionAborted(err.Kind, err.Culprits)
	r.m.metrics.Blamed(err.Kind, err.Blame)
	if detail != "" {
		r.rec.Reason += ": " + detail
	}
	if reporter != "" {
		r.rec.Reason += " (reported by " + r.s.members[reporter].Name + ")"
	}
	r.log.Warn("session failed", "reason", r.rec.Reason, "culprits", err.Culprits, "blame", err.Blame, "took", time.Since(r.began).Round(time.Millisecond))
	return err
}

// failedAs fails the session on a member's failure ev, judged v.
func (r *sessionRun) failedAs(ev partyEvent, v verdict) error {
	reporter := ev.from
	if ev.failure.GetRef() == nil {
		reporter = "" // raised by the coordinator's own checks
	}
	detail := Clip(ev.failure.GetReason())
	if v.detail != "" {
		detail += " [" + Clip(v.detail) + "]"
	}
	err := r.fail("the protocol failed", detail, reporter, v.culprits, v.blame)
	if se, ok := err.(*SessionError); ok && v.blame == BlameSuspected {
		se.Accuser = v.reporter
	}
	return err
}

// assess reads a failure event: the coordinator's own checks are proven; a
// member's report is judged (evidence.go), a timeout narrowed to the
// members the coordinator saw fall behind.
func (r *sessionRun) assess(ev partyEvent) verdict {
	switch {
	case ev.failure.GetRef() == nil:
		return verdict{blame: BlameProven, culprits: ev.failure.GetCulprits()}
	case strings.HasPrefix(ev.failure.GetReason(), partyTimeoutReason):
		return verdict{blame: BlameSuspected, culprits: r.s.timeoutCulprits(r.s.memberIDs(ev.failure.GetCulprits(), ev.from))}
	}
	return r.s.judge(ev.from, ev.failure, ev.seen)
}

// event handles one event of a member; an error ends the session.
func (r *sessionRun) event(ev partyEvent) error {
	switch {
	case ev.down != nil:
		return r.fail("a device disconnected during the session", "", "", []string{ev.from}, BlameSuspected)
	case ev.reply != nil && !ev.reply.GetAccepted() && ev.reply.GetPolicyRefusal():
		// Abort the others and record it; the caller gets the refusal itself.
		_ = r.fail("a device refused under its approval policy", Clip(ev.reply.GetReason()), ev.from, nil, "")
		return &PolicyRefusal{Device: r.s.members[ev.from].Name, DeviceID: ev.from, Reason: Clip(ev.reply.GetReason())}
	case ev.reply != nil && !ev.reply.GetAccepted() && (ev.reply.GetShuttingDown() || ev.reply.GetBusy()):
		err := r.fail("a device is shutting down or busy", Clip(ev.reply.GetReason()), ev.from, []string{ev.from}, BlameSuspected)
		if se := (*SessionError)(nil); errors.As(err, &se) {
			se.Unavailable = true
		}
		return err
	case ev.reply != nil && !ev.reply.GetAccepted():
		return r.fail("a device refused the session", Clip(ev.reply.GetReason()), ev.from, []string{ev.from}, BlameSuspected)
	case ev.reply != nil:
		return r.join(ev)
	case ev.failure != nil:
		v := r.assess(ev)
		if v.blame.Strikes() {
			return r.failedAs(ev, v)
		}
		if r.vague == nil || (len(r.vagueVerdict.culprits) == 0 && len(v.culprits) > 0) {
			r.vague, r.vagueVerdict = &ev, v
		}
		if r.vagueWait == nil {
			r.vagueWait = time.After(vagueFailureGrace)
		}
	case ev.result != nil:
		if r.s.sid == nil || r.results[ev.from] != nil {
			return r.fail("a device sent a result out of turn", "", "", []string{ev.from}, BlameProven)
		}
		r.results[ev.from] = ev.result
	}
	return nil
}

// join checks a member's signed join; once every member joined, the session
// begins: each member gets every join.
func (r *sessionRun) join(ev partyEvent) error {
	j := ev.reply.GetJoin()
	if j.GetDeviceId() != ev.from || r.joins[ev.from] != nil ||
		!envelope.VerifyJoin(r.s.members[ev.from].IdentityPublicKey, r.params, envelope.JoinFromProto(j)) {
		return r.fail("a device sent an invalid join", "", "", []string{ev.from}, BlameProven)
	}
	r.joins[ev.from] = j
	if len(r.joins) < len(r.members) {
		return nil
	}
	begin := &mpcv1.SessionBegin{Ref: r.ref}
	var js []envelope.Join
	for _, d := range r.members {
		begin.Joins = append(begin.Joins, r.joins[d.ID])
		js = append(js, envelope.JoinFromProto(r.joins[d.ID]))
	}
	r.s.sid = envelope.ID(r.params, js)
	r.s.joins = js
	r.m.mu.Lock()
	r.m.bySID[string(r.s.sid)] = r.s
	r.m.mu.Unlock()
	if off := r.sendAll(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Begin{Begin: begin}}); off != "" {
		return r.fail("a device went offline", "", "", []string{off}, BlameSuspected)
	}
	return nil
}
