package party

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A memnet runs sessions of real devices (real tss-lib, envelopes,
// keystores, pre-parameter pools and replay logs) over an in-memory relay
// that does what the coordinator does for one session: it hands every
// member the SessionStart, collects the joins, hands out the SessionBegin,
// routes broadcast and point-to-point SessionMessages, and collects each
// member's result or failure. Nothing else of an agent runs (no link, no
// policy, no ceremony), so a protocol test takes seconds, not minutes.

// memnetKDF is a fast Argon2id for test keystores (testkit.TestKDF, which
// this package's tests cannot import).
var memnetKDF = keystore.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

// memnetTimeout is a session's deadline on the memnet.
const memnetTimeout = 60 * time.Second

// memDevice is one device: what an Agent gives its sessions.
type memDevice struct {
	name   string
	id     *identity.Identity
	ks     *keystore.Store
	pool   *Pool
	replay *replayLog
	// tamper, when set, makes the device misbehave (as SetTamper does).
	tamper *tamperFunc
}

func (d *memDevice) deviceID() string { return identity.DeviceID(d.id.PublicKey()) }

// setTamper makes the device change its outgoing protocol messages (nil: honest).
func (d *memDevice) setTamper(f func(msgType, to string, payload []byte) [][]byte) {
	if f == nil {
		d.tamper = nil
		return
	}
	tf := tamperFunc(f)
	d.tamper = &tf
}

type memnet struct {
	t   *testing.T
	log *slog.Logger
	dev map[string]*memDevice // by name
	// relay, when set, delivers each routed message (as coordinator.Options.Relay).
	relay func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage))
}

// newMemnet makes devices named as given; the i-th takes the TEST-ONLY
// pre-parameter sets of testdata/preparams/TEST-ONLY-set-<fixtures[i]>.json
// (distinct files for distinct devices: no two members share a modulus).
func newMemnet(t *testing.T, names []string, fixtures []int) *memnet {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("MEMNET_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n := &memnet{t: t, log: log, dev: map[string]*memDevice{}}
	for i, name := range names {
		id, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		ks, err := keystore.Open(filepath.Join(t.TempDir(), name), keystore.NewPassphrase([]byte("pw")), keystore.Options{KDF: memnetKDF})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ks.Close() })
		pool := NewPool(ks, 1, log, nil)
		pool.AcceptTestFixtures()
		for _, set := range memnetFixtures(t, fixtures[i]) {
			if err := pool.Add(set); err != nil {
				t.Fatal(err)
			}
		}
		n.dev[name] = &memDevice{name: name, id: id, ks: ks, pool: pool, replay: newReplayLog(ks)}
	}
	return n
}

func memnetFixtures(t *testing.T, n int) []*preparams.Set {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "preparams", "TEST-ONLY-set-"+strconv.Itoa(n)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sets, err := preparams.ReadTestFixtures(f)
	if err != nil {
		t.Fatal(err)
	}
	return sets
}

// id is a device's id by name.
func (n *memnet) id(name string) string { return n.dev[name].deviceID() }

func (n *memnet) ids(names ...string) []string {
	var out []string
	for _, name := range names {
		out = append(out, n.id(name))
	}
	return out
}

// memOutcome is how one member's session ended.
type memOutcome struct {
	refused string // prepare refused the session
	result  *mpcv1.SessionResult
	failure *mpcv1.SessionFailure
}

// memSession is one session on the memnet, from the relay's side.
type memSession struct {
	n       *memnet
	sid     []byte
	members map[string]*memMember // by device id

	mu       sync.Mutex
	outcomes map[string]memOutcome // by device name
	reported chan string
}

type memMember struct {
	dev    *memDevice
	s      *session
	cancel context.CancelCauseFunc
}

