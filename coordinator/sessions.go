package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// maxPayload caps one relayed protocol message. The largest tss-lib messages
// (keygen round 1 with its proofs) are well under this.
const maxPayload = 1 << 20

// session is the coordinator's view of one protocol run: who takes part, and
// what each participant reported. It routes messages between participants and
// never looks inside them.
type session struct {
	id      []byte
	kind    mpcv1.SessionKind
	members map[string]Device // by device id
	events  chan partyEvent
	done    chan struct{}
	once    sync.Once
}

type partyEvent struct {
	from    string
	reply   *mpcv1.SessionReply
	result  *mpcv1.SessionResult
	failure *mpcv1.SessionFailure
	down    error
}

func (s *session) finish() { s.once.Do(func() { close(s.done) }) }

// sessions tracks running sessions.
type sessions struct {
	log   *slog.Logger
	links *links
	store Store
	now   func() time.Time
	mu    sync.Mutex
	byID  map[string]*session
}

func newSessions(log *slog.Logger, l *links, st Store, now func() time.Time) *sessions {
	return &sessions{log: log, links: l, store: st, now: now, byID: map[string]*session{}}
}

func (m *sessions) get(id []byte) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID[string(id)]
}

func (m *sessions) sessionsOf(deviceID string) []*session {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*session
	for _, s := range m.byID {
		if _, ok := s.members[deviceID]; ok {
			out = append(out, s)
		}
	}
	return out
}

// post hands a party's event to its session without blocking the link.
func (s *session) post(ev partyEvent) {
	select {
	case s.events <- ev:
	case <-s.done:
	}
}

// fromParty handles a session-related message from an authenticated device.
func (m *sessions) fromParty(l *link, req *mpcv1.ConnectRequest) {
	switch msg := req.GetMsg().(type) {
	case *mpcv1.ConnectRequest_Reply:
		if s := m.member(msg.Reply.GetSessionId(), l.deviceID); s != nil {
			go s.post(partyEvent{from: l.deviceID, reply: msg.Reply})
		}
	case *mpcv1.ConnectRequest_Result:
		if s := m.member(msg.Result.GetSessionId(), l.deviceID); s != nil {
			go s.post(partyEvent{from: l.deviceID, result: msg.Result})
		}
	case *mpcv1.ConnectRequest_Failure:
		if s := m.member(msg.Failure.GetSessionId(), l.deviceID); s != nil {
			go s.post(partyEvent{from: l.deviceID, failure: msg.Failure})
		}
	case *mpcv1.ConnectRequest_Message:
		m.relay(l, msg.Message)
	}
}

func (m *sessions) member(id []byte, deviceID string) *session {
	s := m.get(id)
	if s == nil {
		return nil
	}
	if _, ok := s.members[deviceID]; !ok {
		return nil
	}
	return s
}

// relay forwards a protocol message. The sender is the authenticated stream,
// whatever the message claims; recipients must be participants.
func (m *sessions) relay(l *link, msg *mpcv1.SessionMessage) {
	s := m.member(msg.GetSessionId(), l.deviceID)
	if s == nil {
		m.log.Debug("dropped message for unknown session", "device", l.name)
		return
	}
	if len(msg.GetPayload()) > maxPayload {
		go s.post(partyEvent{from: l.deviceID, failure: &mpcv1.SessionFailure{Reason: "oversized protocol message", Culprits: []string{l.deviceID}}})
		return
	}
	msg.From = l.deviceID
	var to []string
	if msg.GetBroadcast() {
		for id := range s.members {
			if id != l.deviceID {
				to = append(to, id)
			}
		}
		msg.To = nil
	} else {
		for _, id := range msg.GetTo() {
			if _, ok := s.members[id]; !ok || id == l.deviceID {
				go s.post(partyEvent{from: l.deviceID, failure: &mpcv1.SessionFailure{Reason: "message addressed to a non-participant", Culprits: []string{l.deviceID}}})
				return
			}
		}
		to = msg.GetTo()
	}
	for _, id := range to {
		peer := m.links.get(id)
		if peer == nil || !peer.send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Message{Message: msg}}) {
			go s.post(partyEvent{from: id, down: unavailable("device went offline")})
		}
	}
}

// linkDown tells every session of a device that its stream ended.
func (m *sessions) linkDown(deviceID string) {
	for _, s := range m.sessionsOf(deviceID) {
		go s.post(partyEvent{from: deviceID, down: unavailable("device disconnected")})
	}
}

