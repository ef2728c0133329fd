package party

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/envelope"
	"github.com/mpcsign/mpcsign/internal/guard"
	"github.com/mpcsign/mpcsign/internal/preparams"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// protocol is what a session runs once its id is agreed: keygen, signing or
// a reshare, each on either curve (proto_keygen.go, proto_sign.go,
// proto_reshare.go). One loop (runner.run) drives any of them; it knows
// nothing of kinds and curves.
type protocol interface {
	// start makes this device's tss-lib parties (runner.addParty), each
	// reporting its end through watchEnd, taking a pre-parameter set from
	// the pool if it needs one; it returns what the guard checks the other
	// members' messages against.
	start(ctx context.Context, r *runner) (guard.Params, error)
	// learn gives the guard session what it needs of the key (signing:
	// the holders' key data); the other protocols have nothing to add.
	learn(gs *guard.Session) error
	// accuses is whom a test-only malicious build accuses falsely once
	// every party ended (malicious_on.go); nil for none.
	accuses() []string
	// finish stores and reports the outcome, once every party ended and
	// every other member's echo matched what this device saw.
	finish(ctx context.Context, r *runner) (*mpcv1.SessionResult, error)
}

// protocol returns the protocol of the session's kind (checked by prepare).
func (s *session) protocol() protocol {
	switch s.start.GetKind() {
	case mpcv1.SessionKind_SESSION_KIND_KEYGEN:
		return &keygenProtocol{s: s}
	case mpcv1.SessionKind_SESSION_KIND_SIGN:
		return &signProtocol{s: s}
	}
	return &reshareProtocol{s: s}
}

// runner is the protocol phase of a session, after the session id is agreed.
type runner struct {
	s       *session
	es      *envelope.Session
	tracker *envelope.Tracker
	guard   guard.Params
	gs      *guard.Session
	out     chan tss.Message
	seq     uint64
	echoes  map[string][]byte
	parties []*localParty
	// selfQueue holds messages from one of this device's parties to another
	// (a reshare where the device is in both committees); they never leave it.
	selfQueue []selfMsg
	// pending holds messages that arrived before an earlier message of the
	// same sender they are checked against (possible when delivery reorders).
	pending []pendingMsg
	// moduli maps every Paillier modulus and NTilde announced in keygen (or
	// by the new committee of a reshare) to its owner, this device's own
	// included: two members may never share one.
	moduli map[string]string
	// ownSSID is the session id this device's old-committee party announced;
	// ssids, those the other old members announced.
	ownSSID []byte
	ssids   map[string][]byte
	// taken is the pre-parameter set this session took from the pool, and
	// sent whether any envelope left the device since: a set nothing was
	// sent from goes back to the pool when the session fails.
	taken *preparams.Set
	sent  bool
	// sentRound is the highest round this device sent a message of (for
	// the per-round Debug line).
	sentRound uint32
	// ends carries the end of each of this device's tss-lib parties to the
	// loop (watchEnd); done is closed when the loop returns.
	ends chan partyEnd
	done chan struct{}
	// finished: every party of this device ended and its echo was sent.
	finished bool
}

// localParty is one tss-lib party this device runs in the session.
type localParty struct {
	role  role
	id    *tss.PartyID
	party tss.Party
	ended bool
}

// partyEnd is one of this device's tss-lib parties ending: keep stores its
// outcome in the protocol, on the loop's goroutine.
type partyEnd struct {
	role role
	keep func()
}

// watchEnd makes the end channel of one tss-lib party of the given role and
// forwards its value to the loop, where keep receives it. The forwarder
// stops when the loop returns.
func watchEnd[T any](r *runner, role role, keep func(T)) chan T {
	ch := make(chan T, 1)
	go func() {
		select {
		case v := <-ch:
			select {
			case r.ends <- partyEnd{role: role, keep: func() { keep(v) }}:
			case <-r.done:
			}
		case <-r.done:
		}
	}()
	return ch
}

// addParty adds one tss-lib party this device runs.
func (r *runner) addParty(role role, id *tss.PartyID, p tss.Party) {
	r.parties = append(r.parties, &localParty{role: role, id: id, party: p})
}

type selfMsg struct {
	to     *localParty
	parsed tss.ParsedMessage
}

type pendingMsg struct {
	from    string
	parsed  tss.ParsedMessage
	targets []*localParty
}