// run runs one session among the named members (in the coordinator's
// order) and returns each member's outcome by name. st is completed with
// the ref, the timeout and the participants. Once every honest member (no
// tamper set) has reported, the others are aborted as the coordinator
// aborts a failed session.
func (n *memnet) run(st *mpcv1.SessionStart, names ...string) map[string]memOutcome {
	t := n.t
	t.Helper()
	st = proto.Clone(st).(*mpcv1.SessionStart)
	st.Ref = make([]byte, 32)
	_, _ = rand.Read(st.Ref)
	st.TimeoutMs = uint32(memnetTimeout / time.Millisecond)
	for _, name := range names {
		d := n.dev[name]
		st.Participants = append(st.Participants, &mpcv1.Participant{DeviceId: d.deviceID(), IdentityPublicKey: d.id.PublicKey()})
	}
	ms := &memSession{n: n, members: map[string]*memMember{}, outcomes: map[string]memOutcome{}, reported: make(chan string, 2*len(names))}
	ctx, cancel := context.WithTimeout(context.Background(), memnetTimeout)
	defer cancel()
	// The coordinator's part before the protocol: start, joins, begin.
	begin := &mpcv1.SessionBegin{Ref: st.Ref}
	var joins []envelope.Join
	for _, name := range names {
		d := n.dev[name]
		m := &memMember{dev: d}
		m.s = newSession(proto.Clone(st).(*mpcv1.SessionStart), d.deviceID(), n.log.With("device", name), ms.sender(name),
			sessionDeps{identity: d.id, shares: shareStore{ks: d.ks}, pool: d.pool, tamper: d.tamper, replay: d.replay})
		if err := m.s.prepare(); err != nil {
			return map[string]memOutcome{name: {refused: err.Error()}}
		}
		if !envelope.VerifyJoin(d.id.PublicKey(), envelope.StartParams(st), m.s.join) {
			t.Fatalf("memnet: %s sent an invalid join", name)
		}
		begin.Joins = append(begin.Joins, m.s.join.Proto())
		joins = append(joins, m.s.join)
		ms.members[d.deviceID()] = m
	}
	ms.sid = envelope.ID(envelope.StartParams(st), joins)
	var wg sync.WaitGroup
	for _, m := range ms.members {
		mctx, mcancel := context.WithCancelCause(ctx)
		m.cancel = mcancel
		m.s.begin <- begin
		wg.Go(func() { m.s.run(mctx) })
	}
	ms.wait(names)
	for _, m := range ms.members {
		m.cancel(&errStopped{"aborted by the coordinator"})
	}
	wg.Wait()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.outcomes
}

// memnetGrace is how long the others may take to report after a member
// failed, before the relay aborts them as the coordinator does. (The
// coordinator aborts at once on a failure it can prove; the grace lets a
// test see what every honest member concluded on its own. It is long
// because a busy 2-core machine may take seconds to run a member's round;
// it costs nothing when every honest member reports.)
const memnetGrace = 30 * time.Second

// wait returns once every member reported. When every honest member (no
// tamper set) reported, or memnetGrace after the first failure, it aborts
// the others: a member may wait for messages that never come.
func (ms *memSession) wait(names []string) {
	honest, honestDone := 0, 0
	for _, name := range names {
		if ms.n.dev[name].tamper == nil {
			honest++
		}
	}
	reported := map[string]bool{}
	var grace <-chan time.Time
	abort := func() {
		for _, m := range ms.members {
			if !reported[m.dev.name] {
				m.cancel(&errStopped{"aborted by the coordinator"})
			}
		}
	}
	for len(reported) < len(names) {
		select {
		case <-grace:
			abort()
			grace = nil
			continue
		case name := <-ms.reported:
			if reported[name] {
				continue
			}
			reported[name] = true
			if ms.n.dev[name].tamper == nil {
				honestDone++
			}
			ms.mu.Lock()
			failed := ms.outcomes[name].failure != nil
			ms.mu.Unlock()
			if failed && grace == nil {
				grace = time.After(memnetGrace)
			}
		}
		if honest > 0 && honestDone == honest {
			abort()
		}
	}
}

