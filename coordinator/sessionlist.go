package coordinator

import (
	"context"
	"encoding/hex"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// ListSessions lists the sessions running now and the most recent finished
// ones, newest first, with the devices blamed for aborted ones.
func (s *Server) ListSessions(ctx context.Context, req *mpcv1.ListSessionsRequest) (*mpcv1.ListSessionsResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 100
	}
	if limit > 1000 {
		return nil, invalidArg("limit is at most 1000")
	}
	out := &mpcv1.ListSessionsResponse{Sessions: s.sessions.runningInfo()}
	recs, err := s.store.NewestSessions(limit)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		out.Sessions = append(out.Sessions, &mpcv1.SessionInfo{
			Id: r.ID, Kind: r.Kind, KeyId: r.KeyID, Devices: r.Devices,
			StartedAt: timestamppb.New(r.Started), FinishedAt: timestamppb.New(r.Finished),
			Ok: r.OK, Reason: r.Reason, Culprits: r.Culprits, Blame: r.Blame,
		})
	}
	return out, nil
}

// runningInfo describes the sessions running now, newest first.
func (m *sessions) runningInfo() []*mpcv1.SessionInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*mpcv1.SessionInfo
	for _, s := range m.byRef {
		var devs []string
		for _, d := range s.members {
			devs = append(devs, d.Name)
		}
		sort.Strings(devs)
		out = append(out, &mpcv1.SessionInfo{Id: hex.EncodeToString(s.ref), Kind: kindName(s.kind), KeyId: s.keyID,
			Devices: devs, StartedAt: timestamppb.New(s.started), Running: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.AsTime().After(out[j].StartedAt.AsTime()) })
	return out
}

// RecentSessions lists recorded sessions, oldest first.
func (s *Server) RecentSessions() ([]SessionRecord, error) { return s.store.ListSessions() }
