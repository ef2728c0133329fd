package party

import (
	"slices"
	"strings"
	"sync"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// liveState is the link's state, for Status.
type liveState struct {
	mu        sync.Mutex
	cur       *partyLink // nil while disconnected
	since     time.Time  // of the current link
	lastErr   string
	lastErrAt time.Time
}

func (s *liveState) up(l *partyLink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.since = l, time.Now()
}

// down records the end of a connection attempt; stopping is true when the
// agent stops (not an error worth showing).
func (s *liveState) down(err error, stopping bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.since = nil, time.Time{}
	if err != nil && !stopping {
		s.lastErr, s.lastErrAt = errText(err), time.Now()
	}
}

func (s *liveState) link() *partyLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Status is what a running agent shows of itself ('party status'). It holds
// no secret: public keys, ids, counts and the coordinator's fingerprints.
type Status struct {
	Device          Config        `json:"device"`
	Connected       bool          `json:"connected"`
	ConnectedSince  time.Time     `json:"connected_since,omitzero"`
	LastError       string        `json:"last_error,omitempty"`
	LastErrorAt     time.Time     `json:"last_error_at,omitzero"`
	Draining        bool          `json:"draining"`
	PreparamsReady  int           `json:"preparams_ready"`
	PreparamsTarget int           `json:"preparams_target"`
	Shares          []ShareStatus `json:"shares"`
	// Roster is the verified roster head (nil: this device pins none).
	Roster   *RosterHead    `json:"roster,omitempty"`
	Sessions []SessionState `json:"sessions"`
	// PendingShares are shares of reshares not committed yet;
	// PendingRestores are restored shares waiting for the operator.
	PendingShares   int `json:"pending_shares"`
	PendingRestores int `json:"pending_restores"`
}

// ShareStatus is what Status shows of a share: no chain code, no party
// key material, only what identifies it.
type ShareStatus struct {
	KeyID     string     `json:"key_id"`
	Curve     string     `json:"curve,omitempty"`
	Epoch     uint64     `json:"epoch"`
	State     ShareState `json:"state"`
	Threshold int        `json:"threshold"`
	PublicKey []byte     `json:"public_key"`
}

// SessionState is one session the device runs.
type SessionState struct {
	Ref     string    `json:"ref"` // the coordinator's handle, shortened
	Kind    string    `json:"kind"`
	KeyID   string    `json:"key_id,omitempty"`
	Started time.Time `json:"started"`
}

// Status reports the agent's state now.
func (a *Agent) Status() (Status, error) {
	shares, err := a.Shares()
	if err != nil {
		return Status{}, err
	}
	st := Status{Device: a.Config(), PreparamsReady: a.pool.Ready(), PreparamsTarget: a.pool.Target(), Shares: []ShareStatus{}, Sessions: []SessionState{}}
	st.Draining, _ = a.work.state()
	if h, ok := a.Roster(); ok {
		st.Roster = &h
	}
	for _, s := range shares {
		st.Shares = append(st.Shares, ShareStatus{KeyID: s.KeyID, Curve: s.Curve, Epoch: s.Epoch, State: s.State, Threshold: s.Threshold, PublicKey: s.PublicKey})
		switch s.State {
		case SharePending:
			st.PendingShares++
		case ShareRestored:
			st.PendingRestores++
		}
	}
	a.live.mu.Lock()
	l := a.live.cur
	st.Connected, st.ConnectedSince = l != nil, a.live.since
	st.LastError, st.LastErrorAt = a.live.lastErr, a.live.lastErrAt
	a.live.mu.Unlock()
	if l != nil {
		l.mu.Lock()
		for _, rs := range l.sessions {
			st.Sessions = append(st.Sessions, SessionState{
				Ref: shortID(rs.s.ref), Kind: kindName(rs.s.start.GetKind()), KeyID: rs.s.start.GetKeyId(), Started: rs.started,
			})
		}
		l.mu.Unlock()
		slices.SortFunc(st.Sessions, func(x, y SessionState) int { return x.Started.Compare(y.Started) })
	}
	return st, nil
}

func kindName(k mpcv1.SessionKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "SESSION_KIND_"))
}