// sender is a member's send: what its link would carry to the coordinator.
func (ms *memSession) sender(name string) func(*mpcv1.ConnectRequest) {
	return func(req *mpcv1.ConnectRequest) {
		switch msg := req.GetMsg().(type) {
		case *mpcv1.ConnectRequest_Message:
			ms.route(name, msg.Message)
		case *mpcv1.ConnectRequest_Result:
			ms.report(name, memOutcome{result: msg.Result})
		case *mpcv1.ConnectRequest_Failure:
			ms.report(name, memOutcome{failure: msg.Failure})
		default:
			ms.n.t.Errorf("memnet: %s sent %T during a session", name, msg)
		}
	}
}

func (ms *memSession) report(name string, o memOutcome) {
	ms.mu.Lock()
	if _, dup := ms.outcomes[name]; dup {
		ms.n.t.Errorf("memnet: %s reported twice", name)
	}
	ms.outcomes[name] = o
	ms.mu.Unlock()
	ms.reported <- name
}

// route checks an envelope as the coordinator does (sender, addressing,
// session id, signature) and hands it to its recipients, in the order each
// sender sent them.
func (ms *memSession) route(name string, m *mpcv1.SessionMessage) {
	from := ms.n.dev[name]
	switch {
	case m.GetFrom() != from.deviceID():
		ms.n.t.Errorf("memnet: %s sent a message in another device's name", name)
		return
	case m.GetBroadcast() != (m.GetTo() == ""):
		ms.n.t.Errorf("memnet: %s sent an envelope addressed both to everyone and to one member", name)
		return
	case string(m.GetSessionId()) != string(ms.sid) || !envelope.VerifySigned(from.id.PublicKey(), envelope.FromProto(m)):
		ms.n.t.Errorf("memnet: %s sent an envelope that does not verify", name)
		return
	}
	var to []string
	if m.GetBroadcast() {
		for id := range ms.members {
			if id != m.GetFrom() {
				to = append(to, id)
			}
		}
	} else {
		if _, ok := ms.members[m.GetTo()]; !ok || m.GetTo() == m.GetFrom() {
			ms.n.t.Errorf("memnet: %s sent a message addressed to a non-participant", name)
			return
		}
		to = []string{m.GetTo()}
	}
	for _, id := range to {
		rcpt := ms.members[id]
		deliver := func(o *mpcv1.SessionMessage) {
			if !rcpt.s.deliver(o) {
				rcpt.cancel(&errStopped{"too many messages queued for this session"})
			}
		}
		if ms.n.relay != nil {
			ms.n.relay(id, m, deliver)
		} else {
			deliver(m)
		}
	}
}

// memnetDigest is a 32-byte digest for a test signature.
func memnetDigest(s string) []byte {
	d := make([]byte, 32)
	copy(d, s)
	return d
}

// wantResults fails the test unless every named member returned a result.
func wantResults(t *testing.T, out map[string]memOutcome, names ...string) []*mpcv1.SessionResult {
	t.Helper()
	var res []*mpcv1.SessionResult
	for _, name := range names {
		o, ok := out[name]
		switch {
		case !ok:
			t.Fatalf("%s did not take part: %v", name, describe(out))
		case o.result == nil:
			t.Fatalf("%s has no result: %v", name, describe(out))
		}
		res = append(res, o.result)
	}
	return res
}

func describe(out map[string]memOutcome) string {
	s := ""
	for name, o := range out {
		switch {
		case o.refused != "":
			s += fmt.Sprintf("[%s refused: %s] ", name, o.refused)
		case o.failure != nil:
			s += fmt.Sprintf("[%s failed: %s, culprits %v] ", name, o.failure.GetReason(), o.failure.GetCulprits())
		default:
			s += fmt.Sprintf("[%s ok] ", name)
		}
	}
	return s
}