// run starts a session with the given members and waits until every member
// reported a result, one failed, or ctx ends. It returns the results by device id.
func (m *sessions) run(ctx context.Context, start *mpcv1.SessionStart, members []Device) (map[string]*mpcv1.SessionResult, error) {
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("session without deadline")
	}
	start.SessionId = id
	start.Deadline = timestamppb.New(deadline.Add(-time.Second)) // parties give up first and report whom they waited for
	s := &session{id: id, kind: start.GetKind(), members: map[string]Device{}, events: make(chan partyEvent, 4*len(members)), done: make(chan struct{})}
	for _, d := range members {
		s.members[d.ID] = d
		start.Participants = append(start.Participants, &mpcv1.Participant{DeviceId: d.ID, IdentityPublicKey: d.IdentityPublicKey})
	}
	m.mu.Lock()
	m.byID[string(id)] = s
	m.mu.Unlock()
	defer func() {
		s.finish()
		m.mu.Lock()
		delete(m.byID, string(id))
		m.mu.Unlock()
	}()
	log := m.log.With("session", hex.EncodeToString(id[:8]), "kind", kindName(start.GetKind()))
	log.Info("session started", "devices", names(members))
	began := time.Now()
	rec := SessionRecord{ID: hex.EncodeToString(id), Kind: kindName(start.GetKind()), KeyID: start.GetKeyId(), Devices: names(members), Started: m.now()}
	defer func() {
		rec.Finished = m.now()
		if err := m.store.PutSession(rec); err != nil {
			log.Warn("could not record the session", "err", err)
		}
	}()

	abort := func(reason string) {
		for _, d := range members {
			if l := m.links.get(d.ID); l != nil {
				l.send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Abort{Abort: &mpcv1.SessionAbort{SessionId: id, Reason: reason}}})
			}
		}
	}
	fail := func(reason string, culpritIDs []string) error {
		abort(reason)
		err := &SessionError{Kind: kindName(start.GetKind()), Reason: reason, Culprits: m.nameList(s, culpritIDs)}
		rec.Reason, rec.Culprits = reason, err.Culprits
		log.Warn("session failed", "reason", reason, "culprits", err.Culprits, "took", time.Since(began).Round(time.Millisecond))
		return err
	}

	for _, d := range members {
		l := m.links.get(d.ID)
		if l == nil || !l.send(&mpcv1.ConnectResponse{Msg: &mpcv1.ConnectResponse_Start{Start: start}}) {
			return nil, fail("device offline at session start", []string{d.ID})
		}
	}
	results := map[string]*mpcv1.SessionResult{}
	for len(results) < len(members) {
		select {
		case <-ctx.Done():
			var missing []string
			for _, d := range members {
				if results[d.ID] == nil {
					missing = append(missing, d.ID)
				}
			}
			return nil, fail("deadline passed before every device finished", missing)
		case ev := <-s.events:
			switch {
			case ev.down != nil:
				return nil, fail("a device disconnected during the session", []string{ev.from})
			case ev.reply != nil && !ev.reply.GetAccepted():
				return nil, fail("a device refused the session: "+clip(ev.reply.GetReason()), []string{ev.from})
			case ev.failure != nil:
				culprits := ev.failure.GetCulprits()
				return nil, fail(clip(ev.failure.GetReason()), culprits)
			case ev.result != nil:
				results[ev.from] = ev.result
			}
		}
	}
	rec.OK = true
	log.Info("session finished", "took", time.Since(began).Round(time.Millisecond))
	return results, nil
}

// nameList turns device ids reported by a party into names, keeping only
// members: a party cannot blame an outsider.
func (m *sessions) nameList(s *session, ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if d, ok := s.members[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, d.Name)
		}
	}
	sort.Strings(out)
	return out
}

// sameResults checks that all results carry the same public key.
func samePublicKey(results map[string]*mpcv1.SessionResult) ([]byte, bool) {
	var pub []byte
	for _, r := range results {
		if pub == nil {
			pub = r.GetPublicKey()
		} else if !bytes.Equal(pub, r.GetPublicKey()) {
			return nil, false
		}
	}
	return pub, len(pub) > 0
}

func kindName(k mpcv1.SessionKind) string {
	switch k {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		return "keygen"
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		return "sign"
	}
	return "unknown"
}

func names(ds []Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

// clip bounds a reason string a party sent before it is logged or returned.
func clip(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