func (r *runner) run(ctx context.Context, p protocol) (*mpcv1.SessionResult, error) {
	s := r.s
	r.out = make(chan tss.Message, 16*len(s.members)+16)
	r.ends = make(chan partyEnd, 2)
	r.done = make(chan struct{})
	defer close(r.done)
	var err error
	if r.guard, err = p.start(ctx, r); err != nil {
		return nil, err
	}
	gs, err := guard.NewSession(r.guard)
	if err != nil {
		return nil, err
	}
	if err := p.learn(gs); err != nil {
		return nil, err
	}
	r.gs = gs
	errCh := r.startParties()
	for {
		if err := r.deliverSelf(); err != nil {
			return nil, err
		}
		if r.finished && len(r.echoes) == len(s.members)-1 {
			// Every other member echoed what it saw; compare before accepting the result.
			if err := r.checkEchoes(); err != nil {
				return nil, err
			}
			return p.finish(ctx, r)
		}
		if len(r.selfQueue) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil, r.stopped(ctx)
		case e := <-errCh:
			return nil, tssFailure(e)
		case m := <-r.out:
			if err := r.emit(m); err != nil {
				return nil, err
			}
		case in := <-s.inbox:
			if err := r.receive(in, r.finished); err != nil {
				return nil, err
			}
			if err := r.flush(); err != nil {
				return nil, err
			}
		case e := <-r.ends:
			e.keep()
			if err := r.ended(e.role, p); err != nil {
				return nil, err
			}
		}
	}
}

// startParties starts this device's tss-lib parties; their start errors
// (and panics) arrive on the channel returned.
func (r *runner) startParties() chan *tss.Error {
	errCh := make(chan *tss.Error, len(r.parties))
	for _, lp := range r.parties {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					r.s.log.Error("recovered from panic in protocol start", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					errCh <- tss.NewError(errors.New("internal error"), "start", 0, nil)
				}
			}()
			if err := lp.party.Start(); err != nil {
				errCh <- err
			}
		}()
	}
	return errCh
}

// ended marks the parties of a role ended. Once all are, this member is
// finished: it sends its echo (or, in a test-only malicious build, a false
// accusation instead).
func (r *runner) ended(role role, p protocol) error {
	for _, lp := range r.parties {
		if lp.role == role {
			lp.ended = true
		}
	}
	for _, lp := range r.parties {
		if !lp.ended {
			return r.flush()
		}
	}
	r.finished = true
	if accused := p.accuses(); accused != nil {
		// -tags malicious only (malicious_on.go): a false accusation.
		return &Failure{Reason: "protocol error (a false accusation by a test-only malicious build)", Culprits: accused}
	}
	return r.finish()
}

// checkEchoes compares every other member's echo with what this device saw.
func (r *runner) checkEchoes() error {
	for from, echo := range r.echoes {
		if err := r.es.CheckEcho(r.tracker, from, echo); err != nil {
			f := blamed(err)
			f.unchecked = true
			return f
		}
	}
	return nil
}

// stopped is the failure of a session whose context ended: stopped on
// purpose, or its deadline passed while this device waited for echoes or
// for the members tss-lib waits for.
func (r *runner) stopped(ctx context.Context) *Failure {
	var stopped *errStopped
	if errors.As(context.Cause(ctx), &stopped) {
		return &Failure{Reason: stopped.reason}
	}
	if r.finished {
		var missing []string
		for _, id := range r.s.members {
			if _, ok := r.echoes[id]; !ok && id != r.s.self {
				missing = append(missing, id)
			}
		}
		return &Failure{Reason: timeoutReason + " waiting for broadcast echoes", Culprits: missing}
	}
	var waiting []*tss.PartyID
	for _, lp := range r.parties {
		if !lp.ended {
			waiting = append(waiting, lp.party.WaitingFor()...)
		}
	}
	return &Failure{Reason: timeoutReason, Culprits: deviceIDs(waiting)}
}

// finish sends what tss-lib still queued, then this member's echo.
func (r *runner) finish() error {
	if err := r.flush(); err != nil {
		return err
	}
	payload, err := r.tracker.EchoPayload()
	if err != nil {
		return err
	}
	r.s.echoed = true
	return r.seal(envelope.Header{Broadcast: true, Type: envelope.EchoType}, payload)
}

// flush sends every message tss-lib has queued. The last round's outgoing
// message and the result can be ready at the same moment; a member that
// moved on without sending it would leave its peers waiting.
func (r *runner) flush() error {
	for {
		select {
		case m := <-r.out:
			if err := r.emit(m); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}
